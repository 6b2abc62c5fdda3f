#!/bin/sh
# SPDX-License-Identifier: MIT
# The backend choice works the same in every example tool: --backend NAME, $TLSIO_BACKEND
# (the flag wins), "auto" (the best usable backend), --list-backends, and an unknown name is a
# usage error (exit 2) that names its source and lists the available backends.
builddir=${TLSIO_BUILDDIR:-.}
certs=${TLSIO_TEST_CERTS:-$(dirname "$0")/certs}
bin=$builddir/examples
tools="tlsio-echo tlsio-client tlsio-compare"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tlsio-flag.XXXXXX") || exit 1
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
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

# Arguments that get each tool past its own checks, so that the backend is what fails.
tool_args() {
	case $1 in
	tlsio-echo) echo "--cert $certs/server.pem --key $certs/server.key --max-conns 1" ;;
	tlsio-client) echo "--connect 127.0.0.1:1 --ca $certs/ca.pem" ;;
	tlsio-compare) echo "--cert $certs/server.pem --key $certs/server.key --ca $certs/ca.pem --bytes 64K" ;;
	esac
}

list=$("$bin/tlsio-client" --list-backends) || { echo "tlsio-client --list-backends failed"; exit 1; }
usable=$(echo "$list" | awk 'NF == 1 { print $1 }')
best=$(echo "$usable" | head -n 1)
echo "backends: $(echo "$list" | tr '\n' ';')  best usable: $best"
[ -n "$best" ] || { echo "SKIP backend-flag: no usable backend"; exit 77; }

for t in $tools; do
	[ -x "$bin/$t" ] || { fail "$t not built"; continue; }
	# shellcheck disable=SC2046
	set -- $(tool_args "$t")
	"$bin/$t" --help >"$tmp/help" 2>&1 || fail "$t --help exited $?"
	{ grep -q -- "--backend" "$tmp/help" && grep -q "TLSIO_BACKEND" "$tmp/help"; } ||
		fail "$t --help does not document --backend and \$TLSIO_BACKEND"
	[ "$("$bin/$t" --list-backends)" = "$list" ] || fail "$t --list-backends differs from tlsio-client's"

	"$bin/$t" "$@" --backend no-such >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 2 ] || fail "$t --backend no-such exited $rc, expected 2 (usage)"
	grep -q "unknown backend 'no-such' (from --backend)" "$tmp/err" ||
		fail "$t --backend no-such: message: $(cat "$tmp/err")"
	for be in $usable auto; do
		grep -q "available:.*$be" "$tmp/err" || fail "$t: the unknown-name error does not list '$be'"
	done

	TLSIO_BACKEND=no-such "$bin/$t" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 2 ] || fail "$t with TLSIO_BACKEND=no-such exited $rc, expected 2"
	grep -q "unknown backend 'no-such' (from \$TLSIO_BACKEND)" "$tmp/err" ||
		fail "$t with TLSIO_BACKEND=no-such: message: $(cat "$tmp/err")"
done

# auto, the environment and the flag's precedence, end to end (tlsio-compare runs in-process)
cmp_args="--cert $certs/server.pem --key $certs/server.key --ca $certs/ca.pem --bytes 256K -q"
rows() { awk 'NR > 2 && NF >= 8 { print $1 }' "$1" | tr '\n' ' '; }
# shellcheck disable=SC2086
"$bin/tlsio-compare" $cmp_args --backend auto >"$tmp/out" 2>&1 || fail "tlsio-compare --backend auto failed"
[ "$(rows "$tmp/out")" = "$best " ] || fail "--backend auto ran '$(rows "$tmp/out")', expected '$best'"
for be in $usable; do
	# shellcheck disable=SC2086
	TLSIO_BACKEND=$be "$bin/tlsio-compare" $cmp_args >"$tmp/out" 2>&1 || fail "TLSIO_BACKEND=$be tlsio-compare failed"
	[ "$(rows "$tmp/out")" = "$be " ] || fail "TLSIO_BACKEND=$be ran '$(rows "$tmp/out")'"
	# shellcheck disable=SC2086
	TLSIO_BACKEND=no-such "$bin/tlsio-compare" $cmp_args --backend "$be" >"$tmp/out" 2>&1 ||
		fail "--backend $be with TLSIO_BACKEND=no-such failed: the flag must win"
done
# shellcheck disable=SC2086
"$bin/tlsio-compare" $cmp_args >"$tmp/out" 2>&1 || fail "tlsio-compare on every backend failed"
[ "$(rows "$tmp/out")" = "$(echo "$usable" | tr '\n' ' ')" ] ||
	fail "tlsio-compare without a choice ran '$(rows "$tmp/out")', expected every usable backend"

# echo server on auto; one client per backend, by flag and by environment
TLSIO_BACKEND=auto "$bin/tlsio-echo" --cert "$certs/server.pem" --key "$certs/server.key" \
	--listen 127.0.0.1:0 -q >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
addr=
for _ in $(seq 1 100); do
	addr=$(sed -n 's/^listening on //p' "$tmp/server.out")
	[ -n "$addr" ] && break
	sleep 0.1
done
if [ -z "$addr" ]; then
	fail "tlsio-echo did not start: $(cat "$tmp/server.err")"
else
	for be in $usable; do
		out=$("$bin/tlsio-client" --backend "$be" --connect "$addr" --ca "$certs/ca.pem" --bytes 256K) ||
			fail "tlsio-client --backend $be failed"
		echo "$out" | grep -q "^backend: *$be\$" || fail "tlsio-client --backend $be ran on: $(echo "$out" | head -n 1)"
		out=$(TLSIO_BACKEND=$be "$bin/tlsio-client" --connect "$addr" --ca "$certs/ca.pem" --bytes 64K) ||
			fail "TLSIO_BACKEND=$be tlsio-client failed"
		echo "$out" | grep -q "^backend: *$be\$" || fail "TLSIO_BACKEND=$be tlsio-client ran on: $(echo "$out" | head -n 1)"
	done
	out=$("$bin/tlsio-client" --backend auto --connect "$addr" --ca "$certs/ca.pem" --bytes 64K) ||
		fail "tlsio-client --backend auto failed"
	echo "$out" | grep -q "^backend: *$best\$" || fail "tlsio-client --backend auto ran on: $(echo "$out" | head -n 1)"
fi

if [ $failures -ne 0 ]; then
	echo "backend-flag: $failures failure(s)"
	exit 1
fi
echo "backend-flag: ok ($tools)"
