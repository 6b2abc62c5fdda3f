#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/memory.sh: the server's memory per idle TLS connection, for tlsio-https on each backend
# and for nginx, with N connections held by bench/hold-conns (libtlsio's client, epoll).
#
# For each server and N: start the server (pinned to CPU 0; hold-conns and curl on CPU 1), read
# its memory at baseline (after one warm-up GET /stats, no connection held), after N handshakes
# ("handshake"), after one POST of $EXCHANGE bytes answered by $BODY bytes on every connection
# plus $SETTLE s idle ("exchange"), and once every connection is closed again ("closed").
# Per connection = (value - baseline) / N, for VmRSS, the heap (malloc's bytes in use plus its
# mmapped blocks, from GET /stats), wolfSSL's heap (tls_heap_in_use, --count-tls-heap), and
# libtlsio's share (heap - wolfSSL's; it includes tlsio-https's 112-byte connection record).
# Also the server's open fds and threads. Prints a markdown table, then the raw numbers.
# nginx (Debian's nginx-light, 1 worker, the worker measured) at $NGINX_COUNT: RSS only; a
# POST on the static body is answered through `error_page 405 =200 $uri`.
#
# Usage: bash bench/memory.sh TLSIO_HTTPS HOLD_CONNS      (as root: it raises limits)
#   TLSIO_HTTPS  a tlsio-https binary, not a libtool wrapper (configure --disable-shared)
#   HOLD_CONNS   bench/hold-conns of a build (make builds it), e.g.
#                mkdir build-bench && cd build-bench && ../configure --disable-shared &&
#                make examples/tlsio-https bench/hold-conns && cd .. &&
#                bash bench/memory.sh build-bench/examples/tlsio-https build-bench/bench/hold-conns
# Environment: COUNTS="10000 100000"  BACKENDS="uring epoll libev libuv blocking" (empty: none)  NGINX=1
#   NGINX_COUNT=10000  BLOCKING_MAX=10000  EXCHANGE=1M  BODY=1M  PARALLEL=200  SETTLE=3
#   PORT=18443  QUICK=1 (COUNTS=300 NGINX_COUNT=300, to try the script)
#   TRIM=1: after the exchange and after the close, call malloc_trim(0) in the server (gdb)
#   and measure again ("exchange+trim", "closed+trim"): RSS that goes away was free memory
#   glibc held in its arena, what stays is live; the phases after a trim start trimmed
# The blocking backend polls every socket on each loop iteration (one poll() over all of them,
# O(N) per pass): it runs only at N <= BLOCKING_MAX; larger N are skipped with that reason.
# Exit status: 0 if every measurement was made, 1 if any step failed, 2 on bad usage.
set -u
LC_ALL=C
export LC_ALL

top=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -ne 2 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	sed -n '3,31p' "$0" | sed 's/^# \{0,1\}//'
	[ $# -eq 1 ] && { [ "$1" = -h ] || [ "$1" = --help ]; } && exit 0
	exit 2
fi
https=$(realpath "$1") hold=$(realpath "$2")
COUNTS=${COUNTS-10000 100000} BACKENDS=${BACKENDS-uring epoll libev libuv blocking}
NGINX=${NGINX:-1} NGINX_COUNT=${NGINX_COUNT:-10000} BLOCKING_MAX=${BLOCKING_MAX:-10000}
EXCHANGE=${EXCHANGE:-1M} BODY=${BODY:-1M} PARALLEL=${PARALLEL:-200} SETTLE=${SETTLE:-3}
PORT=${PORT:-18443} TRIM=${TRIM:-0}
if [ "${QUICK:-0}" = 1 ]; then
	COUNTS=300 NGINX_COUNT=300
fi
SRV_CPU=0 CLI_CPU=1
[ "$(nproc)" -ge 2 ] || CLI_CPU=0
cert=$top/tests/certs/server.pem key=$top/tests/certs/server.key ca=$top/tests/certs/ca.pem

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
failed=0
step_failed() { log "FAILED: $*"; failed=1; }

[ -x "$https" ] || die "$https: not an executable"
[ -x "$hold" ] || die "$hold: not an executable"
head -c 64 "$https" | grep -q '^#!' &&
	die "$https is a libtool wrapper script: measure the real binary (configure --disable-shared)"
for t in curl taskset awk; do command -v $t >/dev/null || die "$t is missing"; done
[ "$TRIM" = 1 ] && ! command -v gdb >/dev/null && die "TRIM=1 needs gdb"
if [ "$NGINX" = 1 ] && ! command -v nginx >/dev/null; then
	die "nginx is missing: apt-get install nginx-light (or NGINX=0)"
fi
bytes() { # 1M -> 1048576
	awk -v s="$1" 'BEGIN { m = 1; if (s ~ /[Kk]$/) m = 1024; else if (s ~ /[Mm]$/) m = 1048576;
		else if (s ~ /[Gg]$/) m = 1073741824; sub(/[KkMmGg]$/, "", s)
		if (s !~ /^[0-9]+$/) exit 1; printf "%d\n", s * m }'
}
body_bytes=$(bytes "$BODY") || die "BODY must look like 1M, 65536"
bytes "$EXCHANGE" >/dev/null || die "EXCHANGE must look like 1M, 65536"

# ---------------------------------------------------------------------------------------------
# limits: every held connection is an fd in the server and one in hold-conns (two processes,
# each with its own limit: N plus a few each; 2N+1000 is asked for, to have room)

max_n=$NGINX_COUNT
for n in $COUNTS; do [ "$n" -gt "$max_n" ] && max_n=$n; done
want=$((2 * max_n + 1000))
limit_why=
if [ "$(ulimit -n)" -lt "$want" ]; then
	if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
		if [ "$(id -u)" != 0 ]; then
			limit_why="not root"
		elif [ "$(cat /proc/sys/fs/nr_open)" -lt "$want" ]; then
			limit_why="fs.nr_open is $(cat /proc/sys/fs/nr_open)"
		elif ! ulimit -Hn "$want" 2>/dev/null; then
			# setrlimit above the hard limit needs CAP_SYS_RESOURCE (in the initial user
			# namespace): a container may drop it even for root
			limit_why="raising the hard limit was refused (EPERM: no CAP_SYS_RESOURCE?)"
		fi
	fi
	ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
fd_limit=$(ulimit -n)
[ "$fd_limit" = unlimited ] && fd_limit=$want
# the largest N one process can hold: its N sockets plus a few dozen of its own
n_fits() { [ $(($1 + 500)) -le "$fd_limit" ]; }
[ -n "$limit_why" ] && log "fd limit stays at $fd_limit ($limit_why): N above $((fd_limit - 500)) is skipped"
# Ports: hold-conns binds 127.0.0.1..K with the port picked per 4-tuple, at most 20,000 per
# address; a wider range leaves room for the TIME_WAIT sockets of the run before.
range_saved=$(cat /proc/sys/net/ipv4/ip_local_port_range)
range_set=0
if [ "$(id -u)" = 0 ] && [ "$(echo "$range_saved" | awk '{ print $2 - $1 }')" -lt 50000 ]; then
	echo "10000 65535" >/proc/sys/net/ipv4/ip_local_port_range && range_set=1
fi
log "fd limit $(ulimit -n); ports $(cat /proc/sys/net/ipv4/ip_local_port_range | tr '\t' ' ');" \
	"somaxconn $(cat /proc/sys/net/core/somaxconn)"
[ "$(cat /proc/sys/net/core/somaxconn)" -ge "$PARALLEL" ] ||
	log "warning: net.core.somaxconn is below PARALLEL=$PARALLEL: SYNs may be dropped"

tmp=$(mktemp -d /tmp/tlsio-memory.XXXXXX) || exit 1
chmod 755 "$tmp" # nginx's worker runs as nobody and reads the body from here
pids='' holder='' spid='' sstop=''
cleanup() {
	exec 9>&- 2>/dev/null
	for p in $holder $pids; do kill "$p" 2>/dev/null; done
	for p in $holder $pids; do wait "$p" 2>/dev/null; done
	[ "$range_set" = 1 ] && echo "$range_saved" >/proc/sys/net/ipv4/ip_local_port_range
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

raw=$tmp/raw   # "key=value ..." per measurement
rows=$tmp/rows # table rows
: >"$raw"
: >"$rows"

# ---------------------------------------------------------------------------------------------
# servers

start_tlsio() { # BACKEND
	: >"$tmp/srv.out"
	taskset -c $SRV_CPU "$https" --backend "$1" --listen "127.0.0.1:$PORT" --cert "$cert" \
		--key "$key" --count-tls-heap --body-size "$BODY" --idle-timeout 0 \
		--handshake-timeout 0 >"$tmp/srv.out" 2>"$tmp/srv.err" &
	sstop=$!
	pids="$pids $sstop"
	for _ in $(seq 200); do grep -q '^listening on' "$tmp/srv.out" && break; sleep 0.05; done
	grep -q '^listening on' "$tmp/srv.out" || { cat "$tmp/srv.err" >&2; return 1; }
	[ -s "$tmp/crypto" ] || sed -n 's/^tlsio-https: crypto: //p' "$tmp/srv.err" >"$tmp/crypto"
	spid=$sstop
}
start_nginx() { # N
	mkdir -p "$tmp/www" "$tmp/tmp"
	head -c "$body_bytes" /dev/zero | tr '\0' 'a' >"$tmp/www/body"
	chmod 644 "$tmp/www/body"
	# bench/run.sh's nginx, with room for N connections, no timeout that would end an idle
	# connection during the run, and a POST answered with the body like a GET. nginx closes
	# idle keep-alive connections once fewer than 1/16 of worker_connections are free
	# ("worker_connections are not enough, reusing connections"): hence N * 5/4. More than
	# the fd limit is fine, the N connections stay below it.
	sed -e "s|@DIR@|$tmp|g" -e "s|@PORT@|$PORT|g" -e "s|@CERT@|$cert|g" -e "s|@KEY@|$key|g" \
		-e "s|worker_rlimit_nofile .*;|worker_rlimit_nofile $fd_limit;|" \
		-e "s|worker_connections .*;|worker_connections $(($1 * 5 / 4 + 1000));|" \
		-e "s|keepalive_timeout .*;|keepalive_timeout 3600s; client_header_timeout 3600s; client_body_timeout 3600s; client_max_body_size 0;|" \
		-e "s|try_files \$uri /small;|try_files \$uri /body; error_page 405 =200 \$uri;|" \
		"$top/bench/nginx.conf.in" >"$tmp/nginx.conf"
	grep -q 'error_page 405' "$tmp/nginx.conf" || { log "bench/nginx.conf.in changed: no location to patch"; return 1; }
	: >"$tmp/nginx-error.log"
	taskset -c $SRV_CPU nginx -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/nginx-error.log" \
		2>>"$tmp/nginx-error.log" &
	sstop=$!
	pids="$pids $sstop"
	spid=
	for _ in $(seq 200); do
		spid=$(pgrep -P "$sstop" | head -n1)
		[ -n "$spid" ] && curl -skf -o /dev/null "https://127.0.0.1:$PORT/body" && break
		sleep 0.05
	done
	[ -n "$spid" ] || { cat "$tmp/nginx-error.log" >&2; return 1; }
}
stop_server() {
	[ -n "$sstop" ] || return 0
	kill -TERM "$sstop" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$sstop" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$sstop" 2>/dev/null
	wait "$sstop" 2>/dev/null
	pids=$(echo "$pids" | tr ' ' '\n' | grep -vx "$sstop" | tr '\n' ' ')
	spid='' sstop=''
}

# ---------------------------------------------------------------------------------------------
# measurements

# measure KEY: one line of the server's numbers into $raw; tlsio-https's /stats too
measure() {
	local k=$1 st=/proc/$spid/status line
	[ -r "$st" ] || { step_failed "$k: the server is gone"; return 1; }
	line="$k rss=$(awk '/^VmRSS/ { print $2 * 1024 }' "$st")"
	line="$line rss_anon=$(awk '/^RssAnon/ { print $2 * 1024 }' "$st")"
	# the brk heap's resident size: what malloc's main arena holds, in use or free
	line="$line heap_rss=$(awk '/ \[heap\]$/ { h = 1; next } /^[0-9a-f]+-[0-9a-f]+ / { h = 0 }
		h && /^Rss:/ { s += $2 } END { print s * 1024 }' "/proc/$spid/smaps")"
	line="$line fds=$(ls "/proc/$spid/fd" | wc -l) threads=$(awk '/^Threads/ { print $2 }' "$st")"
	if [ "${k%% *}" != nginx ]; then
		taskset -c $CLI_CPU curl -sk --max-time 60 "https://127.0.0.1:$PORT/stats" >"$tmp/stats" ||
			{ step_failed "$k: GET /stats failed"; return 1; }
		line="$line $(awk '{ v[$1] = $2 } END { printf "heap_in_use=%d heap_mmapped=%d tls_heap=%d conn_state=%d open=%d", v["heap_in_use"], v["heap_mmapped"], v["tls_heap_in_use"], v["conn_state_bytes"], v["connections_open"] }' "$tmp/stats")"
	fi
	echo "$line" >>"$raw"
}
val() { # KEY FIELD: from the last line of $raw whose key is KEY
	awk -v k="$1" -v f="$2" '{ key = $1 " " $2 " " $3 } key == k {
		for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) v = kv[2] } } END { print v }' "$raw"
}
row() { # SERVER N PHASE: table row against SERVER N baseline
	local s=$1 n=$2 p=$3 b="$1 $2 baseline" m="$1 $2 $3"
	awk -v n="$n" -v s="$s" -v p="$p" \
		-v r0="$(val "$b" rss)" -v r1="$(val "$m" rss)" \
		-v h0="$(val "$b" heap_in_use)" -v h1="$(val "$m" heap_in_use)" \
		-v m0="$(val "$b" heap_mmapped)" -v m1="$(val "$m" heap_mmapped)" \
		-v t0="$(val "$b" tls_heap)" -v t1="$(val "$m" tls_heap)" -v fds="$(val "$m" fds)" '
		function per(a, b) { return (a == "" || b == "") ? "-" : sprintf("%.0f", (b - a) / n) }
		BEGIN {
			heap = (h0 == "") ? "-" : per(h0 + m0, h1 + m1)
			tls = (t0 == "" || t0 < 0) ? "-" : per(t0, t1)
			own = (heap == "-" || tls == "-") ? "-" : sprintf("%.0f", ((h1 + m1 - t1) - (h0 + m0 - t0)) / n)
			printf "| %s | %d | %s | %s | %s | %s | %s | %s |\n", s, n, p, per(r0, r1), heap, tls, own, fds
		}' >>"$rows"
}

# TRIM=1: after a phase, malloc_trim(0) inside the server (gdb), and measure again: what the
# RSS loses is free memory glibc kept in its arenas, what stays is live (or not heap at all)
trim_probe() { # SERVER N PHASE
	[ "$TRIM" = 1 ] || return 0
	gdb -q -p "$spid" -batch -ex 'call (int)malloc_trim(0)' >"$tmp/gdb.out" 2>&1 ||
		{ step_failed "$1 N=$2: gdb malloc_trim: $(tail -n 1 "$tmp/gdb.out")"; return 1; }
	measure "$1 $2 $3+trim"
	row "$1" "$2" "$3+trim"
}

# wait_for FILE REGEX SECONDS: until a line of FILE matches, the holder exits, or time is up
wait_for() {
	local end=$(($(date +%s) + $3))
	while [ "$(date +%s)" -lt "$end" ]; do
		grep -Eq "$2" "$1" && return 0
		kill -0 "$holder" 2>/dev/null || { grep -Eq "$2" "$1"; return; }
		sleep 0.2
	done
	return 1
}

# run_one SERVER N: the phases against the server already started ($spid)
run_one() {
	local s=$1 n=$2 rc hs_timeout=$((120 + $2 / 100)) x_timeout=$((120 + $2 / 20))
	local args=(--connect "127.0.0.1:$PORT" --count "$n" --parallel "$PARALLEL"
		--ca "$ca" --server-name localhost --exchange "$EXCHANGE" --expect-body "$body_bytes")
	# warm-up: one request, so that one-time allocations (wolfSSL's tables, the first
	# handshake's caches) are in the baseline, not spread over the connections
	taskset -c $CLI_CPU curl -sk --max-time 30 -o /dev/null "https://127.0.0.1:$PORT/stats"
	sleep 0.5
	measure "$s $n baseline" || return 1
	rm -f "$tmp/hold.in"
	mkfifo "$tmp/hold.in"
	taskset -c $CLI_CPU "$hold" "${args[@]}" <"$tmp/hold.in" >"$tmp/hold.out" 2>"$tmp/hold.err" &
	holder=$!
	exec 9>"$tmp/hold.in"
	if ! wait_for "$tmp/hold.out" '^ready ' "$hs_timeout"; then
		step_failed "$s N=$n: handshakes: $(tail -n 3 "$tmp/hold.err" | tr '\n' ' ')"
		exec 9>&-; kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null; holder=
		return 1
	fi
	echo "$s $n hold $(sed -n 's/^ready \([0-9]*\) \([0-9.]*\)s$/ready=\1 handshake_s=\2/p' "$tmp/hold.out")" >>"$raw"
	sleep 1 # the server's last session tickets and handshake leftovers
	measure "$s $n handshake"
	row "$s" "$n" handshake
	echo exchange >&9
	if wait_for "$tmp/hold.out" '^exchanged ' "$x_timeout"; then
		echo "$s $n hold $(sed -n 's/^exchanged \([0-9]*\) \([0-9.]*\)s \([0-9.]*\)MB\/s$/exchanged=\1 exchange_s=\2 exchange_mbs=\3/p' "$tmp/hold.out")" >>"$raw"
		sleep "$SETTLE"
		measure "$s $n exchange"
		row "$s" "$n" exchange
		trim_probe "$s" "$n" exchange
	else
		step_failed "$s N=$n: exchange: $(tail -n 3 "$tmp/hold.err" | tr '\n' ' ')"
	fi
	echo quit >&9
	exec 9>&-
	wait_for "$tmp/hold.out" '^totals ' "$hs_timeout"
	wait "$holder"
	rc=$?
	holder=
	[ "$rc" = 0 ] || step_failed "$s N=$n: hold-conns exited with $rc: $(tail -n 3 "$tmp/hold.err" | tr '\n' ' ')"
	# the server sees the last close_notify a moment after the client's on_close
	sleep 2
	measure "$s $n closed"
	row "$s" "$n" closed
	trim_probe "$s" "$n" closed
	return 0
}

# ---------------------------------------------------------------------------------------------
# the runs

avail=$("$https" --list-backends | awk 'NF == 1 { print $1 }')
skipped=
for be in $BACKENDS; do
	if ! echo "$avail" | grep -qx "$be"; then
		log "tlsio-https $be: not usable here, skipped"
		skipped="$skipped\n- tlsio-https $be: backend not usable here ($("$https" --list-backends | grep "^$be " | cut -d' ' -f2-))"
		continue
	fi
	for n in $COUNTS; do
		if ! n_fits "$n"; then
			# the most this limit allows instead (the same per-connection figures, fewer of them)
			m=$(((fd_limit - 500) / 1000 * 1000))
			log "tlsio-https $be N=$n: does not fit (fd limit $fd_limit: $limit_why); N=$m instead"
			skipped="$skipped\n- tlsio-https $be, N=$n: not possible here: the fd limit is $fd_limit ($limit_why); measured at N=$m, the most it allows"
			case " $COUNTS " in *" $m "*) continue ;; esac
			n=$m
		fi
		if [ "$be" = blocking ] && [ "$n" -gt "$BLOCKING_MAX" ]; then
			log "tlsio-https blocking N=$n: skipped (one poll() over all sockets per pass; BLOCKING_MAX=$BLOCKING_MAX)"
			skipped="$skipped\n- tlsio-https blocking, N=$n: skipped: the blocking backend polls every socket on each pass (O(N) per event), BLOCKING_MAX=$BLOCKING_MAX"
			continue
		fi
		log "tlsio-https $be, N=$n"
		if start_tlsio "$be"; then
			run_one "tlsio-$be" "$n" || true
			grep -v '^listening on' "$tmp/srv.out" >&2
		else
			step_failed "tlsio-https $be: did not start"
		fi
		stop_server
	done
done
if [ "$NGINX" = 1 ] && ! n_fits "$NGINX_COUNT"; then
	log "nginx N=$NGINX_COUNT: skipped (fd limit $fd_limit: $limit_why)"
	skipped="$skipped\n- nginx, N=$NGINX_COUNT: skipped: the fd limit is $fd_limit ($limit_why)"
elif [ "$NGINX" = 1 ]; then
	log "nginx, N=$NGINX_COUNT"
	if start_nginx "$NGINX_COUNT"; then
		run_one nginx "$NGINX_COUNT" || true
	else
		step_failed "nginx: did not start"
	fi
	stop_server
	[ -s "$tmp/nginx-error.log" ] && { log "nginx error log:"; tail -n 5 "$tmp/nginx-error.log" >&2; }
fi

# ---------------------------------------------------------------------------------------------
# the report

echo "## Memory per idle TLS connection"
echo
echo "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1), $(nproc) cores, kernel $(uname -r)."
[ -s "$tmp/crypto" ] && echo "tlsio-https ($https): --body-size $BODY --count-tls-heap; $(cat "$tmp/crypto")."
echo "hold-conns: $PARALLEL handshakes or exchanges in flight, each exchange a POST of $EXCHANGE answered by $BODY."
[ "$NGINX" = 1 ] && echo "nginx: $(nginx -v 2>&1 | sed 's/.*: //'), 1 worker (its RSS), \`error_page 405 =200\` for the POST."
echo "Per connection = (phase - baseline) / N. heap = malloc in use + mmapped blocks; libtlsio = heap - wolfSSL."
echo
echo "| server | N | phase | RSS B/conn | heap B/conn | wolfSSL B/conn | libtlsio B/conn | fds |"
echo "|---|---:|---|---:|---:|---:|---:|---:|"
cat "$rows"
if [ -n "$skipped" ]; then
	echo
	printf 'Not measured:%b\n' "$skipped"
fi
echo
echo "Raw numbers (bytes; open = tlsio-https's connections_open, the /stats request included):"
echo
echo '```'
cat "$raw"
echo '```'
[ "$failed" = 0 ] || log "some steps failed (see above)"
exit "$failed"
