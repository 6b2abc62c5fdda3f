#!/bin/sh
# SPDX-License-Identifier: MIT
# STARTTLS (tlsio_starttls) through the examples, on every usable backend: tlsio-echo
# --starttls smtp speaks SMTP's plaintext part on a plain listener and switches each connection
# to TLS in place when asked. Its peers are three independent STARTTLS clients:
#  - openssl s_client -starttls smtp, which must verify the server (CA, host name "localhost")
#    and say which TLS version it got; 1 MiB of random bytes as base64 lines goes through it and
#    must come back with the same SHA-256;
#  - python3's ssl over a socket that spoke the SMTP part by hand (SNI "localhost");
#  - tlsio-client --starttls smtp, the library on both ends.
# Plus the plaintext part itself (greeting, EHLO/HELO, NOOP, 530 before STARTTLS, QUIT, a line
# split over two writes, a line too long), and the command injection of CVE-2011-0411:
# "STARTTLS\r\nEHLO injected\r\n" in one write must be closed without any answer, neither the
# 220 nor one to the injected line. SIGTERM must end the server with exit 0 and no failed
# connection.
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null 2>&1 ||
	{ echo "SKIP starttls: openssl not found (apt-get install openssl)"; exit 77; }
tlsio_test_python || { echo "FAIL: starttls: python3 not found"; exit 1; }
tlsio_test_init starttls tlsio-echo tlsio-client

cat >"$tmp/smtp.py" <<'EOF'
import base64, hashlib, os, select, socket, ssl, subprocess, sys, threading, time
mode, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)

class Lines:
    """CRLF lines off a plain socket, reading no byte past the line asked for (what follows a
    220 to STARTTLS is the TLS server's, not ours to buffer)."""
    def __init__(self, s):
        self.s = s
    def line(self):
        out = b""
        while not out.endswith(b"\n"):
            b = self.s.recv(1)
            if not b:
                break
            out += b
        return out

def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    r = Lines(s)
    g = r.line()
    check(g == b"220 tlsio-echo ESMTP ready\r\n", "greeting %r" % g)
    return s, r

def ehlo(s, r, name=b"py"):
    s.sendall(b"EHLO " + name + b"\r\n")
    a, b = r.line(), r.line()
    check((a, b) == (b"250-tlsio-echo\r\n", b"250 STARTTLS\r\n"), "EHLO reply %r %r" % (a, b))

if mode == "s_client":
    # openssl reads its stdin in pieces and writes them as records: lines of text, since a
    # terminal-minded client is no place for binary
    payload = b"EHLO after-tls\r\nhello\n" + base64.encodebytes(os.urandom(1 << 20))
    p = subprocess.Popen(["openssl", "s_client", "-starttls", "smtp", "-connect",
                          "127.0.0.1:%d" % port, "-CAfile", ca, "-verify_hostname", "localhost",
                          "-verify_return_error", "-brief", "-nocommands"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    def feed():
        try:
            p.stdin.write(payload)
            p.stdin.flush()
        except OSError:
            pass  # it died: the read below tells
    threading.Thread(target=feed, daemon=True).start()
    got = bytearray()
    fd = p.stdout.fileno()
    deadline = time.monotonic() + 30
    while len(got) < len(payload) and time.monotonic() < deadline:
        if select.select([fd], [], [], 1)[0]:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            got += chunk
    # stdin's end: s_client sends close_notify and exits (-brief does not ignore EOF)
    p.stdin.close()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    err = p.stderr.read().decode(errors="replace")
    check(len(got) == len(payload), "s_client echoed %d of %d bytes; its stderr: %s" %
          (len(got), len(payload), err.strip()))
    check(hashlib.sha256(got).digest() == hashlib.sha256(payload).digest(), "s_client: echo differs")
    check("Verification: OK" in err, "s_client did not verify the server: %s" % err.strip())
    check("Verified peername: localhost" in err, "s_client peer name: %s" % err.strip())
    ver = [l.split(":", 1)[1].strip() for l in err.splitlines() if l.startswith("Protocol version:")]
    check(ver and ver[0].startswith("TLSv1."), "s_client reports no TLS version: %s" % err.strip())
    print("ok", ver[0], "%d bytes" % len(got))

elif mode == "pyssl":
    s, r = connect()
    ehlo(s, r)
    s.sendall(b"STARTTLS\r\n")
    a = r.line()
    check(a == b"220 2.0.0 Ready to start TLS\r\n", "STARTTLS answered %r" % a)
    ctx = ssl.create_default_context(cafile=ca)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    data = os.urandom(256 * 1024)
    t.sendall(data)
    got = bytearray()
    while len(got) < len(data):
        chunk = t.recv(1 << 16)
        if not chunk:
            break
        got += chunk
    check(bytes(got) == data, "python ssl: %d of %d bytes came back, or differ" % (len(got), len(data)))
    print("ok", t.version())
    t.unwrap()  # close_notify both ways: a clean end for the server too
    s.close()

elif mode == "plain":
    s, r = connect()
    for cmd, want in ((b"NOOP", b"250 2.0.0 OK\r\n"),
                      (b"MAIL FROM:<a@example.test>", b"530 5.7.0 Must issue a STARTTLS command first\r\n"),
                      (b"HELO x", b"250 tlsio-echo\r\n")):
        s.sendall(cmd + b"\r\n")
        a = r.line()
        check(a == want, "%r answered %r, expected %r" % (cmd, a, want))
    # a command in two writes is still one line
    s.sendall(b"EH")
    time.sleep(0.05)
    s.sendall(b"LO split\r\n")
    a, b = r.line(), r.line()
    check((a, b) == (b"250-tlsio-echo\r\n", b"250 STARTTLS\r\n"), "split EHLO answered %r %r" % (a, b))
    s.sendall(b"QUIT\r\n")
    a = r.line()
    check(a == b"221 2.0.0 Bye\r\n", "QUIT answered %r" % a)
    check(s.recv(100) == b"", "no close after QUIT")
    s.close()
    # RFC 5321's 1000-byte text line is the limit: refused, then closed
    s, r = connect()
    s.sendall(b"EHLO " + b"x" * 2000 + b"\r\n")
    a = r.line()
    check(a == b"500 5.5.2 Line too long\r\n", "a 2007-byte line answered %r" % a[:60])
    check(s.recv(100) == b"", "no close after a line too long")
    s.close()
    print("ok")

elif mode == "inject":
    s, r = connect()
    ehlo(s, r)
    # the injection: a man in the middle's command behind STARTTLS, in the same segment
    s.sendall(b"STARTTLS\r\nEHLO injected\r\n")
    got = b""
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except ConnectionResetError:
        pass
    check(got == b"", "after an injected command the server answered %r" % got)
    print("ok")
EOF

list=$("$bin/tlsio-echo" --list-backends) || { echo "FAIL: tlsio-echo --list-backends"; exit 1; }
usable=$(echo "$list" | awk 'NF == 1 { print $1 }')
[ -n "$usable" ] || { echo "SKIP starttls: no usable backend"; exit 77; }

# usage: a STARTTLS server needs the certificate it switches to
"$bin/tlsio-echo" --plain --starttls smtp >/dev/null 2>"$tmp/usage"
[ $? -eq 2 ] && grep -q -- "--cert FILE --key FILE" "$tmp/usage" ||
	fail "tlsio-echo --starttls without --cert: expected a usage error: $(cat "$tmp/usage")"
"$bin/tlsio-echo" --starttls imap --cert "$certs/server.pem" --key "$certs/server.key" 2>/dev/null
[ $? -eq 2 ] || fail "tlsio-echo --starttls imap: expected a usage error (2)"

for be in $usable; do
	before=$failures
	: >"$tmp/out"
	"$bin/tlsio-echo" --backend "$be" --plain --starttls smtp --cert "$certs/server.pem" \
		--key "$certs/server.key" --listen 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
	server_pid=$!
	i=0
	while ! grep -q "^listening on" "$tmp/out" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/out")
	if [ -z "$port" ]; then
		fail "$be: tlsio-echo --starttls smtp did not start: $(cat "$tmp/err")"
		kill -9 "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		server_pid=
		continue
	fi
	ver=
	for mode in s_client pyssl plain inject; do
		if $py "$tmp/smtp.py" $mode "$port" "$certs/ca.pem" >"$tmp/py" 2>&1; then
			[ $mode = s_client ] && ver=$(sed -n 's/^ok \(TLSv[0-9.]*\) .*/\1/p' "$tmp/py")
		else
			fail "$be: $mode: $(cat "$tmp/py")"
		fi
	done
	grep -q "bytes after STARTTLS in the same read" "$tmp/err" ||
		fail "$be: the server did not report the injection: $(cat "$tmp/err")"
	got=$("$bin/tlsio-client" --backend "$be" --starttls smtp --connect "127.0.0.1:$port" \
		--ca "$certs/ca.pem" --bytes 1M --json 2>&1)
	case $got in
	*'"ok":true}') ;;
	*) fail "$be: tlsio-client --starttls smtp: $got" ;;
	esac
	kill -TERM "$server_pid"
	i=0
	while kill -0 "$server_pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	wait "$server_pid"
	rc=$?
	server_pid=
	[ $rc -eq 0 ] || fail "$be: server exit status $rc after SIGTERM: $(cat "$tmp/err")"
	grep -q "^tlsio-echo: 6 connections (0 failed)" "$tmp/err" ||
		fail "$be: server summary: $(grep -v '^tlsio-echo: \(backend\|crypto\|plaintext\)' "$tmp/err")"
	[ $failures -ne $before ] ||
		echo "ok: $be: s_client -starttls smtp verified ($ver), 1 MiB echoed; python ssl; tlsio-client --starttls; SMTP replies; injection closed unanswered"
done
[ $failures -eq 0 ] || exit 1
exit 0
