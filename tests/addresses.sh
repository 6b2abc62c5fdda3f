#!/bin/sh
# SPDX-License-Identifier: MIT
# The examples' address and transport flags, on every usable backend:
#  - tlsio-https --unix PATH --unix-mode 0600: the file is a socket with mode 600 (stat), HTTPS
#    over it from python3 (AF_UNIX + ssl, server_hostname "localhost") and from tlsio-get
#    --unix --server-name; the file is gone after SIGTERM;
#  - tlsio-https --plain on TCP: plain HTTP from curl (or python3) and tlsio-get --plain;
#  - tlsio-echo and tlsio-client over a Unix socket file with TLS (--server-name localhost),
#    plain over an abstract one (--unix @NAME), and by host name (--connect localhost:PORT,
#    resolved by the library, the certificate checked against "localhost").
# Once: a socket file left by a killed server is replaced by the next one; the usage errors
# (--unix with --threads 2, TLS over --unix without --server-name, --connect and --unix,
# --unix-mode without a socket file); a refused name and an unresolvable one print
# tlsio_conn_error_detail()'s sentence.
. "$(dirname "$0")/lib.sh"
tlsio_test_python || { echo "SKIP addresses: python3 not found"; exit 77; }
tlsio_test_init addr tlsio-https tlsio-get tlsio-echo tlsio-client
tls_args="--cert $certs/server.pem --key $certs/server.key"

# get.py tls|plain WHERE CA: GET / on WHERE (a socket path or HOST:PORT); 200 and the
# 128-byte pattern, else a message and exit 1
cat >"$tmp/get.py" <<'EOF'
import socket, ssl, sys
kind, where, ca = sys.argv[1], sys.argv[2], sys.argv[3]
want = bytes((10 if i % 64 == 63 else 97 + i % 26) for i in range(128))
if where.startswith("/"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(where)
else:
    host, port = where.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=20)
if kind == "tls":
    s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="localhost")
s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
resp = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    resp += b
head, _, body = resp.partition(b"\r\n\r\n")
if not head.startswith(b"HTTP/1.1 200 ") or body != want:
    print("FAIL: %s GET on %s: %r" % (kind, where, resp[:200]))
    sys.exit(1)
print("ok", s.version() if kind == "tls" else "plain")
if kind == "tls":
    s = s.unwrap()
s.close()
EOF

# start NAME ARGS...: a server in the background; sets server_pid and addr (its first
# "listening on" address, "" if it did not start within 5 s)
start() {
	name=$1
	shift
	: >"$tmp/out"
	"$bin/$name" "$@" >"$tmp/out" 2>"$tmp/err" &
	server_pid=$!
	i=0
	while ! grep -q "^listening on" "$tmp/out" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	addr=$(sed -n 's/^listening on //p' "$tmp/out" | head -n 1)
	[ -n "$addr" ] || fail "$name $*: did not start: $(cat "$tmp/err")"
}

# usage CODE PATTERN TOOL ARGS...: the tool exits CODE with PATTERN on stderr
usage() {
	code=$1 pattern=$2
	shift 2
	"$@" >/dev/null 2>"$tmp/usage" </dev/null
	rc=$?
	[ $rc -eq "$code" ] && grep -q -- "$pattern" "$tmp/usage" ||
		fail "$*: exit $rc (expected $code): $(cat "$tmp/usage")"
}

usage 2 "cannot be shared by --threads 2" "$bin/tlsio-https" $tls_args --unix "$tmp/x.sock" --threads 2
usage 2 "cannot be shared by --threads 2" "$bin/tlsio-echo" $tls_args --listen "unix:$tmp/x.sock" --threads 2
usage 2 "give --server-name NAME" "$bin/tlsio-client" --unix "$tmp/x.sock" --ca "$certs/ca.pem"
usage 2 "give --server-name NAME" "$bin/tlsio-get" --connect "unix:$tmp/x.sock" --ca "$certs/ca.pem"
usage 2 "give --connect or --unix, not both" "$bin/tlsio-get" --unix "$tmp/x.sock" --connect 127.0.0.1:1 --plain
usage 2 "give --listen or --unix, not both" "$bin/tlsio-echo" --plain --unix "$tmp/x.sock" --listen 127.0.0.1:0
usage 2 "applies to a Unix socket file" "$bin/tlsio-https" --plain --unix-mode 0600
usage 2 "bad value for --unix-mode" "$bin/tlsio-https" --plain --unix "$tmp/x.sock" --unix-mode 0999
usage 2 "needs a certificate and its key" "$bin/tlsio-https" --unix "$tmp/x.sock"
# a refused name and one that does not resolve: the library's sentence says what happened
usage 1 "localhost:1: 127.0.0.1:1: Connection refused" "$bin/tlsio-client" --connect localhost:1 \
	--ca "$certs/ca.pem" -q
"$bin/tlsio-get" --connect nosuch.invalid:443 --connect-timeout 3000 -q >/dev/null 2>"$tmp/usage"
rc=$?
[ $rc -eq 1 ] && grep -q "cannot resolve 'nosuch.invalid" "$tmp/usage" ||
	grep -q "connect timed out\|timeout" "$tmp/usage" ||
	fail "tlsio-get --connect nosuch.invalid:443: exit $rc: $(cat "$tmp/usage")"

list=$("$bin/tlsio-https" --list-backends) || { echo "FAIL: tlsio-https --list-backends"; exit 1; }
usable=$(echo "$list" | awk 'NF == 1 { print $1 }')
[ -n "$usable" ] || { echo "SKIP addresses: no usable backend"; exit 77; }
have_curl=0
command -v curl >/dev/null 2>&1 && have_curl=1
first=1
sock=$tmp/https.sock
for be in $usable; do
	before=$failures

	# HTTPS on a socket file with mode 0600
	if [ $first -eq 1 ]; then
		# a file a killed server left behind (nobody listens): the next server replaces it
		start tlsio-https --backend "$be" $tls_args --unix "$sock"
		kill -9 "$server_pid"
		wait "$server_pid" 2>/dev/null
		server_pid=
		[ -S "$sock" ] || fail "a killed server's socket file is not left behind"
		first=0
	fi
	start tlsio-https --backend "$be" $tls_args --unix "$sock" --unix-mode 0600
	if [ -n "$addr" ]; then
		[ "$addr" = "unix:$sock" ] || fail "$be: tlsio-https --unix says it listens on '$addr'"
		got=$(stat -c '%a %F' "$sock")
		[ "$got" = "600 socket" ] || fail "$be: --unix-mode 0600: the file is '$got'"
		$py "$tmp/get.py" tls "$sock" "$certs/ca.pem" >"$tmp/py" 2>&1 ||
			fail "$be: HTTPS over --unix: $(cat "$tmp/py")"
		got=$("$bin/tlsio-get" --backend "$be" --unix "$sock" --server-name localhost \
			--ca "$certs/ca.pem" --expect-bytes 128 -q 2>&1)
		case $got in "128 "*" OK") ;; *) fail "$be: tlsio-get --unix: $got" ;; esac
		stop_server "$be: tlsio-https --unix"
		[ ! -e "$sock" ] || fail "$be: the socket file is still there after the server ended"
	fi

	# plain HTTP on TCP
	start tlsio-https --backend "$be" --plain --listen 127.0.0.1:0
	if [ -n "$addr" ]; then
		grep -q "plain HTTP (--plain): no TLS" "$tmp/err" ||
			fail "$be: tlsio-https --plain does not say so: $(cat "$tmp/err")"
		if [ $have_curl -eq 1 ]; then
			body=$(curl -sS --max-time 20 "http://$addr/" 2>&1 | head -c 26)
			[ "$body" = abcdefghijklmnopqrstuvwxyz ] || fail "$be: curl http:// to --plain: $body"
		else
			$py "$tmp/get.py" plain "$addr" - >"$tmp/py" 2>&1 ||
				fail "$be: plain HTTP: $(cat "$tmp/py")"
		fi
		got=$("$bin/tlsio-get" --backend "$be" --plain --connect "$addr" --repeat 2 \
			--expect-bytes 128 -q 2>&1)
		case $got in "128 "*" OK") ;; *) fail "$be: tlsio-get --plain: $got" ;; esac
		stop_server "$be: tlsio-https --plain"
		grep -q "connections (0 not closed cleanly)" "$tmp/err" ||
			fail "$be: tlsio-https --plain: $(tail -n 1 "$tmp/err")"
	fi

	# echo: TLS over a socket file, plain over an abstract socket, TLS by host name
	start tlsio-echo --backend "$be" $tls_args --unix "$tmp/echo.sock"
	if [ -n "$addr" ]; then
		got=$("$bin/tlsio-client" --backend "$be" --unix "$tmp/echo.sock" --server-name localhost \
			--ca "$certs/ca.pem" --bytes 1M --json 2>&1)
		case $got in *'"digest_ok":true'*'"ok":true}') ;; *) fail "$be: tlsio-client --unix: $got" ;; esac
		stop_server "$be: tlsio-echo --unix"
	fi
	abstract="@tlsio-test-$$-$be"
	start tlsio-echo --backend "$be" --plain --unix "$abstract"
	if [ -n "$addr" ]; then
		[ "$addr" = "unix:$abstract" ] || fail "$be: tlsio-echo --unix $abstract says it listens on '$addr'"
		got=$("$bin/tlsio-client" --backend "$be" --plain --unix "$abstract" --bytes 1M --json 2>&1)
		case $got in
		*'"tls_version":null'*'"digest_ok":true'*'"ok":true}') ;;
		*) fail "$be: tlsio-client --plain --unix $abstract: $got" ;;
		esac
		stop_server "$be: tlsio-echo --plain --unix $abstract"
	fi
	start tlsio-echo --backend "$be" $tls_args --listen 127.0.0.1:0
	if [ -n "$addr" ]; then
		got=$("$bin/tlsio-client" --backend "$be" --connect "localhost:${addr##*:}" \
			--ca "$certs/ca.pem" --bytes 1M --json 2>&1)
		case $got in *'"digest_ok":true'*'"ok":true}') ;; *) fail "$be: tlsio-client --connect localhost: $got" ;; esac
		stop_server "$be: tlsio-echo"
	fi

	[ $failures -ne $before ] ||
		echo "ok: $be: https --unix (mode 600, python ssl, tlsio-get), https --plain ($([ $have_curl -eq 1 ] && echo curl || echo python3), tlsio-get), echo over a socket file (TLS), @abstract (plain), localhost:PORT (TLS)"
done
[ $failures -eq 0 ] || exit 1
exit 0
