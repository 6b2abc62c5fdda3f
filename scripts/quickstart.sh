#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One entry point for a fresh Debian 12 machine (as root, or with sudo available):
#   scripts/quickstart.sh demo   install what is missing, build, run the echo demo on every backend
#   scripts/quickstart.sh test   install what is missing, build, run the full test suite (make check),
#                                under ASan+UBSan too, then on the system's libwolfssl, then make
#                                distcheck (tarball builds and passes a test from scratch)
# Both first build wolfSSL from Debian's source package with scripts/build-wolfssl.sh (the tuned
# profile, reused when built already), which configure links into libtlsio by default.
# Environment: BUILD_DIR (default ./build), JOBS (default nproc), CONFIGURE_FLAGS,
#   SANITIZE=0 (no ASan/valgrind runs), SYSTEM_WOLFSSL=0 (no run on the system's libwolfssl).
set -euo pipefail

mode=${1:-demo}
case "$mode" in
demo | test) ;;
-h | --help)
	sed -n '2,11p' "$0"
	exit 0
	;;
*)
	echo "usage: $0 demo|test" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")/.."
src=$(pwd)
build=${BUILD_DIR:-$src/build}
jobs=${JOBS:-$(nproc)}

packages=(build-essential autoconf automake libtool pkg-config check
	libwolfssl-dev liburing-dev libev-dev libuv1-dev openssl gnutls-bin python3 valgrind systemd curl
	tshark wrk zlib1g-dev python3-websockets chromium libnss3-tools)
missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
	echo "== installing: ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

case " ${CONFIGURE_FLAGS:-} " in
*" --with-wolfssl="* | *" --with-wolfssl "*) ;; # the caller chose another wolfSSL
*)
	echo "== wolfSSL for libtlsio (scripts/build-wolfssl.sh, profile tuned)"
	mkdir -p "$src/_deps"
	JOBS=$jobs "$src/scripts/build-wolfssl.sh" >"$src/_deps/build-wolfssl.log" 2>&1 || {
		tail -n 40 "$src/_deps/build-wolfssl.log" >&2
		echo "== scripts/build-wolfssl.sh FAILED (log: _deps/build-wolfssl.log)" >&2
		exit 1
	}
	sed -n '/^build-wolfssl: /,$p' "$src/_deps/build-wolfssl.log" | grep -v '^  options:'
	;;
esac

echo "== building in $build"
./autogen.sh >/dev/null 2>&1 || ./autogen.sh
mkdir -p "$build"
cd "$build"
# shellcheck disable=SC2086
"$src/configure" --quiet ${CONFIGURE_FLAGS:-} | grep -E '^(libtlsio|  wolfSSL)'
make -j"$jobs" >/dev/null

if [ "$mode" = demo ]; then
	exec "$src/scripts/demo.sh" "$build"
fi

echo "== make check"
status=0
make -j"$jobs" check || status=$?
for log in tests/*.log; do
	[ -f "$log" ] || continue
	echo "---- $log"
	grep -E '^(Running suite|[0-9]+%: Checks|SKIP|.*:[EF]:|short writes|fault)' "$log" || true
done
if [ $status -ne 0 ]; then
	echo "== make check FAILED; full logs:" >&2
	for log in tests/*.log; do
		echo "======== $log" >&2
		tail -n 60 "$log" >&2
	done
	exit $status
fi

# suite_in DIR CONFIGURE_ARGS...: configure, build and make check in DIR; on a failure, the
# failing logs, and a non-zero status
suite_in() {
	(
		dir=$1
		shift
		# (set -e does not act in a function called left of ||: every step says so itself)
		mkdir -p "$dir" && cd "$dir" || exit 1
		# shellcheck disable=SC2086
		"$src/configure" --quiet "$@" ${CONFIGURE_FLAGS:-} | grep -E '^  wolfSSL' || exit 1
		make -j"$jobs" >/dev/null || exit 1
		make -j"$jobs" check >check.out 2>&1 || {
			cat check.out
			for log in tests/*.log; do
				echo "======== $log" >&2
				tail -n 60 "$log" >&2
			done
			exit 1
		}
		grep -E '^(PASS|SKIP|# TOTAL)' check.out
		# and why: what this build cannot do, as the tests say it (e.g. Debian's wolfSSL)
		grep -h '^SKIP' tests/*.log 2>/dev/null || true
	)
}

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included):
# any report fails a test (ASan/LSan exit non-zero; UBSan is built to abort). SANITIZE=0 skips.
if [ "${SANITIZE:-1}" != 0 ]; then
	echo "== make check under ASan+UBSan (in $build-asan)"
	{ suite_in "$build-asan" --enable-sanitizers &&
		! grep -lE 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$build-asan"/tests/*.log; } ||
		{ echo "== sanitizer run FAILED" >&2; exit 1; }

	# valgrind memcheck on the single-process suites (no fork, so leaks are seen at exit)
	# (and test-libuv: the libuv backend's own and application loops, its handles' close paths)
	vg_tests="test-tls test-queue"
	[ -x "$build/tests/test-libuv" ] && vg_tests="$vg_tests test-libuv"
	echo "== valgrind memcheck: $vg_tests"
	for t in $vg_tests; do
		# the test programs link the library statically: no libtool wrapper in between
		CK_FORK=no TLSIO_TEST_CERTS="$src/tests/certs" valgrind -q --error-exitcode=99 \
			--leak-check=full --errors-for-leak-kinds=definite,indirect \
			"$build/tests/$t" >"$build/valgrind-$t.log" 2>&1 || {
			tail -n 60 "$build/valgrind-$t.log" >&2
			echo "== valgrind FAILED on $t" >&2
			exit 1
		}
		grep -E '^[0-9]+%: Checks' "$build/valgrind-$t.log"
	done
fi

# The whole suite again on the system's libwolfssl (Debian's build: other options, shared), which a
# distribution package links: every behaviour must hold on both builds.
if [ "${SYSTEM_WOLFSSL:-1}" != 0 ]; then
	echo "== make check on the system's libwolfssl (in $build-system)"
	suite_in "$build-system" --with-wolfssl=system ||
		{ echo "== make check on the system's libwolfssl FAILED" >&2; exit 1; }
fi

echo "== make distcheck (the tarball configures, builds, installs and runs the TLS tests)"
make -j"$jobs" distcheck TESTS="tests/test-tls tests/test-queue" >distcheck.log 2>&1 || {
	tail -n 80 distcheck.log >&2
	exit 1
}
grep -E 'archives ready|\.tar\.gz' distcheck.log | head -3
echo "== all tests passed"
