#!/bin/sh
# SPDX-License-Identifier: MIT
# Inherited listening sockets (tlsio_listen_fds(), "fd:N") through tlsio-https, on every usable
# backend:
#  - systemd-socket-activate passes a TCP socket and a Unix socket file (fds 3 and 4) and
#    execs tlsio-https --listen systemd at the first connection; HTTPS requests over both must
#    be answered (python3 ssl; curl too when installed, --unix-socket for the file);
#  - no systemd at all: this test's own launcher makes the socket, puts it at fd 3, sets
#    LISTEN_FDS=1 and LISTEN_PID (its own pid: it execs in place, the pid stays) and execs
#    tlsio-https --listen systemd --threads 2 (both threads share the socket's accept queue);
#    LISTEN_PID naming another process must be refused as "no socket was passed";
#  - a plain fd handover: --listen fd:3 --plain, plain HTTP over it.
# Each server must end with exit 0 on SIGTERM. --listen systemd without the variables, and
# fd:N of no socket, are errors that say why.
. "$(dirname "$0")/lib.sh"
activate=$(command -v systemd-socket-activate 2>/dev/null)
[ -n "$activate" ] || [ ! -x /lib/systemd/systemd-socket-activate ] ||
	activate=/lib/systemd/systemd-socket-activate
[ -n "$activate" ] ||
	{ echo "SKIP socket-activate: systemd-socket-activate not found (apt-get install systemd)"; exit 77; }
tlsio_test_python || { echo "FAIL: socket-activate: python3 not found"; exit 1; }
tlsio_test_init activate tlsio-https
bin=$bin/tlsio-https

# fetch.py tls|plain WHERE CA N: N requests for / on WHERE ("HOST:PORT" or a socket path),
# each on its own connection, each must be 200 with tlsio-https's 128-byte pattern
cat >"$tmp/fetch.py" <<'EOF'
import socket, ssl, sys
kind, where, ca, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
want = bytes((10 if i % 64 == 63 else 97 + i % 26) for i in range(128))
ctx = ssl.create_default_context(cafile=ca)
for i in range(n):
    if where.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(where)
    else:
        host, port = where.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=20)
    if kind == "tls":
        s = ctx.wrap_socket(s, server_hostname="localhost")
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    resp = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        resp += b
    head, _, body = resp.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 ") or body != want:
        print("FAIL: %s request %d on %s: %r" % (kind, i, where, resp[:200]))
        sys.exit(1)
    ver = s.version() if kind == "tls" else "plain"
    if kind == "tls":
        s = s.unwrap()  # our close_notify: the server counts a clean close
    s.close()
print("ok", ver)
EOF

# launch.py PORTFILE PID|self|fdonly ARGS...: listen on 127.0.0.1:0 (port into PORTFILE),
# put the socket at fd 3 and exec ARGS in place; "self" sets LISTEN_FDS=1 and LISTEN_PID to
# this very process (the exec keeps the pid), a number sets LISTEN_PID to it, "fdonly" sets
# nothing (a plain handover: --listen fd:3)
cat >"$tmp/launch.py" <<'EOF'
import os, socket, sys
portfile, pid, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen(64)
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
os.rename(portfile + ".tmp", portfile)
if s.fileno() == 3:
    os.set_inheritable(3, True)  # Python's sockets are close-on-exec
    s.detach()
else:
    os.dup2(s.fileno(), 3)  # the copy is inheritable
    s.close()
env = dict(os.environ)
for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
    env.pop(k, None)
if pid != "fdonly":
    env["LISTEN_FDS"] = "1"
    env["LISTEN_PID"] = str(os.getpid()) if pid == "self" else pid
os.execve(argv[0], argv, env)
EOF


free_port() {
	$py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

tls_args="--cert $certs/server.pem --key $certs/server.key"

# the errors: nothing passed, an fd that is no socket
env -u LISTEN_FDS -u LISTEN_PID "$bin" --listen systemd $tls_args >/dev/null 2>"$tmp/e1"
rc=$?
[ $rc -eq 1 ] && grep -q "no socket was passed" "$tmp/e1" ||
	fail "--listen systemd without \$LISTEN_FDS: exit $rc: $(cat "$tmp/e1")"
"$bin" --listen fd:9 $tls_args >/dev/null 2>"$tmp/e2" 9<&-
rc=$?
[ $rc -eq 1 ] && grep -q "cannot listen on fd:9: Bad file descriptor" "$tmp/e2" ||
	fail "--listen fd:9 (not open): exit $rc: $(cat "$tmp/e2")"

list=$("$bin" --list-backends) || { echo "FAIL: tlsio-https --list-backends"; exit 1; }
usable=$(echo "$list" | awk 'NF == 1 { print $1 }')
[ -n "$usable" ] || { echo "SKIP socket-activate: no usable backend"; exit 77; }
have_curl=0
command -v curl >/dev/null 2>&1 && have_curl=1

for be in $usable; do
	before=$failures
	# systemd-socket-activate: a TCP socket and a socket file, exec at the first connection
	port=$(free_port)
	sock=$tmp/https.sock
	rm -f "$sock"
	: >"$tmp/err"
	"$activate" --listen="127.0.0.1:$port" --listen="$sock" \
		"$bin" --backend "$be" --listen systemd $tls_args >"$tmp/out" 2>"$tmp/err" &
	server_pid=$!
	if ! wait_for "$tmp/err" "Listening on $sock"; then
		fail "$be: systemd-socket-activate did not listen: $(cat "$tmp/err")"
	else
		$py "$tmp/fetch.py" tls "127.0.0.1:$port" "$certs/ca.pem" 2 >"$tmp/py" 2>&1 ||
			fail "$be: systemd, TCP: $(cat "$tmp/py")"
		ver=$(sed -n 's/^ok //p' "$tmp/py")
		$py "$tmp/fetch.py" tls "$sock" "$certs/ca.pem" 2 >"$tmp/py" 2>&1 ||
			fail "$be: systemd, Unix socket: $(cat "$tmp/py")"
		if [ $have_curl -eq 1 ]; then
			body=$(curl -sS --max-time 20 --cacert "$certs/ca.pem" "https://localhost:$port/" 2>&1 | head -c 26)
			[ "$body" = abcdefghijklmnopqrstuvwxyz ] || fail "$be: systemd, curl over TCP: $body"
			body=$(curl -sS --max-time 20 --cacert "$certs/ca.pem" --unix-socket "$sock" \
				https://localhost/ 2>&1 | head -c 26)
			[ "$body" = abcdefghijklmnopqrstuvwxyz ] || fail "$be: systemd, curl --unix-socket: $body"
		fi
		[ "$(grep -c '^listening on ' "$tmp/out")" -eq 2 ] &&
			grep -q "^listening on 127.0.0.1:$port\$" "$tmp/out" &&
			grep -q "^listening on unix:$sock\$" "$tmp/out" ||
			fail "$be: systemd: the server's listening lines: $(cat "$tmp/out")"
	fi
	stop_server "$be: systemd-socket-activate"

	# no systemd: the launcher passes the socket, two threads share it
	rm -f "$tmp/port"
	$py "$tmp/launch.py" "$tmp/port" self "$bin" --backend "$be" --listen systemd --threads 2 \
		$tls_args >"$tmp/out" 2>"$tmp/err" &
	server_pid=$!
	if ! wait_for "$tmp/out" "^listening on"; then
		fail "$be: launcher: tlsio-https did not start: $(cat "$tmp/err")"
	else
		port=$(cat "$tmp/port")
		$py "$tmp/fetch.py" tls "127.0.0.1:$port" "$certs/ca.pem" 8 >"$tmp/py" 2>&1 ||
			fail "$be: launcher, LISTEN_FDS=1: $(cat "$tmp/py")"
		grep -q "2 threads (one loop each, sharing the inherited sockets' accept queues)" "$tmp/err" ||
			fail "$be: launcher: the startup line: $(cat "$tmp/err")"
	fi
	stop_server "$be: launcher, --listen systemd --threads 2"
	grep -q "^tlsio-https: 8 connections (0 not closed cleanly), 8 requests" "$tmp/err" ||
		fail "$be: launcher: summary: $(tail -n 1 "$tmp/err")"

	# LISTEN_PID of another process (the shell's): meant for someone else, not taken
	rm -f "$tmp/port"
	$py "$tmp/launch.py" "$tmp/port" $$ "$bin" --backend "$be" --listen systemd $tls_args \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 1 ] && grep -q "no socket was passed" "$tmp/err" ||
		fail "$be: LISTEN_PID of another process: exit $rc: $(cat "$tmp/err")"

	# a plain handover, no environment: --listen fd:3, plain HTTP
	rm -f "$tmp/port"
	$py "$tmp/launch.py" "$tmp/port" fdonly "$bin" --backend "$be" --listen fd:3 --plain \
		>"$tmp/out" 2>"$tmp/err" &
	server_pid=$!
	if ! wait_for "$tmp/out" "^listening on"; then
		fail "$be: fd:3: tlsio-https did not start: $(cat "$tmp/err")"
	else
		port=$(cat "$tmp/port")
		$py "$tmp/fetch.py" plain "127.0.0.1:$port" "$certs/ca.pem" 2 >"$tmp/py" 2>&1 ||
			fail "$be: --listen fd:3 --plain: $(cat "$tmp/py")"
	fi
	stop_server "$be: --listen fd:3 --plain"

	[ $failures -ne $before ] ||
		echo "ok: $be: systemd-socket-activate TCP + Unix ($ver$([ $have_curl -eq 1 ] && echo ', curl too')), own launcher with 2 threads, foreign LISTEN_PID refused, fd:3 plain"
done
[ $failures -eq 0 ] || exit 1
exit 0
