#!/bin/sh
# SPDX-License-Identifier: MIT
# tlsio-ws on every usable backend against python3-websockets (tests/ws-smoke.py): echoes of
# 0 B to 16 MiB checked by SHA-256, with and without permessage-deflate, with 4 KiB socket
# buffers on the server so its sends come back short; protocol violations and their close
# codes; a frame above --max-message; broadcast mode (every client gets every message, in each
# sender's order); keep-alive pings and the 1011 close of a client that does not answer.
# Debian's python3-websockets imports under /usr/bin/python3 only, so that interpreter runs
# the client.
. "$(dirname "$0")/lib.sh"
tlsio_test_init ws-smoke tlsio-ws
srcdir=${srcdir:-$(dirname "$0")/..}
py=/usr/bin/python3
if ! $py -c 'import websockets' 2>/dev/null; then
	echo "SKIP ws-smoke: /usr/bin/python3 cannot import websockets (apt-get install python3-websockets)"
	exit 77
fi
list=$("$bin/tlsio-ws" --list-backends) || { echo "FAIL: tlsio-ws --list-backends"; exit 1; }
usable=$(echo "$list" | awk 'NF == 1 { print $1 }')
[ -n "$usable" ] || { echo "SKIP ws-smoke: no usable backend"; exit 77; }

start() { # NAME ARGS...: a server in the background, its port in $port
	n=$1
	shift
	"$bin/tlsio-ws" --listen 127.0.0.1:0 --cert "$certs/server.pem" --key "$certs/server.key" \
		"$@" >"$tmp/$n.out" 2>"$tmp/err" &
	server_pid=$!
	wait_for "$tmp/$n.out" "listening on" || { fail "$n: not listening: $(cat "$tmp/err")"; return 1; }
	port=$(sed -n 's/^listening on 127.0.0.1://p' "$tmp/$n.out")
}

for be in $usable; do
	if start "$be" --backend "$be" --sndbuf 4096 --rcvbuf 4096; then
		if out=$(timeout 240 $py "$srcdir/tests/ws-smoke.py" "$port" "$certs/ca.pem" 2>&1); then
			echo "[$be] $out"
		else
			fail "[$be] $out"
		fi
		grep -q "closing with 1002: client frame not masked" "$tmp/err" ||
			fail "[$be] the violation was not logged: $(cat "$tmp/err")"
		stop_server "[$be] tlsio-ws"
	fi
	if start "$be-limit" --backend "$be" --max-message 1M; then
		if out=$(timeout 60 $py "$srcdir/tests/ws-smoke.py" "$port" "$certs/ca.pem" too-big 2>&1); then
			echo "[$be] $out"
		else
			fail "[$be] $out"
		fi
		stop_server "[$be] tlsio-ws --max-message 1M"
	fi
	if start "$be-broadcast" --backend "$be" --mode broadcast --sndbuf 4096 --rcvbuf 4096; then
		if out=$(timeout 120 $py "$srcdir/tests/ws-smoke.py" "$port" "$certs/ca.pem" broadcast 2>&1); then
			echo "[$be] $out"
		else
			fail "[$be] $out"
		fi
		stop_server "[$be] tlsio-ws --mode broadcast"
	fi
	if start "$be-keepalive" --backend "$be" --ping-interval 300 --pong-timeout 1000; then
		if out=$(timeout 60 $py "$srcdir/tests/ws-smoke.py" "$port" "$certs/ca.pem" keepalive 2>&1); then
			echo "[$be] $out"
		else
			fail "[$be] $out"
		fi
		grep -q "closing with 1011" "$tmp/err" ||
			fail "[$be] the keep-alive close was not logged: $(cat "$tmp/err")"
		stop_server "[$be] tlsio-ws --ping-interval 300"
	fi
done
[ "$failures" -eq 0 ] || exit 1
