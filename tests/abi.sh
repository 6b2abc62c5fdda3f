#!/bin/sh
# SPDX-License-Identifier: MIT
# The ABI: libtlsio.so exports the public API (tlsio_*) and nothing else, and a program built
# for the structures of an older header (tests/abi-old.c) runs against this library on every
# usable backend. With wolfSSL linked in: no libwolfssl needed at run time, no run path, and a
# system libwolfssl in the same process changes nothing.
set -u
top=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top=$(cd "$top" && pwd)
build=${TLSIO_BUILDDIR:-$(pwd)}
lib=$build/.libs/libtlsio.so
work=$(mktemp -d "${TMPDIR:-/tmp}/tlsio-abi.XXXXXX")
trap 'rm -rf "$work"' EXIT
[ -f "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }

# exported symbols: functions and data of the public API; the version node is not a symbol
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' | sort -u >"$work/syms"
n=$(wc -l <"$work/syms")
other=$(grep -v '^tlsio_[a-z]' "$work/syms" || true)
if [ -n "$other" ]; then
	echo "FAIL: libtlsio.so exports symbols outside the API:"
	echo "$other" | head -20
	exit 1
fi
nm -D "$lib" | grep -q ' LIBTLSIO_0.2$' || { echo "FAIL: no LIBTLSIO_0.2 version node"; exit 1; }
# 0.3's additions in a node of their own: a program that needs them fails to load on 0.2
for f in tlsio_crypto_heap_count tlsio_crypto_heap_in_use; do
	nm -D --defined-only "$lib" | grep -q " $f@@LIBTLSIO_0.3$" ||
		{ echo "FAIL: $f is not in version node LIBTLSIO_0.3"; exit 1; }
done
# 0.4's likewise
for f in tlsio_timer_new tlsio_timer_start tlsio_loop_post tlsio_loop_post_task tlsio_watch_new \
	tlsio_watch_free tlsio_loop_drain tlsio_loop_conn_count; do
	nm -D --defined-only "$lib" | grep -q " $f@@LIBTLSIO_0.4$" ||
		{ echo "FAIL: $f is not in version node LIBTLSIO_0.4"; exit 1; }
done
# 0.5's likewise
for f in tlsio_starttls tlsio_conn_is_tls tlsio_conn_error_detail tlsio_conn_peer_addr \
	tlsio_listen_fds; do
	nm -D --defined-only "$lib" | grep -q " $f@@LIBTLSIO_0.5$" ||
		{ echo "FAIL: $f is not in version node LIBTLSIO_0.5"; exit 1; }
done
# 0.6's likewise
for f in tlsio_tls_ticket_key tlsio_tls_session_export tlsio_tls_session_import \
	tlsio_tls_config_add_name tlsio_listener_set_config tlsio_conn_resumed; do
	nm -D --defined-only "$lib" | grep -q " $f@@LIBTLSIO_0.6$" ||
		{ echo "FAIL: $f is not in version node LIBTLSIO_0.6"; exit 1; }
done
# 0.7's: the libuv backend's two functions, in a build that has it
last=LIBTLSIO_0.6
if grep -q "^#define TLSIO_HAVE_LIBUV 1" "$build/config.h"; then
	for f in tlsio_loop_new_uv tlsio_loop_uv; do
		nm -D --defined-only "$lib" | grep -q " $f@@LIBTLSIO_0.7$" ||
			{ echo "FAIL: $f is not in version node LIBTLSIO_0.7"; exit 1; }
	done
	last=LIBTLSIO_0.7
fi
echo "exports: $n symbols, all tlsio_*, version nodes LIBTLSIO_0.2 to $last"

# With wolfSSL linked in (configure's default): nothing of it is exported (checked above), the
# library needs no libwolfssl and no run path at run time, and wolfSSL's code is inside.
dyn=$(readelf -d "$lib")
if [ "${TLSIO_WOLFSSL_BUNDLED:-no}" = yes ]; then
	if echo "$dyn" | grep -q 'NEEDED.*libwolfssl'; then
		echo "FAIL: libtlsio.so links wolfSSL in, yet needs a libwolfssl:"; echo "$dyn" | grep NEEDED; exit 1
	fi
	if echo "$dyn" | grep -qE '\((RPATH|RUNPATH)\)'; then
		echo "FAIL: libtlsio.so has a run path:"; echo "$dyn" | grep -E 'RPATH|RUNPATH'; exit 1
	fi
	nm "$lib" | grep -q ' [tT] wolfSSL_new$' || { echo "FAIL: no wolfSSL code inside libtlsio.so"; exit 1; }
	echo "wolfSSL: linked in (no NEEDED libwolfssl, no RPATH/RUNPATH, 0 wolfSSL symbols exported)"
else
	echo "$dyn" | grep -q 'NEEDED.*libwolfssl' || { echo "FAIL: libtlsio.so does not need a libwolfssl"; exit 1; }
	echo "wolfSSL: shared ($(echo "$dyn" | sed -n 's/.*Shared library: \[\(libwolfssl[^]]*\)\].*/\1/p'))"
fi

# shellcheck disable=SC2086
${TLSIO_CC:-cc} ${TLSIO_CFLAGS:-} -Wall -Werror -I"$top/api" "$top/tests/abi-old.c" -o "$work/abi-old" \
	${TLSIO_LDFLAGS:-} "$lib" -Wl,-rpath,"$build/.libs" || { echo "FAIL: abi-old does not build"; exit 1; }
backends=$("$build/examples/tlsio-client" --list-backends 2>/dev/null | awk '!/unusable/ { print $1 }')
[ -n "$backends" ] || { echo "FAIL: no usable backend"; exit 1; }
for be in $backends; do
	TLSIO_TEST_CERTS=${TLSIO_TEST_CERTS:-$top/tests/certs} TLSIO_BACKEND=$be "$work/abi-old" ||
		{ echo "FAIL: abi-old on $be"; exit 1; }
done

# The same program with the system's libwolfssl loaded ahead of libtlsio (a process whose other
# code uses wolfSSL): with wolfSSL linked in, libtlsio's calls stay on its own copy (another
# build, other structure sizes: a call that went to the system's would crash or fail).
if [ "${TLSIO_WOLFSSL_BUNDLED:-no}" = yes ]; then
	syswolf=$(ldconfig -p | sed -n 's/.*libwolfssl\.so\.[0-9]* (libc6,x86-64) => //p' | head -n1)
	if [ -z "$syswolf" ]; then
		echo "SKIP part: no system libwolfssl to load next to libtlsio (apt-get install libwolfssl35)"
	else
		# shellcheck disable=SC2086
		${TLSIO_CC:-cc} ${TLSIO_CFLAGS:-} -Wall -Werror -I"$top/api" "$top/tests/abi-old.c" -o "$work/abi-clash" \
			${TLSIO_LDFLAGS:-} -Wl,--no-as-needed "$syswolf" "$lib" -Wl,-rpath,"$build/.libs" ||
			{ echo "FAIL: abi-clash does not build"; exit 1; }
		readelf -d "$work/abi-clash" | grep -q 'NEEDED.*libwolfssl' || { echo "FAIL: abi-clash does not load $syswolf"; exit 1; }
		for be in $backends; do
			TLSIO_TEST_CERTS=${TLSIO_TEST_CERTS:-$top/tests/certs} TLSIO_BACKEND=$be "$work/abi-clash" ||
				{ echo "FAIL: abi-old with $syswolf loaded first, on $be"; exit 1; }
		done
		echo "clash: abi-old with $syswolf loaded before libtlsio passes on: $(echo $backends)"
	fi
fi
