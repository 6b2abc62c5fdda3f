#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's code is the code people copy: build the first C block under "## Using it" from
# README.md against the built libtlsio.so (the public header and the exported symbols only),
# run it on every usable backend with a real client pushing 8 MiB through a 4 KiB receive
# buffer (the echo backs up in the server's send queue), check the echo's SHA-256, that SIGTERM
# drains it to exit 0 (a task posted from the signal handler), and that the failures a user
# meets first (a missing certificate, a busy port) exit 1 and say why.
set -u
top=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top=$(cd "$top" && pwd)
build=${TLSIO_BUILDDIR:-$(pwd)}
certs=$top/tests/certs
work=$(mktemp -d "${TMPDIR:-/tmp}/tlsio-readme.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}

awk '/^## Using it/ { on = 1 } on && /^```c$/ { grab = 1; next } grab && /^```$/ { exit } grab { print }' \
	"$top/README.md" >"$work/echo-server.c"
[ -s "$work/echo-server.c" ] || fail "no C block under '## Using it' in README.md"
lib=$build/.libs/libtlsio.so
[ -f "$lib" ] || fail "$lib not built"
# shellcheck disable=SC2086
${TLSIO_CC:-cc} ${TLSIO_CFLAGS:-} -Wall -Werror -I"$top/api" "$work/echo-server.c" -o "$work/echo-server" \
	${TLSIO_LDFLAGS:-} "$lib" -Wl,-rpath,"$build/.libs" || fail "the README snippet does not build"
echo "built the README snippet ($(wc -l <"$work/echo-server.c") lines) against $lib"

# what a user meets first: each exits 1 and names the cause
"$work/echo-server" 127.0.0.1:0 "$work/missing.pem" "$certs/server.key" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 1 ] || fail "missing certificate: exit $rc, expected 1"
grep -q "missing.pem': No such file or directory" "$work/err" || fail "missing certificate: $(cat "$work/err")"
echo "missing certificate: exit 1: $(cat "$work/err")"
cat "$work/err" >>"$work/stderr.all"

clients=$build/examples/tlsio-client
backends=$("$clients" --list-backends 2>/dev/null | awk '!/unusable/ { print $1 }')
[ -n "$backends" ] || fail "no usable backend"
for be in $backends; do
	: >"$work/out"
	TLSIO_BACKEND=$be "$work/echo-server" 127.0.0.1:0 "$certs/server.pem" "$certs/server.key" \
		>"$work/out" 2>"$work/err" &
	pid=$!
	i=0
	while ! grep -q '^listening on ' "$work/out" && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	addr=$(sed -n 's/^listening on //p' "$work/out")
	[ -n "$addr" ] || fail "$be: the snippet did not start: $(cat "$work/err")"
	# a second one on the same port: busy
	TLSIO_BACKEND=$be "$work/echo-server" "$addr" "$certs/server.pem" "$certs/server.key" \
		>/dev/null 2>"$work/err2"
	rc=$?
	[ $rc -eq 1 ] && grep -q "Address already in use" "$work/err2" ||
		fail "$be: busy port: exit $rc: $(cat "$work/err2")"
	cat "$work/err2" >>"$work/stderr.all"
	window=8M
	[ "$be" = blocking ] && window=16K # see tlsio-client --help: a blocking client
	"$clients" --backend "$be" --connect "$addr" --ca "$certs/ca.pem" --bytes 8M --chunk 64K \
		--window $window --rcvbuf 4K >"$work/client" 2>&1 ||
		fail "$be: the echo of 8 MiB failed: $(tail -5 "$work/client")"
	grep -q '^digest: *ok' "$work/client" || fail "$be: no digest line: $(cat "$work/client")"
	# SIGTERM: the handler posts a task, the task drains the loop, the run returns
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=
	[ $rc -eq 0 ] && grep -q '^echo: drained, exiting$' "$work/err" ||
		fail "$be: SIGTERM: exit $rc: $(cat "$work/err")"
	cat "$work/err" >>"$work/stderr.all"
	echo "$be: 8 MiB echoed intact through a 4 KiB client buffer; SIGTERM drained it (exit 0); busy port: exit 1: $(cat "$work/err2")"
done
# a sanitizer build of the library makes the snippet a sanitizer build too: it must be clean
if grep -qE 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$work/stderr.all"; then
	head -n 40 "$work/stderr.all"
	fail "a sanitizer report from the snippet"
fi
echo "readme: the snippet builds, serves, and fails clearly"
