#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fault storm, bench-sized: scripts/storm.sh [RUNS]   (default 10000 runs per backend)
# Runs tests/test-storm once per compiled-in backend (randomized client/server runs under the
# seeded fault shim: short writes, EAGAIN, EINTR, ECONNRESET, tiny socket buffers, slow readers)
# and prints, per backend: runs, bytes, what was injected, the short writes/EAGAIN/EINTR the
# backend absorbed (tlsio_stats), failures and time. A backend compiled in but unusable here is
# listed as SKIP with its reason. Every failing run is printed with the command that replays it.
# Environment: BUILD_DIR (default ./build; built if needed), TLSIO_STORM_SEED (default: a new
# random master seed, printed), TLSIO_BACKENDS (comma list, default all compiled in),
# TLSIO_STORM_MAXFAIL (failed runs before a backend stops, default 10). Exit 1 on any failure.
set -uo pipefail

case "${1:-}" in
-h | --help)
	sed -n '2,10p' "$0"
	exit 0
	;;
esac
runs=${1:-10000}
case "$runs" in
'' | *[!0-9]*)
	echo "usage: $0 [RUNS]" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")/.."
src=$(pwd)
build=${BUILD_DIR:-$src/build}
seed=${TLSIO_STORM_SEED:-0x$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')}

if [ ! -f "$build/Makefile" ]; then
	echo "== configuring in $build"
	{ [ -x configure ] || ./autogen.sh >/dev/null 2>&1; } || exit 1
	mkdir -p "$build" && (cd "$build" && "$src/configure" --quiet) || exit 1
fi
echo "== building tests/test-storm in $build"
make -C "$build" -j"$(nproc)" tests/test-storm examples/tlsio-echo >/dev/null || exit 1

if [ -n "${TLSIO_BACKENDS:-}" ]; then
	backends=$(echo "$TLSIO_BACKENDS" | tr ',' ' ')
else
	backends=$("$build/examples/tlsio-echo" --list-backends | tr '\n' ' ')
fi
log=$build/storm-$(date +%Y%m%d-%H%M%S).log
echo "== fault storm: $runs runs per backend ($backends), master seed $seed; log: $log"

status=0
summaries=()
skips=()
for b in $backends; do
	echo "== $b"
	TLSIO_TEST_CERTS=$src/tests/certs TLSIO_STORM_SEED=$seed TLSIO_STORM_RUNS=$runs TLSIO_BACKENDS=$b \
		"$build/tests/test-storm" 2>&1 | tee -a "$log" |
		grep -E '^(storm/|STORM|SKIP|FAILURE|  first failure)' | grep -v '^STORM-SUMMARY'
	rc=${PIPESTATUS[0]}
	line=$(grep "^STORM-SUMMARY backend=$b " "$log" | tail -n 1)
	skip=$(grep "^SKIP storm/$b:" "$log" | tail -n 1)
	if [ "$rc" -eq 77 ] || [ -n "$skip" ]; then
		skips+=("${skip:-SKIP storm/$b: (no reason printed)}")
	elif [ -n "$line" ]; then
		summaries+=("$line")
	else
		summaries+=("STORM-SUMMARY backend=$b runs=? failed=crashed(exit-$rc)")
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		status=1
	fi
done

echo
echo "== fault storm summary (master seed $seed, $runs runs per backend)"
printf '%s\n' "${summaries[@]}" | awk '
function f(k,   i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "-" }
function gib(b) { return b == "-" ? "-" : sprintf("%.2f", b / 1073741824) }
BEGIN {
	printf "%-9s %6s %6s %8s %8s %8s %8s | %10s %9s %9s %6s | %10s %9s %9s\n", "backend", "runs", "failed",
		"time s", "max ms", "GiB sent", "reset", "shortened", "EAGAIN", "EINTR", "RST", "short wr", "EAGAIN", "EINTR"
	printf "%-9s %6s %6s %8s %8s %8s %8s | %-38s | %-30s\n", "", "", "", "", "(a run)", "", "runs", "injected (shim / uring hook)", "absorbed (tlsio_stats)"
}
{
	printf "%-9s %6s %6s %8s %8s %8s %8s | %10s %9s %9s %6s | %10s %9s %9s\n", f("backend"), f("runs"),
		f("failed"), f("secs"), f("longest_ms"), gib(f("bytes")), f("reset_runs"), f("shortened"), f("eagain"),
		f("eintr"), f("reset"), f("short_writes"), f("st_eagain"), f("st_eintr")
}'
for s in "${skips[@]}"; do
	echo "$s"
done
if [ "$status" -ne 0 ]; then
	echo "== FAILED: see the STORM FAIL lines above (each with its replay command) and $log"
fi
exit $status
