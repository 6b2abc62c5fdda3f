#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/ws.sh: WebSocket echo over TLS, messages/s and MB/s, in one sitting, into a section of
# BENCHMARKS.md (between its "bench/ws.sh" markers; bench/run.sh keeps that section).
#
# Servers, all with tests/certs/server.pem (EC P-256), permessage-deflate off (the client
# offers none): examples/tlsio-ws on every usable backend; node's `ws` (npm, installed into
# _deps/node-ws) over node's https (bench/ws-node-server.js); python3-websockets over the ssl
# module (bench/ws-py-server.py, /usr/bin/python3: Debian's module imports there only).
# Client, the same for all: bench/ws-load (libtlsio, epoll), $CONNS connections, one message
# in flight each, every echo compared byte for byte. Server on CPU 0, client on CPU 1.
# Each number is the median of $RUNS runs of $SECS s (after 1 s of warm-up).
#
# Usage: bash bench/ws.sh   (after a build; BUILD=build-dir, default build-dev or build)
# Environment: RUNS=3 SECS=5 CONNS=100 SIZES="1024 65536" BACKENDS="uring epoll libev libuv blocking"
#   OUT=BENCHMARKS.md
set -u
LC_ALL=C
export LC_ALL
top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
SECS=${SECS:-5}
CONNS=${CONNS:-100}
SIZES=${SIZES:-1024 65536}
OUT=${OUT:-$top/BENCHMARKS.md}
build=${BUILD:-}
if [ -z "$build" ]; then
	for b in "$top/build-dev" "$top/build"; do
		[ -x "$b/bench/ws-load" ] && { build=$b; break; }
	done
fi
[ -n "$build" ] && [ -x "$build/bench/ws-load" ] && [ -x "$build/examples/tlsio-ws" ] || {
	echo "bench/ws.sh: no build with bench/ws-load and examples/tlsio-ws (make first, or BUILD=dir)" >&2
	exit 1
}
cert=$top/tests/certs/server.pem
key=$top/tests/certs/server.key
ca=$top/tests/certs/ca.pem
py=/usr/bin/python3
deps=$top/_deps/node-ws
log() { echo "bench/ws.sh: $*" >&2; }

need=()
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
$py -c 'import websockets' 2>/dev/null || need+=(python3-websockets)
command -v taskset >/dev/null || need+=(util-linux)
if ((${#need[@]} > 0)); then
	log "installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
		{ log "apt-get install ${need[*]} failed"; exit 1; }
fi
if [ ! -f "$deps/node_modules/ws/package.json" ]; then
	log "npm install ws into $deps"
	mkdir -p "$deps"
	npm install --prefix "$deps" --no-audit --no-fund --silent ws@8 >&2 || { log "npm install ws failed"; exit 1; }
fi
ws_version=$(sed -n 's/^ *"version": "\(.*\)",*$/\1/p' "$deps/node_modules/ws/package.json" | head -n 1)
py_version=$($py -c 'import websockets; print(websockets.__version__)')
node_version=$(node --version)
backends=${BACKENDS:-$("$build/examples/tlsio-ws" --list-backends | awk 'NF == 1 { print $1 }')}

tmp=$(mktemp -d /tmp/bench-ws.XXXXXX)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# start NAME: the server in the background on CPU 0, its port in $port
start() {
	case $1 in
	# exec: $! is then the server itself (its CPU is read from /proc)
	node) NODE_PATH=$deps/node_modules exec taskset -c 0 node "$top/bench/ws-node-server.js" "$cert" "$key" ;;
	python) exec taskset -c 0 $py "$top/bench/ws-py-server.py" "$cert" "$key" ;;
	*) exec taskset -c 0 "$build/examples/tlsio-ws" --backend "$1" --listen 127.0.0.1:0 --cert "$cert" \
		--key "$key" --no-deflate --quiet ;;
	esac >"$tmp/out" 2>"$tmp/err" &
	server_pid=$!
	for _ in $(seq 100); do
		grep -q 'listening on' "$tmp/out" && break
		sleep 0.05
	done
	port=$(sed -n 's/^listening on 127.0.0.1://p' "$tmp/out")
	[ -n "$port" ] || { log "$1 did not start: $(cat "$tmp/err")"; return 1; }
}
stop() {
	kill -TERM "$server_pid" 2>/dev/null
	wait "$server_pid" 2>/dev/null
	server_pid=
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A mps mbs cpu
# utime + stime of a process, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
started=$(date -u '+%Y-%m-%d %H:%M UTC')
t0=$(date +%s)
servers="$backends node python"
for s in $servers; do
	for size in $SIZES; do
		: >"$tmp/runs"
		for r in $(seq "$RUNS"); do
			start "$s" || exit 1
			c0=$(cpu_ticks "$server_pid")
			w0=$(date +%s.%N)
			if ! taskset -c 1 "$build/bench/ws-load" --connect "localhost:$port" --ca "$ca" \
				--conns "$CONNS" --size "$size" --seconds "$SECS" >"$tmp/load" 2>&1; then
				log "$s, $size B, run $r: $(cat "$tmp/load") (server: $(tail -n 3 "$tmp/err"))"
				stop
				exit 1
			fi
			util=$(awk -v c0="$c0" -v c1="$(cpu_ticks "$server_pid")" -v w0="$w0" -v w1="$(date +%s.%N)" \
				-v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", 100 * (c1 - c0) / hz / (w1 - w0) }')
			stop
			log "$s $size B run $r: $(cat "$tmp/load"), server CPU $util%"
			sed -n 's/.*: \([0-9.]*\) msgs\/s, \([0-9.]*\) MB\/s.*/\1 \2/p' "$tmp/load" |
				sed "s/\$/ $util/" >>"$tmp/runs"
		done
		mps[$s.$size]=$(awk '{ print $1 }' "$tmp/runs" | median)
		mbs[$s.$size]=$(awk '{ print $2 }' "$tmp/runs" | median)
		cpu[$s.$size]=$(awk '{ print $3 }' "$tmp/runs" | median)
	done
done
elapsed=$(($(date +%s) - t0))

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
{
	echo "<!-- bench/ws.sh: begin -->"
	echo "## WebSocket echo (bench/ws.sh)"
	echo
	echo "Generated by \`bash bench/ws.sh\` (one sitting, $((elapsed / 60)) min, started $started)."
	echo "Echo of binary messages over TLS 1.3, $CONNS connections with one message in flight each,"
	echo "medians of $RUNS runs of $SECS s; server on CPU 0, client (\`bench/ws-load\`, libtlsio, epoll,"
	echo "every echo compared byte for byte) on CPU 1; permessage-deflate off; same certificate."
	echo "Baselines: node $node_version with \`ws\` $ws_version over \`https\`; python3-websockets"
	echo "$py_version (asyncio, \`ssl\`). MB/s is echoed payload one way (10^6 bytes); ratio = msgs/s"
	echo "over node ws's. CPU: the server's, over the whole client run (handshakes and warm-up"
	echo "included): a server below 100% had more to give, and its client (one core) was the limit."
	echo
	printf '| server |'
	for size in $SIZES; do printf ' %s B msgs/s | MB/s | CPU | vs ws |' "$size"; done
	echo
	printf '|---|'
	for size in $SIZES; do printf -- '---:|---:|---:|---:|'; done
	echo
	for s in $servers; do
		case $s in
		node) name="node ws $ws_version" ;;
		python) name="python websockets $py_version" ;;
		*) name="tlsio-ws ($s)" ;;
		esac
		printf '| %s |' "$name"
		for size in $SIZES; do
			printf ' %s | %s | %s%% | %s |' "${mps[$s.$size]}" "${mbs[$s.$size]}" "${cpu[$s.$size]}" \
				"$(ratio "${mps[$s.$size]}" "${mps[node.$size]}")"
		done
		echo
	done
	echo "<!-- bench/ws.sh: end -->"
} >"$tmp/section"
cat "$tmp/section"
if grep -q '^<!-- bench/ws.sh: begin -->' "$OUT" 2>/dev/null; then
	awk -v f="$tmp/section" '
		/^<!-- bench\/ws.sh: begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
		/^<!-- bench\/ws.sh: end -->/ { skip = 0; next }
		!skip { print }' "$OUT" >"$tmp/new" && cat "$tmp/new" >"$OUT"
else
	{ echo; cat "$tmp/section"; } >>"$OUT"
fi
log "wrote the section into $OUT"
