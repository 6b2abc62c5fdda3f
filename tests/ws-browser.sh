#!/bin/sh
# SPDX-License-Identifier: MIT
# Headless Chromium against tlsio-ws on every usable backend: the page (tests/ws-browser.html)
# comes over HTTPS from tlsio-ws, opens wss:// to it (permessage-deflate, as Chromium offers)
# and to a second tlsio-ws with --no-deflate, and checks the SHA-256 of every echo of messages
# from 0 B to 4 MiB in JavaScript. Both servers have 4 KiB socket buffers, so their sends come
# back short (the summary's short-write count must not be 0). The test CA is trusted in a
# throw-away NSS database ($HOME/.pki/nssdb of a scratch HOME): no certificate error is ignored.
. "$(dirname "$0")/lib.sh"
tlsio_test_init ws-browser tlsio-ws
srcdir=${srcdir:-$(dirname "$0")/..}
chromium=${CHROMIUM:-chromium}
if ! command -v "$chromium" >/dev/null 2>&1; then
	echo "SKIP ws-browser: no $chromium (apt-get install chromium)"
	exit 77
fi
if ! command -v certutil >/dev/null 2>&1; then
	echo "SKIP ws-browser: no certutil to trust the test CA in an NSS database (apt-get install libnss3-tools)"
	exit 77
fi
list=$("$bin/tlsio-ws" --list-backends) || { echo "FAIL: tlsio-ws --list-backends"; exit 1; }
usable=$(echo "$list" | awk 'NF == 1 { print $1 }')
[ -n "$usable" ] || { echo "SKIP ws-browser: no usable backend"; exit 77; }

home=$tmp/home
mkdir -p "$home/.pki/nssdb"
certutil -d "sql:$home/.pki/nssdb" -N --empty-password || { echo "FAIL: certutil -N"; exit 1; }
certutil -d "sql:$home/.pki/nssdb" -A -t "C,," -n "libtlsio test CA" -i "$certs/ca.pem" ||
	{ echo "FAIL: certutil -A $certs/ca.pem"; exit 1; }
sandbox=
[ "$(id -u)" -ne 0 ] || sandbox=--no-sandbox # Chromium's sandbox refuses to run as root

browser_pid=
stop_browser() { # Chromium and its zygote, GPU and renderer processes: one process group
	if [ -n "$browser_pid" ]; then
		kill -9 "-$browser_pid" 2>/dev/null # dash: no "--"
		wait "$browser_pid" 2>/dev/null
		browser_pid=
	fi
}
trap 'stop_browser; tlsio_test_cleanup' EXIT

start() { # NAME ARGS...: a server in the background, its pid in $last_pid, its port in $port
	n=$1
	shift
	"$bin/tlsio-ws" --listen 127.0.0.1:0 --cert "$certs/server.pem" --key "$certs/server.key" \
		--sndbuf 4096 --rcvbuf 4096 "$@" >"$tmp/$n.out" 2>"$tmp/$n.err" &
	last_pid=$!
	wait_for "$tmp/$n.out" "listening on" || { fail "$n: not listening: $(cat "$tmp/$n.err")"; return 1; }
	port=$(sed -n 's/^listening on 127.0.0.1://p' "$tmp/$n.out")
}

# stop NAME PID BACKEND: SIGTERM, exit status 0, the summary printed. On epoll and libev the
# 4 KiB buffer must have cut sends short (short writes or EAGAIN in the summary); io_uring's
# sends carry MSG_WAITALL, so the kernel resumes its own short sends, and blocking sockets wait
# in send(2): on those two the counts are printed, not required.
stop() {
	server_pid=$2
	cp "$tmp/$1.err" "$tmp/err"
	stop_server "$1"
	summary=$(grep 'connections (' "$tmp/$1.err")
	case $summary in
	"") fail "$1: no summary: $(cat "$tmp/$1.err")" ;;
	*" 0 short writes, 0 EAGAIN"*)
		case $3 in
		epoll | libev) fail "$1: no send came back short with --sndbuf 4096: $summary" ;;
		*) echo "  $1: ${summary#tlsio-ws: }" ;;
		esac
		;;
	*) echo "  $1: ${summary#tlsio-ws: }" ;;
	esac
}

seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
for be in $usable; do
	start "$be" --backend "$be" --page "$srcdir/tests/ws-browser.html" || continue
	pd_pid=$last_pid
	pd_port=$port
	pids="$pd_pid"
	if ! start "$be-plain" --backend "$be" --no-deflate; then
		server_pid=$pd_pid
		stop_server "$be"
		continue
	fi
	pl_pid=$last_pid
	pids="$pd_pid $pl_pid"
	url="https://localhost:$pd_port/?seed=$seed&plain=$port"
	# --enable-logging=stderr puts the page's console.log lines on stderr, as
	# ...:INFO:CONSOLE:N] "TLSIO-RESULT ok: ...", source: https://... (N)
	HOME=$home setsid "$chromium" --headless $sandbox --disable-gpu --no-first-run \
		--no-default-browser-check --disable-extensions --disable-background-networking \
		--user-data-dir="$tmp/profile-$be" --enable-logging=stderr --v=0 "$url" \
		>"$tmp/chromium-$be.log" 2>&1 &
	browser_pid=$!
	i=0
	while ! grep -q 'TLSIO-RESULT' "$tmp/chromium-$be.log" && [ $i -lt 3600 ] &&
		kill -0 "$browser_pid" 2>/dev/null; do
		sleep 0.05
		i=$((i + 1))
	done
	stop_browser
	result=$(sed -n 's/.*"\(TLSIO-RESULT [^"]*\)".*/\1/p' "$tmp/chromium-$be.log" | head -n 1)
	case $result in
	"TLSIO-RESULT ok:"*) echo "[$be] ${result#TLSIO-RESULT } (seed $seed)" ;;
	"") fail "[$be] no result from the page in 180 s (seed $seed): $(grep -v dbus "$tmp/chromium-$be.log" | tail -n 20)" ;;
	*) fail "[$be] $result (seed $seed)" ;;
	esac
	stop "$be" "$pd_pid" "$be"
	stop "$be-plain" "$pl_pid" "$be"
	pids=
done
[ "$failures" -eq 0 ] || exit 1
