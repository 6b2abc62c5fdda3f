#!/bin/sh
# SPDX-License-Identifier: MIT
# tlsio-https on every usable backend: two keep-alive requests on one TLS connection (sent
# pipelined, answered in order), HEAD, a "Connection: close" request whose response ends with
# the connection, a POST whose body is discarded (and one over --max-body: 413; one cut short:
# closed), GET /stats with --count-tls-heap, garbage answered 400 + close, a body larger than the send queue, and the
# crypto path: the startup line names it and the negotiated cipher matches what it says.
# tlsio-get (the bulk benchmark's client) downloads the paced body twice on one keep-alive
# connection on the same backend, and its SHA-256 must match the body's.
# Not a benchmark (those are in bench/); this checks the HTTP framing load generators rely on.
builddir=${TLSIO_BUILDDIR:-.}
certs=${TLSIO_TEST_CERTS:-$(dirname "$0")/certs}
bin=$builddir/examples/tlsio-https
get=$builddir/examples/tlsio-get
command -v python3 >/dev/null 2>&1 || { echo "SKIP https-smoke: python3 not found"; exit 77; }
[ -x "$bin" ] && [ -x "$get" ] || { echo "FAIL: $bin or $get not built"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tlsio-https.XXXXXX") || exit 1
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/client.py" <<'EOF'
import socket, ssl, sys
host, port, ca, big = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
small = big == 100
ctx = ssl.create_default_context(cafile=ca)

def conn():
    s = socket.create_connection((host, port), timeout=20)
    return ctx.wrap_socket(s, server_hostname="localhost")

def read_response(f, head_only=False):
    status = f.readline()
    if not status:
        return None, {}, b""
    hdrs = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, v = line.decode().split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = 0 if head_only else int(hdrs.get("content-length", "0"))
    body = f.read(n) if n else b""
    return status.decode().strip(), hdrs, body

def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)

if not small:
    # a body larger than the server's send queue: paced by on_drain, must arrive whole
    s = conn()
    f = s.makefile("rb")
    s.sendall(b"GET /big HTTP/1.0\r\n\r\n")
    st, h, body = read_response(f)
    check(st == "HTTP/1.1 200 OK", "big status %r" % (st,))
    check(len(body) == big, "big body: %d of %d bytes" % (len(body), big))
    check(body[:26] == b"abcdefghijklmnopqrstuvwxyz", "big body pattern")
    check(f.read() == b"", "data after an HTTP/1.0 response")
    print("ok")
    sys.exit(0)

# keep-alive: two GETs written at once (pipelined), then a HEAD, then Connection: close
s = conn()
f = s.makefile("rb")
s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
for i in range(2):
    st, h, body = read_response(f)
    check(st == "HTTP/1.1 200 OK", "pipelined response %d status %r" % (i, st))
    check(len(body) == 100 and "connection" not in h, "pipelined response %d: %r" % (i, h))
s.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
st, h, body = read_response(f, head_only=True)
check(st == "HTTP/1.1 200 OK" and h.get("content-length") == "100", "HEAD: %r %r" % (st, h))
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
st, h, body = read_response(f)
check(st == "HTTP/1.1 200 OK" and h.get("connection") == "close" and len(body) == 100,
      "Connection: close response: %r %r" % (st, h))
check(f.read() == b"", "data after the Connection: close response")
cipher = s.cipher()[0]
s.close()

# POST: the body (Content-Length, sent in pieces, the next request pipelined right behind it)
# is read and discarded, then answered as a GET; the counters say how much was read and that
# wolfSSL's heap is counted (--count-tls-heap)
s = conn()
f = s.makefile("rb")
post = bytes(range(256)) * 1200  # 300 KiB, some of it looking like "\r\n\r\n" heads
s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(post))
for i in range(0, len(post), 70000):
    s.sendall(post[i:i + 70000])
s.sendall(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\nGET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
st, h, body = read_response(f)
check(st == "HTTP/1.1 200 OK" and len(body) == 100, "POST answered %r with %d bytes" % (st, len(body)))
st, h, body = read_response(f)
check(st == "HTTP/1.1 200 OK" and len(body) == 100, "GET after a POST: %r, %d bytes" % (st, len(body)))
st, h, body = read_response(f)
stats = dict(l.split(" ", 1) for l in body.decode().splitlines())
check(int(stats["request_body_bytes"]) == len(post), "request_body_bytes %r" % stats["request_body_bytes"])
check(int(stats["tls_heap_in_use"]) > 0, "tls_heap_in_use %r with --count-tls-heap" % stats["tls_heap_in_use"])
s.close()
# a body over --max-body: 413, then the server closes
s = conn()
f = s.makefile("rb")
s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n")
st, h, body = read_response(f)
check(st is not None and st.startswith("HTTP/1.1 413"), "over --max-body answered %r" % (st,))
check(f.read() == b"", "data after the 413")
s.close()
# a cut body: the client ends its side (close_notify) before the end of the body; the server
# closes without answering (unwrap() returns once the server's close_notify came; an answer
# before it, or no close, fails it)
s = conn()
s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100)
try:
    raw = s.unwrap()
except (ssl.SSLError, OSError) as e:
    check(False, "a POST cut short: %r (an answer, or no close)" % (e,))
check(raw.recv(1) == b"", "TCP bytes after the server's close_notify")
raw.close()
# garbage: 400, then the server closes
s = conn()
f = s.makefile("rb")
s.sendall(b"NONSENSE\r\n\r\n")
st, h, body = read_response(f)
check(st is not None and st.startswith("HTTP/1.1 400"), "garbage answered %r" % (st,))
check(f.read() == b"", "data after the 400")
s.close()

print("ok", cipher)
EOF

list=$("$bin" --list-backends) || { echo "FAIL: tlsio-https --list-backends"; exit 1; }
usable=$(echo "$list" | awk 'NF == 1 { print $1 }')
[ -n "$usable" ] || { echo "SKIP https-smoke: no usable backend"; exit 77; }
failures=0
# run_case BACKEND BODY_SIZE [server flags]: one server, the client's checks for that size
run_case() {
	be=$1 size=$2
	shift 2
	: >"$tmp/out"
	"$bin" --backend "$be" --cert "$certs/server.pem" --key "$certs/server.key" --listen 127.0.0.1:0 \
		--body-size "$size" "$@" >"$tmp/out" 2>"$tmp/err" &
	server_pid=$!
	i=0
	while ! grep -q "^listening on" "$tmp/out" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")
	if [ -z "$port" ]; then
		echo "FAIL: $be: server did not start: $(cat "$tmp/err")"
		failures=$((failures + 1))
	elif ! python3 "$tmp/client.py" 127.0.0.1 "$port" "$certs/ca.pem" "$size" >"$tmp/py" 2>&1; then
		echo "FAIL: $be, body $size: $(cat "$tmp/py")"
		failures=$((failures + 1))
	elif [ "$size" != 100 ]; then
		# the server's pattern (tlsio-https load_body): one --chunk buffer, repeated
		want=$(python3 -c "
import hashlib, sys
size, chunk = int(sys.argv[1]), int(sys.argv[2])
buf = bytes(10 if i % 64 == 63 else 97 + i % 26 for i in range(min(size, chunk)))
h = hashlib.sha256()
while size > 0:
    h.update(buf[:size]); size -= len(buf)
print(h.hexdigest())" "$size" 262144)
		got=$("$get" --backend "$be" --connect "127.0.0.1:$port" --ca "$certs/ca.pem" --path /big \
			--repeat 2 --expect-bytes "$size" --sha256 -q 2>&1)
		case $got in
		"$size "*" OK $want") ;;
		*)
			echo "FAIL: $be: tlsio-get: '$got', expected $size bytes with sha256 $want"
			failures=$((failures + 1))
			;;
		esac
	else
		# The startup line names the crypto path, and a client offering AES-GCM first (Python's
		# OpenSSL does) must get what that line says servers prefer.
		cipher=$(sed -n 's/^ok //p' "$tmp/py")
		if ! grep -q "crypto: wolfSSL" "$tmp/err"; then
			echo "FAIL: $be: no crypto line at startup: $(cat "$tmp/err")"
			failures=$((failures + 1))
		elif grep -q "servers prefer ChaCha20" "$tmp/err"; then
			[ "$cipher" = TLS_CHACHA20_POLY1305_SHA256 ] ||
				{ echo "FAIL: $be: ChaCha20 preferred but $cipher negotiated"; failures=$((failures + 1)); }
		else
			case $cipher in TLS_AES_*) ;; *)
				echo "FAIL: $be: AES-GCM preferred but $cipher negotiated"; failures=$((failures + 1)) ;;
			esac
		fi
	fi
	kill "$server_pid" 2>/dev/null
	wait "$server_pid"
	rc=$?
	server_pid=
	if [ $rc -ne 0 ]; then
		echo "FAIL: $be: server exited $rc: $(cat "$tmp/err")"
		failures=$((failures + 1))
	fi
}
for be in $usable; do
	before=$failures
	run_case "$be" 100 --max-body 1M --count-tls-heap
	run_case "$be" 9000000 --high-water 1M --chunk 256K
	[ $failures -ne $before ] ||
		echo "ok: $be: keep-alive, pipelining, HEAD, Connection: close, 400, paced 9 MB body, tlsio-get, $cipher"
done
[ $failures -eq 0 ] || exit 1
exit 0
