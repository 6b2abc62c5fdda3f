#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# libFuzzer runs of the TLS input path, the connection core and the send queues (tests/fuzz/).
# Needs clang. Targets:
#   fuzz-tls     first flight: server side (ClientHello reader, then wolfSSL), client side (the
#                server's answer to a real ClientHello)
#   fuzz-record  after a completed handshake (TLS 1.2/1.3, each record protection): the peer's
#                records raw, forged (any header, oversized lengths), flipped, cut, replayed,
#                split anywhere; client and server side; checks stream integrity and alerts
#   fuzz-core    the connection core (api/core.c) over an in-memory backend: sends, completions,
#                backpressure, close/shutdown/abort, EOF/errors and tampered peer records in
#                any order, callbacks that re-enter; checks contract C1, C2, C4, C5, C6
#   fuzz-queue   plaintext/ciphertext queue operation sequences against a flat model
#   fuzz-x509    any bytes as a peer certificate: tlsio_cert_info_new() and the identity check
#
#   bash scripts/fuzz.sh [--runs N | --time SECONDS] [--build-only] [TARGET...]
#   bash scripts/fuzz.sh 1000000          (a bare number is --runs)
#
# Default: --runs 1000000 for each target, all targets one after another. Each target keeps its
# corpus in $FUZZ_DIR/corpus/<target>/ (seeded by tests/fuzz/seeds.c) and grows it over runs.
# FUZZ_DIR (default build-fuzz) is the build directory; FUZZ_FLAGS adds libFuzzer flags.
# Per target and in total it prints executions, exec/s, coverage (cov/ft), corpus size and peak
# RSS. A crash, leak, timeout or failed check stops the script (exit 1); the input is written to
# $FUZZ_DIR/crashes/<target>/: minimise it (-minimize_crash=1), fix, and add it to the Check
# suite (tests/test-tls.c, tests/test-queue.c). Fatal TLS errors that wolfSSL ends without any
# alert (contract C5 gaps in wolfSSL, not crashes) are listed as "C5 gap" lines, once per kind.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
out=${FUZZ_DIR:-$src/build-fuzz}
budget=(-runs=1000000)
build_only=0
targets=()
all=(fuzz-tls fuzz-record fuzz-core fuzz-queue fuzz-x509)
while [ $# -gt 0 ]; do
	case $1 in
	--runs) budget=(-runs="$2"); shift 2 ;;
	--time) budget=(-max_total_time="$2"); shift 2 ;;
	--build-only) build_only=1; shift ;;
	-h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	[0-9]*) budget=(-runs="$1"); shift ;;
	fuzz-tls|fuzz-record|fuzz-core|fuzz-queue|fuzz-x509) targets+=("$1"); shift ;;
	*) echo "fuzz.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (apt-get install clang)" >&2; exit 2; }
mkdir -p "$out"
wolf_cflags=$(pkg-config --cflags wolfssl 2>/dev/null || true)
wolf_libs=$(pkg-config --libs wolfssl 2>/dev/null || echo -lwolfssl)
common=(-g -O1 -std=c11 -D_GNU_SOURCE -I"$src/api" -I"$src/tls" -I"$src/backends" -I"$src/tests/fuzz")
san=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
f=$src/tests/fuzz

echo "== building in $out"
# shellcheck disable=SC2086
clang "${common[@]}" $wolf_cflags -o "$out/seeds" "$f/seeds.c" "$src/tls/tls.c" "$src/tls/hello.c" \
	"$src/tls/x509.c" "$src/api/util.c" $wolf_libs -lpthread
for t in "${targets[@]}"; do
	case $t in
	fuzz-tls) srcs=("$f/fuzz-tls.c" "$src/tls/tls.c" "$src/tls/hello.c" "$src/tls/x509.c" "$src/api/util.c") ;;
	# these two compile tls/tls.c (and api/core.c) into themselves, to reach the state under them
	fuzz-record) srcs=("$f/fuzz-record.c" "$src/tls/hello.c" "$src/tls/x509.c" "$src/api/util.c") ;;
	fuzz-core) srcs=("$f/fuzz-core.c" "$src/tls/hello.c" "$src/tls/x509.c" "$src/api/util.c" "$src/api/queue.c" "$src/api/timers.c"
		"$src/backends/registry.c" "$src/backends/blocking.c" "$src/backends/sockio.c" "$src/api/sys.c") ;;
	fuzz-queue) srcs=("$f/fuzz-queue.c" "$src/api/queue.c") ;;
	fuzz-x509) srcs=("$f/fuzz-x509.c" "$src/tls/x509.c" "$src/api/util.c") ;;
	esac
	# shellcheck disable=SC2086
	clang "${common[@]}" "${san[@]}" $wolf_cflags -o "$out/$t" "${srcs[@]}" $wolf_libs -lpthread
done
[ $build_only -eq 0 ] || exit 0

export TLSIO_TEST_CERTS="$src/tests/certs"
# A small quarantine: the TLS targets allocate and free megabytes per input, and a large one
# turns every allocation into fresh pages (half the time in page faults). Use-after-free within
# the last 64 MiB of frees is still caught.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64}

total_execs=0
total_secs=0
status=0
for t in "${targets[@]}"; do
	mkdir -p "$out/crashes/$t" "$out/corpus/$t"
	"$out/seeds" "$t" "$out/corpus/$t"
	case $t in
	fuzz-tls) max_len=20000 ;;
	fuzz-queue) max_len=256 ;; # 85 operations
	fuzz-x509) max_len=4096 ;;
	*) max_len=1024 ;; # programs of a few hundred operations: longer ones only run slower
	esac
	echo "== $t: ${budget[*]}"
	touch "$out/.start-$t"
	start=$(date +%s)
	# shellcheck disable=SC2086
	"$out/$t" "${budget[@]}" -max_len=$max_len -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 \
		-print_final_stats=1 -artifact_prefix="$out/crashes/$t/" ${FUZZ_FLAGS:-} \
		"$out/corpus/$t" 2>"$out/$t.log" || status=$?
	secs=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$t.log" | tail -n 1)
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$out/$t.log" | tail -n 1)
	cov=$(grep -E '^#[0-9]+' "$out/$t.log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' || true)
	printf '%s: %s executions in %s s, %s exec/s, %s, peak RSS %s MB, crashes %s\n' "$t" \
		"${execs:-?}" "$secs" "${rate:-?}" "${cov:-cov ?}" "${rss:-?}" \
		"$(find "$out/crashes/$t" -type f -newer "$out/.start-$t" | wc -l)"
	# wolfSSL failures that sent no alert (contract C5 gaps the adapter cannot close), by kind
	grep '^C5 gap' "$out/$t.log" | sort -u | sed 's/^/  /' || true
	total_execs=$(( total_execs + ${execs:-0} ))
	total_secs=$(( total_secs + secs ))
	if [ $status -ne 0 ]; then
		tail -n 60 "$out/$t.log" >&2
		echo "== $t FAILED (input in $out/crashes/$t/, log $out/$t.log)" >&2
		exit 1
	fi
done
echo "== total: $total_execs executions in $total_secs s, no crash"
