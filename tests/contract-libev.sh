#!/bin/sh
# SPDX-License-Identifier: MIT
# Contract suite on the libev backend (Check suite contract/libev).
TLSIO_BACKENDS=libev exec "${TLSIO_BUILDDIR:-.}/tests/test-contract" "$@"
