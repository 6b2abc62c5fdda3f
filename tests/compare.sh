#!/bin/sh
# SPDX-License-Identifier: MIT
# C7 comparison suite (Check suite "compare"): every scenario on every compiled-in backend,
# transcripts compared across backends. TLSIO_BACKENDS=a,b narrows the set.
exec "${TLSIO_BUILDDIR:-.}/tests/test-compare" "$@"
