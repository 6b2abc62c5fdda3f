#!/bin/sh
# SPDX-License-Identifier: MIT
# Contract suite on the libuv backend (Check suites contract/libuv and contract/libuv-app).
TLSIO_BACKENDS=libuv exec "${TLSIO_BUILDDIR:-.}/tests/test-contract" "$@"
