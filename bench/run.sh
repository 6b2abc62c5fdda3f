#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/run.sh: the benchmarks of issue 6 in one sitting, written to BENCHMARKS.md.
#
# Same workloads, same certificate (tests/certs/server.pem, EC P-256), same bodies, against:
# tlsio-https on every usable backend, for each wolfSSL build: the default (the tuned build of
# scripts/build-wolfssl.sh, linked into libtlsio) and the system's libwolfssl (Debian's build,
# configure --with-wolfssl=system); nginx (Debian's nginx-light, 1 worker, TLS 1.3); and the raw
# ceilings: iperf3 over loopback, and the single-core cipher speed of each wolfSSL.
# On a 2-core machine the server is pinned to CPU 0 and every client to CPU 1.
#
# Workloads (each timed number is the median of $RUNS runs):
#   bulk        curl downloads $BULK bytes (server sends 1 MiB at a time); MB/s; and the same
#               download by tlsio-get (the library's client, epoll, on the first build of
#               BUILDS) against every server, nginx included: curl's OpenSSL reads 16 KiB at a
#               time and saturates its core near 1 GB/s, so with curl the client, not the
#               server, can be the limit
#   small c50   wrk -t1 -c50 keep-alive, $SMALL-byte body, $WRK_SECS s; req/s and p99
#   small c500  the same with -c500
#               (wrk has one core too: its CPU is recorded, and req/s per server core shows
#               what the server would do if the client kept up)
#   handshakes  h2load --h1 -H 'Connection: close', $HS_N requests over $HS_C clients: every
#               request is a full TLS 1.3 handshake (no resumption on either server)
# Untimed, once per server: syscalls (perf stat raw_syscalls:sys_enter on the server) during one
# bulk download and one $WRK_SECS s wrk run; memory with $IDLE idle TLS connections (RSS delta,
# and for tlsio-https the heap delta from its /stats); a perf profile of the uring backend and
# nginx (PROFILE=0 to skip).
#
# Usage: bash bench/run.sh            (root, or the tools already installed)
# Environment: RUNS=5 BULK=1G SMALL=128 WRK_SECS=5 HS_N=4000 HS_C=50 IDLE=10000
#   BACKENDS="uring epoll libev libuv blocking"  BUILDS="tuned system" (tuned: built first if
#   missing)  PROFILE=1  OUT=BENCHMARKS.md  QUICK=1 (tiny sizes, to try the script)
#   MEMORY=1 MEM_COUNTS="10000 100000": then bench/memory.sh for each build (memory per idle
#   connection after the handshake, after 1 MiB each way, after the close; nginx alongside)
#   TIMERS=1 (default 0): also bench/timers (timer start, move, stop, expiry and memory at 10k
#   to 1M timers, epoll, the first build of BUILDS, RUNS rounds), its table in the report
# Defaults take about 20 minutes on 2 cores.
set -u
LC_ALL=C
export LC_ALL

top=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
	sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
fi
RUNS=${RUNS:-5} BULK=${BULK:-1G} SMALL=${SMALL:-128} WRK_SECS=${WRK_SECS:-5}
HS_N=${HS_N:-4000} HS_C=${HS_C:-50} IDLE=${IDLE:-10000} PROFILE=${PROFILE:-1}
BUILDS=${BUILDS:-tuned system}
MEMORY=${MEMORY:-1} MEM_COUNTS=${MEM_COUNTS:-10000 100000}
TIMERS=${TIMERS:-0}
BACKENDS=${BACKENDS:-uring epoll libev libuv blocking}
OUT=${OUT:-$top/BENCHMARKS.md}
if [ "${QUICK:-0}" = 1 ]; then
	RUNS=1 BULK=64M WRK_SECS=1 HS_N=300 IDLE=300 MEM_COUNTS=300
fi
PORT=${PORT:-18443}
SRV_CPU=0 CLI_CPU=1
[ "$(nproc)" -ge 2 ] || { SRV_CPU=0; CLI_CPU=0; }

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# tools, builds, files

need_pkgs=
for t in nginx:nginx-light wrk:wrk h2load:nghttp2-client iperf3:iperf3 curl:curl python3:python3 \
	perf:linux-perf taskset:util-linux gcc:gcc; do
	command -v "${t%%:*}" >/dev/null 2>&1 || need_pkgs="$need_pkgs ${t#*:}"
done
if [ -n "$need_pkgs" ]; then
	log "installing:$need_pkgs"
	[ "$(id -u)" = 0 ] || die "not root: apt-get install$need_pkgs"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need_pkgs >/dev/null || die "apt-get failed"
fi
# iperf3's package may have started a system service; ours runs on its own port anyway.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -gt $((IDLE + 100)) ] || die "ulimit -n $(ulimit -n) is too low for IDLE=$IDLE"

tuned_prefix=$top/_deps/wolfssl-tuned
builds=
for b in $BUILDS; do
	case $b in
	tuned)
		log "the tuned wolfSSL (scripts/build-wolfssl.sh: reused when built)"
		mkdir -p "$top/_deps"
		"$top/scripts/build-wolfssl.sh" >"$top/_deps/build-wolfssl.log" 2>&1 ||
			{ tail -n 30 "$top/_deps/build-wolfssl.log" >&2; die "build-wolfssl.sh failed"; } ;;
	system) dpkg -s libwolfssl-dev >/dev/null 2>&1 || die "BUILDS has system: apt-get install libwolfssl-dev" ;;
	*) die "unknown build '$b' in BUILDS (tuned, system)" ;;
	esac
	builds="$builds $b"
done
builds=${builds# }

# Static libtlsio: the server binary is the process (no libtool wrapper in front of it, so the
# pid we measure is the server), and no PLT hops into the library.
build_dir() { [ "$1" = tuned ] && echo "$top/build-bench" || echo "$top/build-bench-$1"; }
timers_target=
[ "$TIMERS" = 1 ] && timers_target=bench/timers
[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi >/dev/null 2>&1) || die "autoreconf failed"
for b in $builds; do
	d=$(build_dir "$b")
	mkdir -p "$d"
	log "building libtlsio with the $b wolfSSL in $d"
	(cd "$d" && ../configure -q --disable-shared --with-wolfssl="$b" CFLAGS="-O2 -g" >configure.out 2>&1 &&
		{ ! head -c 64 examples/tlsio-https 2>/dev/null | grep -q '^#!' || make clean >/dev/null; } &&
		make -j"$(nproc)" examples/tlsio-https examples/tlsio-get bench/hold-conns $timers_target \
			$(grep -q '^#define TLSIO_HAVE_LIBUV 1' config.h && echo bench/uv-write) >make.out 2>&1) ||
		die "build failed in $d (see configure.out, make.out)"
	head -c 64 "$d/examples/tlsio-https" | grep -q '^#!' && die "$d: tlsio-https is still a libtool wrapper"
	if [ "$b" = tuned ]; then
		cs=(-I"$tuned_prefix/include" "$top/bench/cipher-speed.c" "$tuned_prefix/lib/libwolfssl.a" -lm -lpthread)
	else
		cs=("$top/bench/cipher-speed.c" -lwolfssl)
	fi
	gcc -O2 -o "$d/cipher-speed" "${cs[@]}" || die "cipher-speed build failed"
done

# the bulk benchmark's second client: tlsio-get on the first build of BUILDS (the default), for every server
getter=$(build_dir "${builds%% *}")/examples/tlsio-get
# the idle connections' client (bench/hold-conns.c), for every server
holder_bin=$(build_dir "${builds%% *}")/bench/hold-conns

tmp=$(mktemp -d /tmp/tlsio-bench.XXXXXX) || exit 1
res=$tmp/results  # one "key value" per line
: >"$res"
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bulk_bytes=$(python3 -c "
import re,sys; m=re.fullmatch(r'(\d+)([KMG]?)', sys.argv[1]); print(int(m[1])*{'':1,'K':1<<10,'M':1<<20,'G':1<<30}[m[2]])" "$BULK") ||
	die "BULK must look like 1G, 512M"
mkdir -p "$tmp/www" "$tmp/tmp"
chmod 755 "$tmp" # nginx's worker runs as nobody and must read the bodies
log "writing the bodies: $BULK bulk, $SMALL bytes small"
python3 - "$tmp/www/bulk" "$bulk_bytes" "$tmp/www/small" "$SMALL" <<'EOF'
import sys
line = bytes((ord('a') + i % 26) if i % 64 != 63 else 10 for i in range(64 * 13))
block = (line * (1048576 // len(line) + 1))[:1048576]
def write(path, n):
    with open(path, "wb") as f:
        while n > 0:
            f.write(block[:min(n, len(block))]); n -= len(block)
write(sys.argv[1], int(sys.argv[2])); write(sys.argv[3], int(sys.argv[4]))
EOF
cert=$top/tests/certs/server.pem key=$top/tests/certs/server.key

put() { echo "$1 $2" >>"$res"; }
get() { awk -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? "-" : v) }' "$res"; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ---------------------------------------------------------------------------------------------
# servers: start_tlsio BUILD BACKEND FILE | start_nginx; stop_server. $spid: the process whose
# syscalls, memory and profile we measure (for nginx: the worker).

spid= sstop=
start_tlsio() { # BUILD BACKEND FILE [more tlsio-https flags]
	local d; d=$(build_dir "$1")
	: >"$tmp/srv.out"
	taskset -c $SRV_CPU "$d/examples/tlsio-https" --backend "$2" --cert "$cert" --key "$key" \
		--listen "127.0.0.1:$PORT" --file "$3" "${@:4}" >"$tmp/srv.out" 2>"$tmp/srv.err" &
	sstop=$!
	pids="$pids $sstop"
	for _ in $(seq 100); do grep -q '^listening on' "$tmp/srv.out" && break; sleep 0.05; done
	grep -q '^listening on' "$tmp/srv.out" || { cat "$tmp/srv.err" >&2; return 1; }
	spid=$sstop
}
start_nginx() {
	sed -e "s|@DIR@|$tmp|g" -e "s|@PORT@|$PORT|g" -e "s|@CERT@|$cert|g" -e "s|@KEY@|$key|g" \
		"$top/bench/nginx.conf.in" >"$tmp/nginx.conf"
	taskset -c $SRV_CPU nginx -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/nginx-error.log" 2>>"$tmp/nginx-error.log" &
	sstop=$!
	pids="$pids $sstop"
	for _ in $(seq 100); do spid=$(pgrep -P "$sstop" | head -n1); [ -n "$spid" ] && curl -skf -o /dev/null "https://127.0.0.1:$PORT/small" && break; sleep 0.05; done
	[ -n "$spid" ] || { cat "$tmp/nginx-error.log" >&2; return 1; }
}
stop_server() {
	kill -TERM "$sstop" 2>/dev/null
	wait "$sstop" 2>/dev/null
	pids=$(echo "$pids" | tr ' ' '\n' | grep -vx "$sstop" | tr '\n' ' ')
	spid= sstop=
	# TIME_WAIT sockets do not block a new bind (SO_REUSEADDR on both servers)
}
url() { echo "https://127.0.0.1:$PORT/$1"; }
cli() { taskset -c $CLI_CPU "$@"; }

# syscalls of the server while a command runs: prints the count and the server's CPU use in %
# of one core over the command's wall time
count_syscalls() {
	perf stat -e raw_syscalls:sys_enter,task-clock -x, -p "$spid" -o "$tmp/perf.txt" 2>/dev/null &
	local perf=$! t0 t1
	sleep 0.3
	t0=$(date +%s.%N)
	"$@" >"$tmp/sys-cmd.out" 2>&1
	t1=$(date +%s.%N)
	kill -INT $perf; wait $perf 2>/dev/null
	awk -F, -v w="$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')" '/raw_syscalls:sys_enter/ { n = $1 } /task-clock/ { tc = $1 }
		END { printf "%d %.0f\n", n, tc / 10 / w }' "$tmp/perf.txt"
}
# the client's CPU use in % of one core (perf stat around it; runs it on the client CPU; its
# output goes to $tmp/cpu-cmd.out)
cpu_of() {
	local t0 t1
	t0=$(date +%s.%N)
	perf stat -e task-clock -x, -o "$tmp/cli.txt" taskset -c $CLI_CPU "$@" >"$tmp/cpu-cmd.out" 2>&1
	t1=$(date +%s.%N)
	awk -F, -v w="$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')" '/task-clock/ { printf "%.0f\n", $1 / 10 / w }' "$tmp/cli.txt"
}
profile() { # NAME SECONDS COMMAND...: top symbols of the server while COMMAND runs
	local name=$1; shift
	perf record -F 1999 -p "$spid" -o "$tmp/$name.data" 2>/dev/null >/dev/null &
	local perf=$!
	sleep 0.3
	"$@" >/dev/null 2>&1
	kill -INT $perf; wait $perf 2>/dev/null
	perf report -i "$tmp/$name.data" --no-children --sort dso,sym --stdio 2>/dev/null |
		grep -E '^ +[0-9]' | head -n 14 >"$tmp/profile-$name.txt"
	# the same by DSO: where the time goes in one line per library
	perf report -i "$tmp/$name.data" --no-children --sort dso --stdio 2>/dev/null |
		grep -E '^ +[0-9]' | head -n 6 >"$tmp/profile-$name-dso.txt"
}

# tlsio-get download: prints MB/s, or nothing if the body was not whole
get_run() {
	cli "$getter" --backend epoll --connect "127.0.0.1:$PORT" --ca "$top/tests/certs/ca.pem" \
		--path /bulk --expect-bytes "$bulk_bytes" -q 2>"$tmp/get.err" | awk '$3 == "OK" { print $2 }'
}

wrk_parse() { # the last wrk run's "req/s p99_ms requests"
	awk '/Requests\/sec:/ { rps = $2 }
	     / 99%/ { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
	              ms = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v }
	     /requests in/ { n = $1 }
	     END { print rps, ms, n }' "$tmp/wrk.out"
}
wrk_run() { # CONNS: prints "req/s p99_ms requests"
	cli wrk -t1 -c"$1" -d"${WRK_SECS}s" --latency "$(url small)" >"$tmp/wrk.out" 2>&1
	wrk_parse
}
wrk_cpu_run() { # CONNS: as wrk_run, plus wrk's own CPU in % of one core
	local cpu
	cpu=$(cpu_of wrk -t1 -c"$1" -d"${WRK_SECS}s" --latency "$(url small)")
	cp "$tmp/cpu-cmd.out" "$tmp/wrk.out"
	echo "$(wrk_parse) $cpu"
}

bench_server() { # KEY START... : all workloads against the server started by START
	local k=$1; shift
	local bulk_file=$tmp/www/bulk small_file=$tmp/www/small i v n
	log "$k: bulk ($RUNS x $BULK)"
	if [ "$1" = start_tlsio ]; then "$@" "$bulk_file" || return 1; else "$@" || return 1; fi
	cli curl -skv --http1.1 -o /dev/null "$(url small)" 2>&1 | sed -n 's/^\* SSL connection using //p' | head -n1 >"$tmp/cipher"
	put "$k.cipher" "$(tr ' ' '_' <"$tmp/cipher")"
	[ -f "$tmp/srv.err" ] && [ "$1" = start_tlsio ] && put "$k.crypto" "$(sed -n 's/^tlsio-https: crypto: //p' "$tmp/srv.err" | tr ' ' '_')"
	for i in $(seq "$RUNS"); do
		v=$(cli curl -sk --http1.1 -o /dev/null -w '%{size_download} %{speed_download}\n' "$(url bulk)")
		[ "${v% *}" = "$bulk_bytes" ] || { log "$k: bulk download incomplete: $v"; continue; }
		echo "${v#* }" | awk '{ printf "%.1f\n", $1 / 1e6 }'
	done | median >"$tmp/v"; put "$k.bulk" "$(cat "$tmp/v")"
	v=$(count_syscalls cpu_of curl -sk --http1.1 -o /dev/null "$(url bulk)")
	n=${v% *}
	put "$k.bulk_srv_cpu" "${v#* }"
	put "$k.bulk_cli_cpu" "$(cat "$tmp/sys-cmd.out")"
	put "$k.sys_per_mb" "$(awk -v n="$n" -v b="$bulk_bytes" 'BEGIN { printf "%.2f", n / (b / 1e6) }')"
	put "$k.sys_per_rec" "$(awk -v n="$n" -v b="$bulk_bytes" 'BEGIN { printf "%.3f", n / (b / 16384) }')"
	for i in $(seq "$RUNS"); do
		v=$(get_run)
		[ -n "$v" ] || { log "$k: tlsio-get download failed: $(cat "$tmp/get.err")"; continue; }
		echo "$v"
	done | median >"$tmp/v"; put "$k.bulk_get" "$(cat "$tmp/v")"
	v=$(count_syscalls cpu_of "$getter" --backend epoll --connect "127.0.0.1:$PORT" --ca "$top/tests/certs/ca.pem" \
		--path /bulk --expect-bytes "$bulk_bytes" -q)
	put "$k.bulk_get_srv_cpu" "${v#* }"
	put "$k.bulk_get_cli_cpu" "$(cat "$tmp/sys-cmd.out")"
	if [ "$PROFILE" = 1 ] && { [ "$k" = nginx ] || [ "${k#*.}" = uring ]; }; then
		profile "$k.bulk" cli curl -sk --http1.1 -o /dev/null "$(url bulk)"
	fi
	if [ "$1" = start_tlsio ]; then stop_server; "$@" "$small_file" || return 1; fi

	for c in 50 500; do
		log "$k: wrk -c$c ($RUNS x ${WRK_SECS}s)"
		cli wrk -t1 -c"$c" -d1s "$(url small)" >/dev/null 2>&1 # warm-up: connections, caches
		for i in $(seq "$RUNS"); do wrk_run "$c"; done >"$tmp/wrk-$c"
		put "$k.rps$c" "$(awk '{ print $1 }' "$tmp/wrk-$c" | median)"
		put "$k.p99_$c" "$(awk '{ print $2 }' "$tmp/wrk-$c" | median)"
	done
	v=$(count_syscalls wrk_cpu_run 50)
	n=$(awk '{ print $3 }' "$tmp/sys-cmd.out")
	put "$k.sys_per_req" "$(awk -v s="${v% *}" -v n="$n" 'BEGIN { if (n > 0) printf "%.2f", s / n; else print "-" }')"
	put "$k.small_srv_cpu" "${v#* }"
	put "$k.small_cli_cpu" "$(awk '{ print $4 }' "$tmp/sys-cmd.out")"
	# req/s per server core: this run's rate over the server's CPU share in it
	put "$k.rps50_core" "$(awk -v c="${v#* }" '{ if (c > 0) printf "%.0f", $1 / (c / 100); else print "-" }' "$tmp/sys-cmd.out")"
	if [ "$PROFILE" = 1 ] && { [ "$k" = nginx ] || [ "${k#*.}" = uring ]; }; then
		profile "$k.small" wrk_run 50
	fi

	log "$k: handshakes ($RUNS x $HS_N)"
	for i in $(seq "$RUNS"); do
		cli h2load -n "$HS_N" -c "$HS_C" --h1 -H 'Connection: close' "$(url small)" >"$tmp/h2.out" 2>&1
		grep -q "$HS_N succeeded" "$tmp/h2.out" || { log "$k: h2load: $(grep 'requests:' "$tmp/h2.out")"; continue; }
		sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$tmp/h2.out"
	done | median >"$tmp/v"; put "$k.hs" "$(cat "$tmp/v")"
	stop_server

	log "$k: memory with $IDLE idle connections"
	# --count-tls-heap: /stats tells wolfSSL's heap apart, so the library's own share is known
	if [ "$1" = start_tlsio ]; then "$@" "$small_file" --count-tls-heap || return 1; else "$@" || return 1; fi
	cli curl -sk -o /dev/null "$(url small)"
	local rss0 rss1 heap0 heap1
	rss0=$(awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$spid/status")
	[ "$1" = start_tlsio ] && heap0=$(cli curl -sk "$(url stats)" | tee "$tmp/stats0" | awk '/^heap_in_use/ { print $2 }')
	mkfifo "$tmp/hold"
	cli "$holder_bin" --connect "127.0.0.1:$PORT" --count "$IDLE" --ca "$top/tests/certs/ca.pem" \
		--server-name localhost <"$tmp/hold" >"$tmp/idle.out" 2>&1 &
	local holder=$!
	exec 9>"$tmp/hold"
	for _ in $(seq 1200); do grep -q '^ready' "$tmp/idle.out" && break; kill -0 $holder 2>/dev/null || break; sleep 0.1; done
	if grep -q '^ready' "$tmp/idle.out"; then
		sleep 0.5
		rss1=$(awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$spid/status")
		put "$k.rss_per_conn" "$(( (rss1 - rss0) / IDLE ))"
		if [ "$1" = start_tlsio ]; then
			heap1=$(cli curl -sk "$(url stats)" | tee "$tmp/stats1" | awk '/^heap_in_use/ { print $2 }')
			put "$k.heap_per_conn" "$(( (heap1 - heap0) / IDLE ))"
			# heap = wolfSSL's + the application's connection state + the library's own
			awk -v n="$IDLE" '/^heap_in_use/ { h[FILENAME] = $2 } /^tls_heap_in_use/ { t[FILENAME] = $2 }
				/^conn_state_bytes/ { a[FILENAME] = $2 }
				END { f0 = ARGV[1]; f1 = ARGV[2]
				      printf "%d %d\n", (t[f1] - t[f0]) / n, ((h[f1] - h[f0]) - (t[f1] - t[f0]) - (a[f1] - a[f0])) / n }' \
				"$tmp/stats0" "$tmp/stats1" >"$tmp/v"
			put "$k.tls_heap_per_conn" "$(cut -d' ' -f1 "$tmp/v")"
			put "$k.own_heap_per_conn" "$(cut -d' ' -f2 "$tmp/v")"
		fi
	else
		log "$k: idle connections failed: $(tail -n 2 "$tmp/idle.out")"
	fi
	exec 9>&-
	wait $holder 2>/dev/null
	rm -f "$tmp/hold"
	stop_server
}

# ---------------------------------------------------------------------------------------------
# the sitting

started=$(date -u '+%Y-%m-%d %H:%M UTC')
t_start=$(date +%s)
log "ceilings: iperf3 and cipher speed"
taskset -c $SRV_CPU iperf3 -s -p $((PORT + 1)) >/dev/null 2>&1 &
ip=$!; pids="$pids $ip"; sleep 0.5
for i in $(seq "$RUNS"); do
	cli iperf3 -c 127.0.0.1 -p $((PORT + 1)) -n "$bulk_bytes" -l 1M -J 2>/dev/null |
		python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8e6))'
done | median >"$tmp/v"; put iperf3 "$(cat "$tmp/v")"
kill $ip; wait $ip 2>/dev/null
for b in $builds; do
	d=$(build_dir "$b")
	for i in $(seq "$RUNS"); do taskset -c $SRV_CPU "$d/cipher-speed" 1; done >"$tmp/cs"
	put "$b.aes" "$(awk '$1 == "aes-128-gcm" { print $2 }' "$tmp/cs" | median)"
	put "$b.chacha" "$(awk '$1 == "chacha20-poly1305" { print $2 }' "$tmp/cs" | median)"
done
# The libuv backend's design choice (backends/libuv.c): uv_poll_t + sendmsg against uv_tcp_t +
# uv_try_write/uv_write, 1 GiB on one loopback stream, write syscalls counted by perf
uvw="$(build_dir "${builds%% *}")/bench/uv-write"
if [ -x "$uvw" ]; then
	log "libuv write paths: bench/uv-write poll|tcp"
	for m in poll tcp; do
		: >"$tmp/uvw-$m"
		for i in $(seq "$RUNS"); do
			perf stat -x, -e syscalls:sys_enter_write -e syscalls:sys_enter_writev -e syscalls:sys_enter_sendmsg \
				-o "$tmp/uvw-perf" "$uvw" "$m" 1024 >"$tmp/uvw-out" 2>&1 || { log "uv-write $m failed: $(cat "$tmp/uvw-out")"; continue; }
			grep -q 'in order, intact' "$tmp/uvw-out" || { log "uv-write $m: $(cat "$tmp/uvw-out")"; continue; }
			mbs=$(sed -n 's/.* = \([0-9.]*\) MB\/s.*/\1/p' "$tmp/uvw-out")
			pin=$(sed -n 's/.*at most \([0-9]*\) B.*/\1/p' "$tmp/uvw-out")
			sc=$(awk -F, '$3 ~ /sys_enter/ { n += $1 } END { print n + 0 }' "$tmp/uvw-perf")
			echo "$mbs $sc $pin" >>"$tmp/uvw-$m"
		done
		put "uvw.$m.mbs" "$(awk '{ print $1 }' "$tmp/uvw-$m" | median)"
		put "uvw.$m.sc" "$(awk '{ printf "%.1f\n", $2 / 1024 }' "$tmp/uvw-$m" | median)"
		put "uvw.$m.pin" "$(awk '{ print $3 }' "$tmp/uvw-$m" | median)"
	done
fi

bench_server nginx start_nginx || log "nginx failed"
avail=$("$(build_dir "${builds%% *}")/examples/tlsio-https" --list-backends | awk 'NF == 1 { print $1 }')
for b in $builds; do
	for be in $BACKENDS; do
		echo "$avail" | grep -qx "$be" || { log "backend $be not usable here, skipped"; continue; }
		bench_server "$b.$be" start_tlsio "$b" "$be" || log "$b.$be failed"
	done
done
if [ "$MEMORY" = 1 ]; then
	nginx_mem=1
	for b in $builds; do
		log "memory: bench/memory.sh, $b wolfSSL, N in $MEM_COUNTS"
		COUNTS="$MEM_COUNTS" BACKENDS="$BACKENDS" NGINX=$nginx_mem NGINX_COUNT="${MEM_COUNTS%% *}" PORT=$((PORT + 2)) \
			bash "$top/bench/memory.sh" "$(build_dir "$b")/examples/tlsio-https" "$holder_bin" \
			>"$tmp/mem-$b.md" 2>"$tmp/mem-$b.err" || log "memory.sh ($b) failed: $(tail -n 3 "$tmp/mem-$b.err")"
		nginx_mem=0
	done
fi
if [ "$TIMERS" = 1 ]; then
	log "timers: bench/timers, ${builds%% *} build, epoll, $RUNS rounds"
	taskset -c $SRV_CPU "$(build_dir "${builds%% *}")/bench/timers" --backend epoll --repeat "$RUNS" \
		>"$tmp/timers.txt" 2>"$tmp/timers.err" || log "bench/timers failed: $(tail -n 3 "$tmp/timers.err")"
fi
elapsed=$(( $(date +%s) - t_start ))
cp "$res" "$top/bench/last-results.txt" 2>/dev/null

# ---------------------------------------------------------------------------------------------
# the report

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
mark() { # VALUE OP TARGET
	awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { if (v == "-") print "n/a"; else if ((op == ">=" && v >= t) || (op == "<=" && v <= t)) print "met"; else print "**missed**" }'
}
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)
deb_ver=$(dpkg-query -W -f='${Version}' libwolfssl35 2>/dev/null || echo unknown)
tuned_ver=$(sed -n 's/^#define LIBWOLFSSL_VERSION_STRING "\(.*\)"/\1/p' "$tuned_prefix/include/wolfssl/version.h" 2>/dev/null)
{
	echo "# Benchmarks"
	echo
	echo "Generated by \`bash bench/run.sh\` (one sitting, $((elapsed / 60)) min, started $started)."
	echo "Every timed number is the median of $RUNS runs. Server pinned to CPU $SRV_CPU, clients to CPU $CLI_CPU."
	echo "Workloads: bulk = curl, then tlsio-get ($(basename "$(dirname "$(dirname "$getter")")"), epoll), downloads $BULK (server sends 1 MiB at a time);"
	echo "small = wrk -t1, keep-alive, $SMALL-byte body, ${WRK_SECS} s;"
	echo "handshakes = h2load --h1 -n $HS_N -c $HS_C with \`Connection: close\` (full TLS 1.3 handshakes, no resumption);"
	echo "syscalls = perf stat raw_syscalls:sys_enter on the server in a separate untimed run; memory = $IDLE idle TLS connections."
	echo
	echo "## Machine"
	echo
	echo "- CPU: $cpu, $(nproc) cores; kernel $(uname -r); $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
	case " $builds " in *" tuned "*)
		echo "- wolfSSL (tuned, the default): $tuned_ver from Debian's source package, \`scripts/build-wolfssl.sh\` (profile tuned, static, linked into libtlsio): \`$(cat "$tuned_prefix/BUILD-FLAGS")\`" ;;
	esac
	case " $builds " in *" system "*)
		echo "- wolfSSL (system): libwolfssl35 $deb_ver, Debian's build (--enable-distro --enable-pkcs11), shared, no AES-NI" ;;
	esac
	echo "- nginx: $(nginx -V 2>&1 | head -n1 | sed 's/nginx version: //') ($(nginx -V 2>&1 | sed -n 's/^built with //p' | head -n1)), 1 worker, TLS 1.3 only"
	echo "- clients: $(curl --version | head -n1 | cut -d' ' -f1-2,5), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2), h2load $(h2load --version 2>&1 | awk '{ print $NF }'), $(iperf3 --version | head -n1 | cut -d' ' -f1-2)"
	echo
	echo "## Ceilings"
	echo
	echo "| | MB/s |"
	echo "|---|---:|"
	echo "| iperf3 loopback, 1 MiB writes | $(get iperf3) |"
	for b in $builds; do
		echo "| wolfSSL $b AES-128-GCM, 1 core, 16 KiB records | $(get "$b.aes") |"
		echo "| wolfSSL $b ChaCha20-Poly1305, 1 core, 16 KiB records | $(get "$b.chacha") |"
	done
	echo
	echo "## Results"
	echo
	keys="nginx $(for b in $builds; do for be in $BACKENDS; do echo "$b.$be"; done; done)"
	label() { if [ "$1" = nginx ]; then echo nginx; else echo "tlsio ${1#*.} ($(echo "$1" | cut -d. -f1) wolfSSL)"; fi; }
	shown() { [ "$(get "$1.bulk")" != - ] || [ "$(get "$1.hs")" != - ]; }
	echo "### Bulk: $BULK download, 1 MiB sends"
	echo
	echo "| server | cipher | curl MB/s | CPU % server/curl | tlsio-get MB/s | CPU % server/tlsio-get | syscalls/MB | syscalls/16 KiB record |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for k in $keys; do
		shown "$k" || continue
		echo "| $(label "$k") | $(get "$k.cipher" | sed 's/.*_\/_//; s/^TLS_//') | $(get "$k.bulk") | $(get "$k.bulk_srv_cpu")/$(get "$k.bulk_cli_cpu") | $(get "$k.bulk_get") | $(get "$k.bulk_get_srv_cpu")/$(get "$k.bulk_get_cli_cpu") | $(get "$k.sys_per_mb") | $(get "$k.sys_per_rec") |"
	done
	echo
	echo "### Small responses: wrk -t1 keep-alive, $SMALL-byte body"
	echo
	echo "| server | c50 req/s | c50 p99 ms | c500 req/s | c500 p99 ms | CPU % server/wrk (c50) | c50 req/s per server core | syscalls/request |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for k in $keys; do
		shown "$k" || continue
		echo "| $(label "$k") | $(get "$k.rps50") | $(get "$k.p99_50") | $(get "$k.rps500") | $(get "$k.p99_500") | $(get "$k.small_srv_cpu")/$(get "$k.small_cli_cpu") | $(get "$k.rps50_core") | $(get "$k.sys_per_req") |"
	done
	echo
	echo "### Handshakes and memory"
	echo
	echo "| server | full TLS 1.3 handshakes/s | RSS B/idle conn | heap B/idle conn | of which wolfSSL | of which libtlsio |"
	echo "|---|---:|---:|---:|---:|---:|"
	for k in $keys; do
		shown "$k" || continue
		echo "| $(label "$k") | $(get "$k.hs") | $(get "$k.rss_per_conn") | $(get "$k.heap_per_conn") | $(get "$k.tls_heap_per_conn") | $(get "$k.own_heap_per_conn") |"
	done
	echo
	if [ "$MEMORY" = 1 ]; then
		echo "## Memory per idle connection (bench/memory.sh, same sitting)"
		for b in $builds; do
			echo
			echo "### $b wolfSSL"
			echo
			sed -e '1{/^## /d}' "$tmp/mem-$b.md"
		done
		echo
	fi
	if [ "$(get uvw.poll.mbs)" != - ]; then
		echo "## libuv write paths (bench/uv-write, same sitting)"
		echo
		echo "The libuv backend's choice, measured: 1 GiB over one loopback TCP stream from a libuv loop,"
		echo "as 16406-byte records (a full TLS record), at most 64 records queued, every byte checked"
		echo "by the reader thread. poll: uv_poll_t, the socket stays ours, one sendmsg of all queued"
		echo "records from the first unsent byte until EAGAIN (what backends/libuv.c does); tcp: uv_tcp_t,"
		echo "uv_try_write, then uv_write for the rest, each buffer pinned until its callback. Write"
		echo "syscalls (write, writev, sendmsg) counted by perf stat. Median of $RUNS runs."
		echo
		echo "| path | MB/s | write syscalls per MiB | bytes pinned in uv_write at most |"
		echo "|---|---:|---:|---:|"
		for m in poll tcp; do
			echo "| $m | $(get "uvw.$m.mbs") | $(get "uvw.$m.sc") | $(get "uvw.$m.pin") |"
		done
		echo
	fi
	if [ "$TIMERS" = 1 ] && [ -s "$tmp/timers.txt" ]; then
		echo "## Timers (bench/timers, same sitting)"
		echo
		echo '```'
		cat "$tmp/timers.txt"
		echo '```'
		echo
	fi
	echo "## Ratios against the targets (same sitting)"
	echo
	echo "Bulk with tlsio-get is the server-bound figure (the client has CPU to spare); the targets"
	echo "name nginx+curl, so both nginx columns are given."
	echo
	echo "Targets (issue 14, for the default build): bulk >= 1.5x nginx+curl, full handshakes/s >= 1.5x"
	echo "nginx, wrk c50 >= 1.5x nginx, wrk c500 p99 latency <= nginx's."
	echo
	echo "| tlsio | bulk get / nginx+curl (>= 1.5) | bulk curl / nginx+curl | bulk get / nginx+get | bulk get / iperf3 | bulk get / cipher speed | c50 / nginx (>= 1.5) | c50 per server core / nginx | c500 / nginx | c500 p99 ms, tlsio/nginx (<= nginx) | handshakes / nginx (>= 1.5) | syscalls/record |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	for b in $builds; do for be in $BACKENDS; do
		k=$b.$be
		shown "$k" || continue
		r_get=$(ratio "$(get "$k.bulk_get")" "$(get nginx.bulk)")
		r_getget=$(ratio "$(get "$k.bulk_get")" "$(get nginx.bulk_get)")
		r_curl=$(ratio "$(get "$k.bulk")" "$(get nginx.bulk)")
		r_ip=$(ratio "$(get "$k.bulk_get")" "$(get iperf3)")
		case "$(get "$k.cipher")" in *CHACHA*) cs=$(get "$b.chacha") ;; *) cs=$(get "$b.aes") ;; esac
		r_cs=$(ratio "$(get "$k.bulk_get")" "$cs")
		r_50=$(ratio "$(get "$k.rps50")" "$(get nginx.rps50)")
		r_core=$(ratio "$(get "$k.rps50_core")" "$(get nginx.rps50_core)")
		r_500=$(ratio "$(get "$k.rps500")" "$(get nginx.rps500)")
		p_500=$(ratio "$(get "$k.p99_500")" "$(get nginx.p99_500)")
		r_hs=$(ratio "$(get "$k.hs")" "$(get nginx.hs)")
		m() { if [ "$b" = tuned ]; then echo "$1 $(mark "$1" "$2" "$3")"; else echo "$1"; fi; }
		echo "| $be, $b wolfSSL | $(m "$r_get" '>=' 1.5) | $r_curl | $r_getget | $r_ip | $r_cs | $(m "$r_50" '>=' 1.5) | $r_core | $r_500 | $(get "$k.p99_500")/$(get nginx.p99_500) $(m "$p_500" '<=' 1.0 | sed 's/^[^ ]* *//') | $(m "$r_hs" '>=' 1.5) | $(get "$k.sys_per_rec") |"
	done; done
	echo
	echo "Crypto path reported by tlsio-https at startup:"
	echo
	for b in $builds; do
		echo "- $b: $(get "$b.uring.crypto" | tr '_' ' ')"
	done
	if [ "$PROFILE" = 1 ]; then
		echo
		echo "## Profiles (perf record on the server process, same sitting)"
		for f in "$tmp"/profile-*-dso.txt; do
			[ -f "$f" ] || continue
			n=${f#"$tmp"/profile-}; n=${n%-dso.txt}
			echo
			echo "### $n"
			echo
			echo '```'
			cat "$f"
			echo "..."
			cat "$tmp/profile-$n.txt"
			echo '```'
		done
	fi
	if [ -f "$top/bench/notes.md" ]; then
		echo
		cat "$top/bench/notes.md"
	fi
	# bench/ws.sh's section of the old report stays (it is measured by that script alone)
	if [ -f "$OUT" ] && grep -q '^<!-- bench/ws.sh: begin -->' "$OUT"; then
		echo
		sed -n '/^<!-- bench\/ws.sh: begin -->/,/^<!-- bench\/ws.sh: end -->/p' "$OUT"
	fi
} >"$tmp/report.md"
cat "$tmp/report.md" >"$OUT"
log "wrote $OUT ($((elapsed / 60)) min)"
