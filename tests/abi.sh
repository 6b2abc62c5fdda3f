#!/bin/sh
# SPDX-License-Identifier: MIT
# The ABI: libtlsio.so exports the public API (tlsio_*) and nothing else, and a program built
# for the structures of an older header (tests/abi-old.c) runs against this library on every
# usable backend.
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
echo "exports: $n symbols, all tlsio_*, version node LIBTLSIO_0.2"

# shellcheck disable=SC2086
${TLSIO_CC:-cc} ${TLSIO_CFLAGS:-} -Wall -Werror -I"$top/api" "$top/tests/abi-old.c" -o "$work/abi-old" \
	${TLSIO_LDFLAGS:-} "$lib" -Wl,-rpath,"$build/.libs" || { echo "FAIL: abi-old does not build"; exit 1; }
backends=$("$build/examples/tlsio-client" --list-backends 2>/dev/null | awk '!/unusable/ { print $1 }')
[ -n "$backends" ] || { echo "FAIL: no usable backend"; exit 1; }
for be in $backends; do
	TLSIO_TEST_CERTS=${TLSIO_TEST_CERTS:-$top/tests/certs} TLSIO_BACKEND=$be "$work/abi-old" ||
		{ echo "FAIL: abi-old on $be"; exit 1; }
done
