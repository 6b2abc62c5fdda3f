#!/bin/sh
# SPDX-License-Identifier: MIT
# Contract suite on the epoll backend (Check suite contract/epoll).
TLSIO_BACKENDS=epoll exec "${TLSIO_BUILDDIR:-.}/tests/test-contract" "$@"
