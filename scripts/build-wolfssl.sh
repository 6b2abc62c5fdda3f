#!/bin/sh
# SPDX-License-Identifier: MIT
# Build wolfSSL from Debian's own source package with the x86-64 assembly (AES-NI, AVX2 GHASH,
# ChaCha20/Poly1305 and SP-ECC assembly) into a local prefix, for `configure --with-wolfssl=PREFIX`.
#
# Why: Debian's libwolfssl is configured without --enable-intelasm, so AES-GCM runs in portable C
# (about 160 MB/s here); the same source with the assembly does several GB/s. We keep Debian's
# version and patches (apt-get source) and Debian's configure options, and add only the speed ones.
#
# Usage: scripts/build-wolfssl.sh [PREFIX]      (default: ./_deps/wolfssl, relative to the tree)
# Needs root for apt-get (deb-src entry, dpkg-dev, autotools), or those already present.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-$top/_deps/wolfssl}
case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
work=$top/_deps/src
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# apt-get source needs a deb-src entry; Debian 12's debian.sources has only "Types: deb".
# A separate file mirrors its URIs/Suites/Signed-By, so the system's own file stays untouched.
src_list=/etc/apt/sources.list.d/tlsio-deb-src.sources
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo "build-wolfssl: adding deb-src entries in $src_list"
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | as_root tee "$src_list" >/dev/null
	else
		grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | as_root tee /etc/apt/sources.list.d/tlsio-deb-src.list >/dev/null
	fi
	as_root apt-get update -q
fi
need=
command -v dpkg-source >/dev/null || need="$need dpkg-dev"
command -v autoreconf >/dev/null || need="$need autoconf automake libtool"
command -v make >/dev/null || need="$need make"
[ -z "$need" ] || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need

mkdir -p "$work"
cd "$work"
srcdir=$(ls -d wolfssl-*/ 2>/dev/null | head -n1 || true)
if [ -z "$srcdir" ]; then
	apt-get source -q wolfssl
	srcdir=$(ls -d wolfssl-*/ | head -n1)
fi
cd "$srcdir"
[ -x configure ] || ./autogen.sh

# Debian's options (debian/rules) first, then the assembly. --enable-intelasm turns on AES-NI,
# AVX1/2 for AES-GCM's GHASH and ChaCha20-Poly1305; --enable-sp-asm speeds up the P-256
# handshake (ECDHE + ECDSA) that nginx gets from OpenSSL's assembly.
debian_opts="--enable-distro --enable-pkcs11 --disable-examples"
fast_opts="--enable-aesni --enable-intelasm --enable-sp --enable-sp-asm"
echo "build-wolfssl: configure $debian_opts $fast_opts --prefix=$prefix"
./configure -q --prefix="$prefix" $debian_opts $fast_opts --disable-static CFLAGS="-O2 -g"
make -j"$jobs" >/dev/null
make install >/dev/null
# Upstream's "make install" leaves out the generated options.h (Debian's libwolfssl-dev.install
# copies it by hand); without it a program would compile against other settings than the library.
cp wolfssl/options.h "$prefix/include/wolfssl/options.h"
ver=$(sed -n 's/^#define LIBWOLFSSL_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/wolfssl/version.h")
printf '%s\n' "$debian_opts $fast_opts" > "$prefix/BUILD-FLAGS"
echo
echo "wolfSSL $ver with $fast_opts installed in $prefix"
echo "Use it:  mkdir build-fast && cd build-fast && ../configure --with-wolfssl=$prefix && make -j$jobs"
