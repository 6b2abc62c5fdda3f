#!/bin/sh
# SPDX-License-Identifier: MIT
# --threads 2 on every usable backend: tlsio-echo and tlsio-https run two loops in two threads,
# each with its own SO_REUSEPORT listener on one address (port 0: the first thread's port is
# reused by the second). Enough concurrent connections are made that the kernel's spreading
# gives both threads some (with 24 connections, the odds that one thread gets none are 2^-23);
# the per-thread counts the servers print at exit prove it. The echoed data is checked by
# tlsio-client (SHA-256 of both directions), the HTTP bodies by a python3 client, and SIGTERM
# must end each server with exit 0. A plain listener on the same port must be refused.
builddir=${TLSIO_BUILDDIR:-.}
certs=${TLSIO_TEST_CERTS:-$(dirname "$0")/certs}
bin=$builddir/examples
conns=24
for t in tlsio-echo tlsio-client tlsio-https; do
	[ -x "$bin/$t" ] || { echo "FAIL: $bin/$t not built"; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tlsio-threads.XXXXXX") || exit 1
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill -9 "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# start_server NAME ARGS...: runs it in the background, sets server_pid and addr ("" if it
# did not start within 5 s).
start_server() {
	name=$1
	shift
	: >"$tmp/out"
	"$bin/$name" --cert "$certs/server.pem" --key "$certs/server.key" --listen 127.0.0.1:0 \
		"$@" >"$tmp/out" 2>"$tmp/err" &
	server_pid=$!
	i=0
	while ! grep -q "^listening on" "$tmp/out" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	addr=$(sed -n 's/^listening on //p' "$tmp/out")
}

# stop_server WHAT: SIGTERM, which must end the server with status 0 within 10 s.
stop_server() {
	kill -TERM "$server_pid" 2>/dev/null
	i=0
	while kill -0 "$server_pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	if kill -0 "$server_pid" 2>/dev/null; then
		fail "$1: still running 10 s after SIGTERM"
		kill -9 "$server_pid" 2>/dev/null
	fi
	wait "$server_pid"
	rc=$?
	server_pid=
	[ $rc -eq 0 ] || fail "$1: exit status $rc after SIGTERM: $(cat "$tmp/err")"
}

# check_threads WHAT: both "thread K: N connections" lines of the exit summary have N >= 1,
# and they add up to the $conns made.
check_threads() {
	n0=$(sed -n 's/.*: thread 0: \([0-9]*\) connection.*/\1/p' "$tmp/err")
	n1=$(sed -n 's/.*: thread 1: \([0-9]*\) connection.*/\1/p' "$tmp/err")
	if [ -z "$n0" ] || [ -z "$n1" ]; then
		fail "$1: no per-thread summary: $(cat "$tmp/err")"
	elif [ "$n0" -lt 1 ] || [ "$n1" -lt 1 ]; then
		fail "$1: a thread served nothing (thread 0: $n0, thread 1: $n1 connections)"
	elif [ $((n0 + n1)) -ne $conns ]; then
		fail "$1: $n0 + $n1 connections counted, $conns made"
	else
		echo "  $1: thread 0 served $n0, thread 1 served $n1 connections"
	fi
}

cat >"$tmp/https.py" <<'EOF'
import socket, ssl, sys, threading
host, port, ca, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(cafile=ca)
want = bytes((ord('\n') if i % 64 == 63 else ord('a') + i % 26) for i in range(128))
errors = []

def get(s, f, path):
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status = f.readline()
    hdrs = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, v = line.decode().split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    return status, f.read(int(hdrs.get("content-length", "0")))

# All connections open at once, so that both listeners have some in their queues; then two
# keep-alive requests on each.
conns = []
for i in range(n):
    s = ctx.wrap_socket(socket.create_connection((host, port), timeout=20), server_hostname="localhost")
    conns.append((s, s.makefile("rb")))

def work(s, f):
    try:
        for _ in range(2):
            st, body = get(s, f, b"/")
            if not st.startswith(b"HTTP/1.1 200") or body != want:
                errors.append("bad response %r, %d bytes" % (st, len(body)))
    except Exception as e:
        errors.append(repr(e))

ts = [threading.Thread(target=work, args=c) for c in conns]
for t in ts: t.start()
for t in ts: t.join()
st, body = get(conns[0][0], conns[0][1], b"/stats")
stats = dict(l.split(" ", 1) for l in body.decode().splitlines())
for s, f in conns:
    s.close()
if errors:
    print("FAIL:", errors[0])
    sys.exit(1)
# /stats speaks for the whole process: every request so far, whichever thread served it
if stats.get("threads") != "2" or int(stats["requests"]) != 2 * n + 1 or int(stats["accepted"]) != n:
    print("FAIL: /stats is not the whole process:", stats)
    sys.exit(1)
if int(stats["thread0_accepted"]) + int(stats["thread1_accepted"]) != n:
    print("FAIL: /stats per-thread counts do not add up:", stats)
    sys.exit(1)
print("ok", stats["thread0_accepted"], stats["thread1_accepted"])
EOF

"$bin/tlsio-echo" --threads x --cert "$certs/server.pem" --key "$certs/server.key" 2>/dev/null
[ $? -eq 2 ] || fail "tlsio-echo --threads x: expected usage error (2)"

list=$("$bin/tlsio-echo" --list-backends) || { echo "FAIL: tlsio-echo --list-backends"; exit 1; }
usable=$(echo "$list" | awk 'NF == 1 { print $1 }')
[ -n "$usable" ] || { echo "SKIP threads: no usable backend"; exit 77; }
have_python=1
command -v python3 >/dev/null 2>&1 || { have_python=0; echo "  (python3 not found: tlsio-https cases skipped)"; }
first=1
for be in $usable; do
	before=$failures
	# tlsio-echo: $conns tlsio-client runs at once, each checking its echo's digest
	start_server tlsio-echo --backend "$be" --threads 2
	if [ -z "$addr" ]; then
		fail "$be: tlsio-echo --threads 2 did not start: $(cat "$tmp/err")"
		kill -9 "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		server_pid=
		continue
	fi
	grep -q "2 threads" "$tmp/err" || fail "$be: tlsio-echo does not say it runs 2 threads: $(cat "$tmp/err")"
	if [ $first -eq 1 ]; then
		# SO_REUSEPORT groups only sockets that all ask for it: a plain listener is refused.
		"$bin/tlsio-echo" --cert "$certs/server.pem" --key "$certs/server.key" --listen "$addr" \
			>"$tmp/dup.out" 2>"$tmp/dup.err" &
		dup=$!
		# it must give up on its own: wait for that (a loaded machine starts it slowly), and
		# if it listens, it prints its address and stays
		i=0
		while kill -0 $dup 2>/dev/null && [ $i -lt 100 ] && ! grep -q '^listening on' "$tmp/dup.out"; do
			sleep 0.1
			i=$((i + 1))
		done
		if kill -0 $dup 2>/dev/null; then
			kill -9 $dup
			wait $dup 2>/dev/null
			fail "a plain listener could join the SO_REUSEPORT group on $addr"
		else
			wait $dup
			[ $? -eq 1 ] && grep -q "in use" "$tmp/dup.err" ||
				fail "second listener on $addr: $(cat "$tmp/dup.err")"
		fi
		first=0
	fi
	pids=
	for k in $(seq $conns); do
		"$bin/tlsio-client" --backend "$be" --connect "$addr" --ca "$certs/ca.pem" --bytes 64K \
			--chunk 16K --seed "$k" --json >"$tmp/client.$k" 2>&1 &
		pids="$pids $!"
	done
	k=0
	for p in $pids; do
		k=$((k + 1))
		wait "$p" || fail "$be: tlsio-client $k exited $?: $(cat "$tmp/client.$k")"
		grep -q '"digest_ok":true' "$tmp/client.$k" || fail "$be: client $k: echo differs: $(cat "$tmp/client.$k")"
	done
	stop_server "$be: tlsio-echo"
	check_threads "$be: tlsio-echo"
	grep -q "^tlsio-echo: $conns connections (0 failed)" "$tmp/err" ||
		fail "$be: tlsio-echo total: $(cat "$tmp/err")"

	# tlsio-https: $conns keep-alive connections at once, two GETs each, then GET /stats
	if [ $have_python -eq 1 ]; then
		start_server tlsio-https --backend "$be" --threads 2
		if [ -z "$addr" ]; then
			fail "$be: tlsio-https --threads 2 did not start: $(cat "$tmp/err")"
		else
			port=${addr##*:}
			python3 "$tmp/https.py" 127.0.0.1 "$port" "$certs/ca.pem" $conns >"$tmp/py" 2>&1 ||
				fail "$be: tlsio-https: $(cat "$tmp/py")"
			stop_server "$be: tlsio-https"
			check_threads "$be: tlsio-https"
		fi
	fi
	[ $failures -ne $before ] || echo "ok: $be: --threads 2, both threads served, echoes and bodies intact, SIGTERM exit 0"
done
[ $failures -eq 0 ] || exit 1
exit 0
