#!/bin/sh
# SPDX-License-Identifier: MIT
# Build wolfSSL from Debian's own source package (apt-get source: Debian's version and patches)
# into a local prefix. The tuned profile's default prefix is what `configure` links by default
# (--with-wolfssl=tuned); any other prefix is `configure --with-wolfssl=PREFIX`.
#
# Usage: scripts/build-wolfssl.sh [--profile tuned|debian] [--shared] [--show] [PREFIX]
#   --profile tuned   (default) only what libtlsio and its tests use, plus the x86-64 assembly;
#                     a static PIC archive (PREFIX/lib/libwolfssl.a) to link into libtlsio.so
#                     with its symbols hidden. Default PREFIX: ./_deps/wolfssl-tuned
#   --profile debian  Debian's configure options (--enable-distro ...) plus the assembly, as a
#                     shared library. Default PREFIX: ./_deps/wolfssl
#   --shared          the tuned profile's options as a shared library (PREFIX/lib/libwolfssl.so,
#                     profile "tuned-shared"), for scripts/fuzz.sh --wolfssl tuned: the fuzz
#                     harness overrides wolfSSL's seed and clock (wc_GenerateSeed, time()), which
#                     only works through the PLT of a shared wolfSSL; the static archive gives
#                     multiple definitions. Default PREFIX: ./_deps/wolfssl-tuned-shared
#   --show            print the configure line of the profile and exit
# A rerun with the same configure line (PREFIX/BUILD-FLAGS) and the library in place does
# nothing. JOBS=n sets make's parallelism (default 2). Needs root (or sudo) for apt-get: a
# deb-src entry, dpkg-dev, autotools and a compiler, unless those are already there.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
profile=tuned
prefix=
show=0
shared=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help)
		sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	--profile)
		[ $# -ge 2 ] || { echo "build-wolfssl: --profile needs a name (tuned or debian)" >&2; exit 2; }
		profile=$2
		shift 2
		;;
	--profile=*) profile=${1#--profile=}; shift ;;
	--shared) shared=1; shift ;;
	--show) show=1; shift ;;
	-*) echo "build-wolfssl: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) prefix=$1; shift ;;
	esac
done

# x86-64 assembly, in both profiles. --enable-intelasm: AES-NI, AVX1/AVX2 for AES-GCM's GHASH
# (PCLMULQDQ), SHA-2, ChaCha20, Poly1305 and X25519; --enable-sp --enable-sp-asm: P-256/384
# (ECDHE, ECDSA) and RSA 2048-4096 in the SP assembly. wolfSSL checks CPUID at run time and falls
# back to C on a CPU without the instructions.
fast_opts="--enable-aesni --enable-intelasm --enable-sp --enable-sp-asm"

case $profile in
tuned)
	# Each option with the libtlsio feature that needs it. Defaults libtlsio relies on are
	# named too (tls13, ecc, rsa, ...), so the list reads as the library's requirements and a
	# change of wolfSSL's defaults cannot take one away.
	opts=$(sed 's/#.*//' <<'EOF'
--enable-static --disable-shared --with-pic  # one archive, linked into libtlsio.so, symbols hidden
--disable-examples --disable-crypttests --disable-benchmark  # the library only
--enable-tls13 --enable-tlsv12 --disable-oldtls  # TLS 1.2 and 1.3, nothing older (no TLS 1.0/1.1, MD5+SHA-1 PRF)
--enable-session-ticket  # resumption by ticket, TLS 1.2 (RFC 5077) and 1.3 (PSK), client and server
--enable-sni  # SNI: client sends the name, server reads it (tlsio_conn_sni, choosing a config)
--enable-alpn  # ALPN, client and server (opts.alpn, tlsio_conn_alpn)
--enable-maxfragment  # the record_overflow alert for an oversized record (contract C5): wolfSSL sends it only with HAVE_MAX_FRAGMENT
--enable-supportedcurves  # supported_groups/key_share: ECDHE needs it
--enable-extended-master  # RFC 7627 for TLS 1.2 (peers and resumption rely on it)
--enable-secure-renegotiation-info  # RFC 5746 renegotiation_info on TLS 1.2 servers: OpenSSL 3 clients refuse a server without it (renegotiation itself stays off)
--enable-ecc  # ECDHE P-256, ECDSA certificates and EC keys (P-384/P-521 too: CA chains use P-384)
--enable-curve25519  # X25519, the key share clients offer first
--enable-rsa --enable-rsapss  # RSA certificates and keys; RSA-PSS signatures, which TLS 1.3 requires with RSA
--disable-dh  # no DHE: ECDHE only (no FFDHE groups offered, no DHE-RSA suites)
--enable-aesgcm=word  # AES-128/256-GCM suites; GHASH without a table (see "Measured" below)
--enable-chacha --enable-poly1305  # ChaCha20-Poly1305 suites (the default when AES is not accelerated)
--enable-aescbc --enable-pwdbased --enable-enckeys  # passphrase-protected PKCS#8 keys (PBES2: PBKDF2 + AES-CBC), tlsio_tls_opts.passphrase; no CBC suite in TLS all the same (WOLFSSL_AEAD_ONLY below)
--enable-sha --enable-sha512 --enable-sha384  # SHA-1 (TLS 1.2 signature algorithms, certificate key ids), SHA-384 (AES-256-GCM suites, P-384 chains)
--disable-sha224 --disable-sha3 --disable-md5  # not used by TLS 1.2/1.3 nor by the certificates libtlsio loads
--enable-hkdf  # TLS 1.3 key schedule
--enable-pkcs8 --enable-coding --disable-base64encode  # PEM to DER (wc_CertPemToDer, wc_KeyPemToDer), PKCS#8 and traditional keys (wc_GetPkcs8TraditionalOffset); no DER to PEM
--enable-sys-ca-certs  # wolfSSL_CTX_load_system_CA_certs (a verifying client without ca_file)
--enable-errorstrings  # wolfSSL_ERR_reason_error_string in configuration errors
EOF
)
	# Measured here (5.5.4, x86-64 with AES-NI/AVX2, heap counted with wolfSSL_SetAllocators;
	# "idle" = what wolfSSL_free releases from a TLS 1.3 server connection after the handshake
	# and one message each way; "pair" = heap peak of a full handshake, client and server;
	# ECDSA P-256 certificate; speed: CPU time, one core, 16 KiB records):
	#                            wolfSSL_new  idle    pair    AES-128-GCM  handshakes/s (pair)
	#   Debian's libwolfssl      56018        60076   (a)     178 MB/s     722
	#   --profile debian         56034        60092   152 KB  5.4 GB/s     ~2700
	#   tuned, GCM_TABLE         7098         11256   39 KB(b) 5.2 GB/s
	#   tuned, GCM_TABLE_4BIT    7098         4088    28 KB(b) 5.2 GB/s    (no AES-NI: 169 MB/s)
	#   tuned, word (chosen)     7098         3064    20 KB   5.1 GB/s     3400 (no AES-NI: 89 MB/s)
	# (a) 1.8 MB, mostly FP_ECC tables made on first use; (b) before ALT_ECC_SIZE.
	# sizeof(WOLFSSL): 1232 here, 10864 in Debian's build (WOLFSSL_SESSION 448 vs 37512 bytes).
	# With AES-NI the GHASH is PCLMULQDQ/AVX and never reads the table, which costs 2x512 B
	# (4-bit) or 2x4 KiB (8-bit) in every connection's two Aes objects. Only a CPU without
	# AES-NI uses it, and there libtlsio's servers prefer ChaCha20-Poly1305 (portable C 457 MB/s).
	# The idle 3064 B: struct WOLFSSL 1232, two Aes 2x336, WOLFSSL_SESSION 448, DRBG 168, and
	# the extensions wolfSSL keeps until wolfSSL_free (SNI, ALPN, groups, key share) ~550.
	# Tried and left out: MAX_CHAIN_DEPTH=4 (default 9) and WOLFSSL_SMALL_CERT_VERIFY change
	# neither idle nor peak; WOLFSSL_SP_SMALL: same memory, -12% handshakes (1.2 MB less code);
	# SMALL_SESSION_CACHE: nothing per connection (the TLS 1.2 cache is a static 15 KB table of
	# 33 sessions); WOLFSSL_STATIC_MEMORY replaces malloc by fixed pools (no SetAllocators);
	# NO_SESSION_CACHE_REF only changes a client's wolfSSL_get_session (libtlsio uses get1).
	# ALT_ECC_SIZE (below) took the pair peak from 28 KB to 20 KB at the same speed.
	# Not configure options; they land in options.h, so libtlsio sees them too:
	#   WOLFSSL_ALWAYS_VERIFY_CB  the verify callback runs on success too: libtlsio checks the
	#                             server's name there (tls_verify_cb) and keeps the peer's leaf
	#   WOLFSSL_ALWAYS_KEEP_SNI   a server keeps the client's SNI without a wolfSSL_UseSNI of its
	#                             own (tlsio_conn_sni reads it with wolfSSL_SNI_GetRequest)
	#   HAVE_SECRET_CALLBACK      TLS 1.3 secret callback and wolfSSL_get_client_random: key
	#                             logging (tlsio_tls_opts.keylog, SSLKEYLOGFILE)
	#   ALT_ECC_SIZE              ecc_key 4200 -> 1608 bytes: less heap per handshake and less
	#                             stack in libtlsio's key check, at the same speed (above)
	#   WOLFSSL_EXTRA_ALERTS      the alerts of ~44 fatal record and handshake errors (a record too
	#                             short for its cipher, an empty encrypted record, a forged alert
	#                             of the wrong length, an unparseable certificate), which 5.5.4
	#                             sends only with it; it comes with OPENSSL_EXTRA, which this
	#                             profile leaves out: without it those errors close silently
	#                             (contract C5; found by scripts/fuzz.sh --wolfssl tuned)
	#   WOLFSSL_AEAD_ONLY         TLS offers AEAD suites only, although AES-CBC is compiled in
	#                             for encrypted keys (wolfSSL's own switch: --enable-aescbc
	#                             alone would add the CBC suites to every handshake)
	#   HAVE_EXT_CACHE            wolfSSL_i2d/d2i_SSL_SESSION: a client session as bytes
	#                             (tlsio_tls_session_export/import)
	defs="-DWOLFSSL_ALWAYS_VERIFY_CB -DWOLFSSL_ALWAYS_KEEP_SNI -DHAVE_SECRET_CALLBACK -DALT_ECC_SIZE -DWOLFSSL_EXTRA_ALERTS -DWOLFSSL_AEAD_ONLY -DHAVE_EXT_CACHE"
	lib=libwolfssl.a
	;;
debian)
	# Debian's options (debian/rules) as today, plus the assembly: the shared library that
	# libwolfssl-dev would give, only faster. (--enable-distro builds libwolfssl.a as well, and
	# ignores --disable-static; -lwolfssl takes the .so.)
	opts="--enable-distro --enable-pkcs11 --disable-examples"
	defs=
	lib=libwolfssl.so
	;;
*)
	echo "build-wolfssl: unknown profile '$profile' (tuned or debian)" >&2
	exit 2
	;;
esac
opts=$(echo $opts $fast_opts)
# name: the profile as PROFILE, the summary and the build directory say it
name=$profile
if [ "$shared" = 1 ]; then
	if [ "$profile" != tuned ]; then
		echo "build-wolfssl: --shared is for --profile tuned (--profile $profile is a shared library already)" >&2
		exit 2
	fi
	# the same options, only the library kind changes (still PIC)
	case $opts in
	*"--enable-static --disable-shared --with-pic"*) ;;
	*)
		echo "build-wolfssl: --shared: the tuned options lost '--enable-static --disable-shared --with-pic', which it replaces" >&2
		exit 2
		;;
	esac
	opts=$(echo "$opts" | sed 's/--enable-static --disable-shared --with-pic/--enable-shared --disable-static --with-pic/')
	lib=libwolfssl.so
	name=$profile-shared
fi

[ -n "$prefix" ] || case $profile in tuned) prefix=$top/_deps/wolfssl-$name ;; *) prefix=$top/_deps/wolfssl ;; esac
case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
cflags="-O2 -g"
line="configure --prefix=$prefix $opts${defs:+ CPPFLAGS='$defs'} CFLAGS='$cflags'"
if [ "$show" = 1 ]; then
	echo "$line"
	exit 0
fi

jobs=${JOBS:-2}
work=$top/_deps/src
build=$top/_deps/build/wolfssl-$name

summary() {
	ver=$(sed -n 's/^#define LIBWOLFSSL_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/wolfssl/version.h")
	echo
	echo "build-wolfssl: $1"
	echo "  profile: $name"
	echo "  wolfSSL: $ver${debver:+ (Debian source $debver)}"
	echo "  options: $(cat "$prefix/BUILD-FLAGS")"
	echo "  prefix:  $prefix (lib/$lib, include/wolfssl with options.h, BUILD-FLAGS)"
	if [ "$prefix" = "$top/_deps/wolfssl-tuned" ]; then
		echo "  use it:  ./configure (the default, --with-wolfssl=tuned, links this one)"
	else
		echo "  use it:  ./configure --with-wolfssl=$prefix"
	fi
}

srcdir=$(ls -d "$work"/wolfssl-*/ 2>/dev/null | head -n1 || true)
debver=$(dpkg-parsechangelog -l "${srcdir}debian/changelog" -S Version 2>/dev/null || true)
if [ -f "$prefix/BUILD-FLAGS" ] && [ "$(cat "$prefix/BUILD-FLAGS")" = "$line" ] &&
	[ -f "$prefix/lib/$lib" ] && [ -s "$prefix/include/wolfssl/options.h" ] &&
	[ -s "$prefix/include/wolfssl/internal.h" ] &&
	[ "$(cat "$prefix/PROFILE" 2>/dev/null)" = "$name" ]; then
	summary "up to date (same configure line in $prefix/BUILD-FLAGS), nothing rebuilt"
	exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# apt-get source needs a deb-src entry; Debian 12's debian.sources has only "Types: deb".
# A separate file mirrors its URIs/Suites/Signed-By, so the system's own file stays untouched.
src_list=/etc/apt/sources.list.d/tlsio-deb-src.sources
updated=0
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo "build-wolfssl: adding deb-src entries in $src_list"
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | as_root tee "$src_list" >/dev/null
	else
		grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | as_root tee /etc/apt/sources.list.d/tlsio-deb-src.list >/dev/null
	fi
	as_root apt-get update -q
	updated=1
fi
need=
command -v dpkg-source >/dev/null || need="$need dpkg-dev"
command -v autoreconf >/dev/null || need="$need autoconf"
command -v automake >/dev/null || need="$need automake"
command -v libtoolize >/dev/null || need="$need libtool"
command -v make >/dev/null || need="$need make"
command -v cc >/dev/null || need="$need gcc libc6-dev"
if [ -n "$need" ]; then
	[ "$updated" = 1 ] || as_root apt-get update -q
	updated=1
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need
fi

mkdir -p "$work"
cd "$work"
srcdir=$(ls -d wolfssl-*/ 2>/dev/null | head -n1 || true)
if [ -z "$srcdir" ]; then
	# a deb-src entry without its index yet (added by hand, never updated): update once
	apt-get source -q wolfssl || { [ "$updated" = 1 ] || as_root apt-get update -q; apt-get source -q wolfssl; }
	srcdir=$(ls -d wolfssl-*/ | head -n1)
fi
srcdir=$work/${srcdir%/}
debver=$(dpkg-parsechangelog -l "$srcdir/debian/changelog" -S Version)
if [ ! -x "$srcdir/configure" ]; then
	echo "build-wolfssl: autogen.sh (Debian's source package has no configure)"
	(cd "$srcdir" && ./autogen.sh >"$work/autogen.log" 2>&1) || { cat "$work/autogen.log" >&2; exit 1; }
fi
# An in-tree build (this script's older versions) blocks out-of-tree ones.
[ ! -f "$srcdir/config.status" ] || make -C "$srcdir" distclean >/dev/null

# A fresh build directory per build: make does not notice changed flags, so objects of another
# configure line must not be reused.
rm -rf "$build"
mkdir -p "$build"
cd "$build"
echo "build-wolfssl: $line"
start=$(date +%s)
if [ -n "$defs" ]; then
	"$srcdir/configure" -q --prefix="$prefix" $opts CPPFLAGS="$defs" CFLAGS="$cflags" >/dev/null
else
	"$srcdir/configure" -q --prefix="$prefix" $opts CFLAGS="$cflags" >/dev/null
fi
make -j"$jobs" >/dev/null
# What an earlier build of another profile left in PREFIX (a .so next to the .a would win).
rm -rf "$prefix/include/wolfssl" "$prefix/include/cyassl" "$prefix/lib/pkgconfig/wolfssl.pc" \
	"$prefix/bin/wolfssl-config" "$prefix/BUILD-FLAGS" "$prefix/PROFILE"
rm -f "$prefix"/lib/libwolfssl.*
make install >/dev/null
# wolfSSL's internal.h, which make install leaves out: the TLS 1.2 key log reads the master
# secret from it and TLS 1.2 tickets are renewed through it (tls/wolfint.c): 5.5.4 gives the
# secret only through OPENSSL_EXTRA's API
# (wolfSSL_SESSION_get_master_key, wolfSSL_get_keys), which costs every connection KiBs. It
# describes this very build (the options.h next to it), which is linked into libtlsio whole.
cp "$srcdir/wolfssl/internal.h" "$prefix/include/wolfssl/internal.h"
# No libtool archive: with libwolfssl.la in the -L directory, libtool drops a static-only
# -lwolfssl from the link of a shared library (libtlsio.so came out with wolfSSL undefined);
# without it the linker takes libwolfssl.a as any -l. Debian removes .la files too.
rm -f "$prefix/lib/libwolfssl.la"
# Upstream installs the generated options.h, but not with --enable-distro (Debian's
# libwolfssl-dev.install copies it by hand); without it a program would compile against other
# settings than the library's.
cp wolfssl/options.h "$prefix/include/wolfssl/options.h"
printf '%s\n' "$line" >"$prefix/BUILD-FLAGS"
# configure's summary and tlsio_crypto_info() name the profile from this file
printf '%s\n' "$name" >"$prefix/PROFILE"
summary "built in $(($(date +%s) - start)) s"
