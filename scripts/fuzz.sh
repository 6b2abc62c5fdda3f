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
#   bash scripts/fuzz.sh [--runs N | --time SECONDS] [--wolfssl system|tuned] [--build-only] [TARGET...]
#   bash scripts/fuzz.sh 1000000          (a bare number is --runs)
#
# --wolfssl (or FUZZ_WOLFSSL) picks the wolfSSL the targets link, which decides the code paths
# under them: system (default) is Debian's libwolfssl (pkg-config wolfssl); tuned is the option
# set libtlsio links by default (no OPENSSL_EXTRA, no CBC suites, no post-handshake auth), built
# as a shared library by scripts/build-wolfssl.sh --profile tuned --shared into
# _deps/wolfssl-tuned-shared (reused when up to date; JOBS defaults to 1 there). Shared, because
# the harness (tests/fuzz/fuzz-common.h) overrides wolfSSL's seed and clock through its PLT; the
# static archive of the default build cannot be fuzzed.
#
# Default: --runs 1000000 for each target, all targets one after another. Each target keeps its
# corpus in $FUZZ_DIR/corpus/<target>/ (seeded by tests/fuzz/seeds.c) and grows it over runs.
# FUZZ_DIR (default build-fuzz, build-fuzz-tuned with --wolfssl tuned: corpora and objects of
# the two never mix) is the build directory; FUZZ_FLAGS adds libFuzzer flags.
# Per target and in total it prints executions, exec/s, coverage (cov/ft), corpus size and peak
# RSS. A crash, leak, timeout or failed check stops the script (exit 1); the input is written to
# $FUZZ_DIR/crashes/<target>/: minimise it (-minimize_crash=1), fix, and add it to the Check
# suite (tests/test-tls.c, tests/test-queue.c). Fatal TLS errors that wolfSSL ends without any
# alert (contract C5 gaps in wolfSSL, not crashes) are listed as "C5 gap" lines, once per kind;
# FZ_C5_ABORT=TEXT turns the gap lines containing TEXT into crashes, to keep and minimise an
# input for one: FZ_C5_ABORT='error -375' $FUZZ_DIR/fuzz-record -minimize_crash=1 -runs=20000 FILE
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
wolfssl=${FUZZ_WOLFSSL:-system}
budget=(-runs=1000000)
build_only=0
targets=()
all=(fuzz-tls fuzz-record fuzz-core fuzz-queue fuzz-x509)
while [ $# -gt 0 ]; do
	case $1 in
	--runs) budget=(-runs="$2"); shift 2 ;;
	--time) budget=(-max_total_time="$2"); shift 2 ;;
	--build-only) build_only=1; shift ;;
	--wolfssl)
		[ $# -ge 2 ] || { echo "fuzz.sh: --wolfssl needs a name (system or tuned)" >&2; exit 2; }
		wolfssl=$2; shift 2 ;;
	--wolfssl=*) wolfssl=${1#--wolfssl=}; shift ;;
	-h|--help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	[0-9]*) budget=(-runs="$1"); shift ;;
	fuzz-tls|fuzz-record|fuzz-core|fuzz-queue|fuzz-x509) targets+=("$1"); shift ;;
	*) echo "fuzz.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (apt-get install clang)" >&2; exit 2; }
case $wolfssl in
system)
	out=${FUZZ_DIR:-$src/build-fuzz}
	wolf_cflags=$(pkg-config --cflags wolfssl 2>/dev/null || true)
	wolf_libs=$(pkg-config --libs wolfssl 2>/dev/null || echo -lwolfssl)
	wolf_desc="system (Debian's libwolfssl)"
	;;
tuned)
	out=${FUZZ_DIR:-$src/build-fuzz-tuned}
	wolf_prefix=$src/_deps/wolfssl-tuned-shared
	JOBS=${JOBS:-1} sh "$src/scripts/build-wolfssl.sh" --profile tuned --shared "$wolf_prefix" ||
		{ echo "fuzz.sh: --wolfssl tuned: scripts/build-wolfssl.sh --profile tuned --shared failed" >&2; exit 2; }
	[ -f "$wolf_prefix/lib/libwolfssl.so" ] ||
		{ echo "fuzz.sh: --wolfssl tuned: no $wolf_prefix/lib/libwolfssl.so after build-wolfssl.sh" >&2; exit 2; }
	# -rpath: the targets load this libwolfssl, never the system's of the same soname
	wolf_cflags="-I$wolf_prefix/include"
	wolf_libs="-L$wolf_prefix/lib -Wl,-rpath,$wolf_prefix/lib -lwolfssl"
	wolf_desc="tuned ($wolf_prefix, $(cat "$wolf_prefix/PROFILE"))"
	;;
*)
	echo "fuzz.sh: unknown wolfSSL '$wolfssl' for --wolfssl/FUZZ_WOLFSSL (system or tuned)" >&2
	exit 2
	;;
esac
mkdir -p "$out"
common=(-g -O1 -std=c11 -D_GNU_SOURCE -I"$src/api" -I"$src/tls" -I"$src/backends" -I"$src/tests/fuzz")
# what configure's config.h gives tls/tls.c (tlsio_crypto_info()); the targets have no config.h
common+=(-DTLSIO_WOLFSSL_BUILD="\"$wolf_desc, fuzz build\"")
san=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
f=$src/tests/fuzz

echo "== building in $out, wolfSSL: $wolf_desc"
# shellcheck disable=SC2086
clang "${common[@]}" $wolf_cflags -o "$out/seeds" "$f/seeds.c" "$src/tls/tls.c" "$src/tls/wolfint.c" "$src/tls/hello.c" \
	"$src/tls/x509.c" "$src/api/util.c" $wolf_libs -lpthread
for t in "${targets[@]}"; do
	case $t in
	fuzz-tls) srcs=("$f/fuzz-tls.c" "$src/tls/tls.c" "$src/tls/wolfint.c" "$src/tls/hello.c" "$src/tls/x509.c" "$src/api/util.c") ;;
	# these two compile tls/tls.c (and api/core.c) into themselves, to reach the state under them
	fuzz-record) srcs=("$f/fuzz-record.c" "$src/tls/wolfint.c" "$src/tls/hello.c" "$src/tls/x509.c" "$src/api/util.c") ;;
	fuzz-core) srcs=("$f/fuzz-core.c" "$src/tls/wolfint.c" "$src/tls/hello.c" "$src/tls/x509.c" "$src/api/util.c" "$src/api/queue.c" "$src/api/timers.c"
		"$src/api/addr.c" "$src/api/listen.c" "$src/api/connect.c" "$src/api/resolve.c"
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
	start_ms=$(( $(date +%s%N) / 1000000 ))
	# shellcheck disable=SC2086
	"$out/$t" "${budget[@]}" -max_len=$max_len -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 \
		-print_final_stats=1 -artifact_prefix="$out/crashes/$t/" ${FUZZ_FLAGS:-} \
		"$out/corpus/$t" 2>"$out/$t.log" || status=$?
	secs=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$t.log" | tail -n 1)
	# libFuzzer divides by whole seconds: a run shorter than one says 0 exec/s
	ms=$(( $(date +%s%N) / 1000000 - start_ms ))
	[ "${rate:-0}" != 0 ] || [ "${execs:-0}" = 0 ] || rate=$(( execs * 1000 / (ms > 0 ? ms : 1) ))
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
