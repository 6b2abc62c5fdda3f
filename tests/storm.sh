#!/bin/sh
# SPDX-License-Identifier: MIT
# Fault storm, short version for make check: TLSIO_STORM_RUNS (default 200) randomized runs on
# every compiled-in backend (tests/test-storm.c says what each run does and checks). The master
# seed is fixed here so that the suite is reproducible; scripts/storm.sh draws a new one.
# A failing run prints the command that replays it alone.
TLSIO_STORM_RUNS=${TLSIO_STORM_RUNS:-200} exec "${TLSIO_BUILDDIR:-.}/tests/test-storm" "$@"
