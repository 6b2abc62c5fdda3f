#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/resume.sh: full and resumed TLS handshakes per second, libtlsio beside nginx, in one
# sitting, written to BENCHMARKS-sessions.md.
#
# Servers: tlsio-https (the default tuned wolfSSL, a static build in build-bench like
# bench/run.sh's) on each backend of $BACKENDS, and nginx (Debian's nginx-light, 1 worker)
# with session tickets and its shared session cache on, TLS 1.2 and 1.3 (bench/nginx.conf.in,
# with those three lines changed). Same certificate (tests/certs/server.pem, EC P-256), same
# 128-byte body. The server is pinned to CPU 0, the client to CPU 1.
#
# Clients, each for $SECS s (OpenSSL's) or $GETN connections (libtlsio's), median of $RUNS:
#   openssl s_time -new     every connection a full handshake, then GET /small
#   openssl s_time -reuse   every connection resumes the first one's session (TLS 1.3: a
#                           ticket; TLS 1.2: a ticket too, as both servers issue them); the
#                           share of connections s_time marks reused is reported beside
#   tlsio-get --repeat N --new-connection [--no-resume]: the library's own client, one
#                           connection after another with one configuration (its session
#                           cache), the counts of resumed handshakes from its own report
# Connections per second are counted over each client's wall time.
#
# Usage: bash bench/resume.sh   (root, or nginx-light and openssl installed)
# Environment: RUNS=3 SECS=5 GETN=2000 BACKENDS="uring epoll" VERSIONS="1.3 1.2"
#   OUT=BENCHMARKS-sessions.md QUICK=1 (one short run of each, to try the script)
set -u
LC_ALL=C
export LC_ALL

top=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
	sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
fi
RUNS=${RUNS:-3} SECS=${SECS:-5} GETN=${GETN:-2000}
BACKENDS=${BACKENDS:-uring epoll} VERSIONS=${VERSIONS:-1.3 1.2}
OUT=${OUT:-$top/BENCHMARKS-sessions.md}
[ "${QUICK:-0}" = 1 ] && RUNS=1 SECS=1 GETN=200
PORT=${PORT:-18643}
SRV_CPU=0 CLI_CPU=1
[ "$(nproc)" -ge 2 ] || CLI_CPU=0

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

need=
for t in nginx:nginx-light openssl:openssl taskset:util-linux; do
	command -v "${t%%:*}" >/dev/null 2>&1 || need="$need ${t#*:}"
done
if [ -n "$need" ]; then
	[ "$(id -u)" = 0 ] || die "not root: apt-get install$need"
	log "installing:$need"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null || die "apt-get failed"
fi

log "the tuned wolfSSL (scripts/build-wolfssl.sh: reused when built)"
mkdir -p "$top/_deps"
"$top/scripts/build-wolfssl.sh" >"$top/_deps/build-wolfssl.log" 2>&1 ||
	{ tail -n 30 "$top/_deps/build-wolfssl.log" >&2; die "build-wolfssl.sh failed"; }
d=$top/build-bench
[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi >/dev/null 2>&1) || die "autoreconf failed"
mkdir -p "$d"
log "building libtlsio (static, -O2) in $d"
(cd "$d" && { [ -f Makefile ] || ../configure -q --disable-shared CFLAGS="-O2 -g" >configure.out 2>&1; } &&
	make -j"$(nproc)" examples/tlsio-https examples/tlsio-get >make.out 2>&1) ||
	die "build failed in $d (see configure.out, make.out)"

tmp=$(mktemp -d /tmp/tlsio-resume.XXXXXX) || exit 1
sstop=
cleanup() {
	[ -n "$sstop" ] && kill "$sstop" 2>/dev/null && wait "$sstop" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/www" "$tmp/tmp"
chmod 755 "$tmp"
head -c 128 /dev/zero | tr '\0' 'x' >"$tmp/www/small"
cert=$top/tests/certs/server.pem key=$top/tests/certs/server.key ca=$top/tests/certs/ca.pem
res=$tmp/results
: >"$res"
put() { echo "$1 $2" >>"$res"; }
get() { awk -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? "-" : v) }' "$res"; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
now() { date +%s.%N; }

start_tlsio() { # BACKEND
	: >"$tmp/srv.out"
	taskset -c $SRV_CPU "$d/examples/tlsio-https" --backend "$1" --cert "$cert" --key "$key" \
		--listen "127.0.0.1:$PORT" --body-size 128 >"$tmp/srv.out" 2>"$tmp/srv.err" &
	sstop=$!
	for _ in $(seq 100); do grep -q '^listening on' "$tmp/srv.out" && return 0; sleep 0.05; done
	cat "$tmp/srv.err" >&2
	return 1
}
start_nginx() {
	sed -e "s|@DIR@|$tmp|g" -e "s|@PORT@|$PORT|g" -e "s|@CERT@|$cert|g" -e "s|@KEY@|$key|g" \
		-e 's|ssl_protocols TLSv1.3;|ssl_protocols TLSv1.2 TLSv1.3;|' \
		-e 's|ssl_session_cache off;|ssl_session_cache shared:SSL:10m;|' \
		-e 's|ssl_session_tickets off;|ssl_session_tickets on;|' \
		"$top/bench/nginx.conf.in" >"$tmp/nginx.conf"
	grep -q 'ssl_session_tickets on;' "$tmp/nginx.conf" || die "bench/nginx.conf.in changed: no ssl_session_tickets line to turn on"
	taskset -c $SRV_CPU nginx -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/nginx-error.log" 2>>"$tmp/nginx-error.log" &
	sstop=$!
	for _ in $(seq 100); do
		openssl s_client -connect "127.0.0.1:$PORT" </dev/null >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	cat "$tmp/nginx-error.log" >&2
	return 1
}
stop_server() { kill -TERM "$sstop" 2>/dev/null; wait "$sstop" 2>/dev/null; sstop=; }

# s_time MODE VERSION: "connections/s reused%" of one run
s_time() {
	local t0 t1
	t0=$(now)
	taskset -c $CLI_CPU openssl s_time -connect "127.0.0.1:$PORT" -www /small "-$1" -time "$SECS" \
		"-tls1_${2#1.}" >"$tmp/st.out" 2>&1
	t1=$(now)
	awk -v w="$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')" -v mode="$1" '
		/connections in [0-9.]+s;/ { n = $1 }
		/^[r*]+$/ { r += gsub(/r/, "r") }
		END { if (n == "") exit 1; printf "%.0f %.0f\n", n / w, mode == "reuse" ? 100 * r / n : 0 }' "$tmp/st.out"
}
# get_run VERSION [--no-resume]: "connections/s resumed" of one tlsio-get run
get_run() {
	local t0 t1
	t0=$(now)
	taskset -c $CLI_CPU "$d/examples/tlsio-get" --backend epoll --connect "127.0.0.1:$PORT" --ca "$ca" \
		--server-name localhost --path /small --repeat "$GETN" --new-connection --tls-max "$1" \
		--json "${@:2}" >"$tmp/get.out" 2>"$tmp/get.err" || { cat "$tmp/get.err" >&2; return 1; }
	t1=$(now)
	python3 -c '
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print("%.0f %d" % (int(sys.argv[2]) / float(sys.argv[3]), j["resumed"]))' "$tmp/get.out" "$GETN" \
		"$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')"
}

bench_server() { # KEY START_FN [ARGS]
	local k=$1 v mode r
	shift
	"$@" || { log "$k: did not start"; return; }
	for v in $VERSIONS; do
		for mode in new reuse; do
			: >"$tmp/runs"
			for r in $(seq "$RUNS"); do
				s_time "$mode" "$v" >>"$tmp/runs" || log "$k: s_time -$mode TLS $v failed: $(tail -n 3 "$tmp/st.out")"
			done
			put "$k.$v.st_$mode" "$(awk '{ print $1 }' "$tmp/runs" | median)"
			put "$k.$v.st_${mode}_pct" "$(awk '{ print $2 }' "$tmp/runs" | median)"
			log "$k TLS $v s_time -$mode: $(get "$k.$v.st_$mode")/s ($(get "$k.$v.st_${mode}_pct")% reused)"
		done
		for mode in full resumed; do
			: >"$tmp/runs"
			for r in $(seq "$RUNS"); do
				if [ $mode = full ]; then get_run "$v" --no-resume; else get_run "$v"; fi >>"$tmp/runs" ||
					log "$k: tlsio-get $mode TLS $v failed"
			done
			put "$k.$v.get_$mode" "$(awk '{ print $1 }' "$tmp/runs" | median)"
			put "$k.$v.get_${mode}_n" "$(awk '{ print $2 }' "$tmp/runs" | median)"
			log "$k TLS $v tlsio-get $mode: $(get "$k.$v.get_$mode")/s ($(get "$k.$v.get_${mode}_n") of $GETN resumed)"
		done
	done
	stop_server
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
t_start=$(date +%s)
bench_server nginx start_nginx
for be in $BACKENDS; do
	bench_server "tlsio.$be" start_tlsio "$be"
done

{
	echo "# Sessions: full and resumed handshakes"
	echo
	echo "Generated by \`bash bench/resume.sh\` (one sitting, $((($(date +%s) - t_start) / 60)) min, started $started)."
	echo "Medians of $RUNS runs; server on CPU 0, client on CPU 1; 128-byte body per connection."
	echo "openssl s_time runs $SECS s per run; tlsio-get makes $GETN connections one after another."
	echo "nginx: $(nginx -v 2>&1 | sed 's/nginx version: //'), 1 worker, session tickets and shared cache on;"
	echo "tlsio-https: tuned wolfSSL, session tickets (its default); OpenSSL: $(openssl version | cut -d' ' -f1-2)."
	echo
	echo "Connections per second (each with one GET /small); \"reused\" = share of s_time's connections"
	echo "it marked resumed, \"resumed\" = tlsio-get's own count (tlsio_conn_resumed) of $GETN."
	echo
	echo "| server | TLS | s_time full/s | s_time resumed/s (reused) | resumed/full | tlsio-get full/s | tlsio-get resumed/s (resumed) | resumed/full |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for k in nginx $(for be in $BACKENDS; do echo "tlsio.$be"; done); do
		for v in $VERSIONS; do
			echo "| ${k/tlsio./tlsio-https } | $v | $(get "$k.$v.st_new") | $(get "$k.$v.st_reuse") ($(get "$k.$v.st_reuse_pct")%) | $(ratio "$(get "$k.$v.st_reuse")" "$(get "$k.$v.st_new")") | $(get "$k.$v.get_full") | $(get "$k.$v.get_resumed") ($(get "$k.$v.get_resumed_n")) | $(ratio "$(get "$k.$v.get_resumed")" "$(get "$k.$v.get_full")") |"
		done
	done
	echo
	echo "Against nginx (same sitting, same client):"
	echo
	echo "| server | TLS | s_time full / nginx | s_time resumed / nginx | tlsio-get full / nginx | tlsio-get resumed / nginx |"
	echo "|---|---|---:|---:|---:|---:|"
	for be in $BACKENDS; do
		for v in $VERSIONS; do
			k=tlsio.$be
			echo "| tlsio-https $be | $v | $(ratio "$(get "$k.$v.st_new")" "$(get "nginx.$v.st_new")") | $(ratio "$(get "$k.$v.st_reuse")" "$(get "nginx.$v.st_reuse")") | $(ratio "$(get "$k.$v.get_full")" "$(get "nginx.$v.get_full")") | $(ratio "$(get "$k.$v.get_resumed")" "$(get "nginx.$v.get_resumed")") |"
		done
	done
} >"$OUT"
log "wrote $OUT"
cat "$OUT"
