#!/bin/sh
# SPDX-License-Identifier: MIT
# Contract suite on the blocking backend (Check suite contract/blocking).
TLSIO_BACKENDS=blocking exec "${TLSIO_BUILDDIR:-.}/tests/test-contract" "$@"
