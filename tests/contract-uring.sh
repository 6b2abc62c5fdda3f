#!/bin/sh
# SPDX-License-Identifier: MIT
# Contract suite on the uring backend (Check suite contract/uring).
TLSIO_BACKENDS=uring exec "${TLSIO_BUILDDIR:-.}/tests/test-contract" "$@"
