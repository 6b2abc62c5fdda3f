#!/usr/bin/env bash
# libFuzzer runs of the TLS input path and the send queues (tests/fuzz/). Needs clang.
#   bash scripts/fuzz.sh [RUNS]     RUNS executions per target (default 1000000)
# Crashes are written to build-fuzz/crashes/<target>/; turn each into a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
out=${FUZZ_DIR:-$src/build-fuzz}
runs=${1:-1000000}
command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (apt-get install clang)" >&2; exit 2; }
mkdir -p "$out"
wolf_cflags=$(pkg-config --cflags wolfssl 2>/dev/null || true)
wolf_libs=$(pkg-config --libs wolfssl 2>/dev/null || echo -lwolfssl)
common=(-g -O1 -std=c11 -D_GNU_SOURCE -I"$src/api" -I"$src/tls" -I"$src/backends")
san=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
lib=("$src/tls/tls.c" "$src/tls/hello.c" "$src/api/util.c")

echo "== building"
# shellcheck disable=SC2086
clang "${common[@]}" $wolf_cflags -o "$out/seeds" "$src/tests/fuzz/seeds.c" "${lib[@]}" $wolf_libs -lpthread
# shellcheck disable=SC2086
clang "${common[@]}" "${san[@]}" $wolf_cflags -o "$out/fuzz-tls" "$src/tests/fuzz/fuzz-tls.c" "${lib[@]}" \
	$wolf_libs -lpthread
clang "${common[@]}" "${san[@]}" -o "$out/fuzz-queue" "$src/tests/fuzz/fuzz-queue.c" "$src/api/queue.c"

export TLSIO_TEST_CERTS="$src/tests/certs"
mkdir -p "$out/corpus/fuzz-tls" "$out/corpus/fuzz-queue"
"$out/seeds" "$out/corpus/fuzz-tls"
printf '\000\001\000\004\002\000\002\010\000\005\000\100\006\000\040' >"$out/corpus/fuzz-queue/seed-mixed"

status=0
for t in fuzz-tls fuzz-queue; do
	mkdir -p "$out/crashes/$t"
	echo "== $t: $runs runs"
	"$out/$t" -runs="$runs" -max_len=20000 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/crashes/$t/" "$out/corpus/$t" 2>"$out/$t.log" || status=$?
	grep -E 'stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs' "$out/$t.log" || true
	if [ $status -ne 0 ]; then
		tail -n 40 "$out/$t.log" >&2
		echo "== $t FAILED (crash inputs in $out/crashes/$t/)" >&2
		exit $status
	fi
done
echo "== no crash"
