#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root, or with sudo available):
#   scripts/quickstart.sh demo   install what is missing, build, run the echo demo on every backend
#   scripts/quickstart.sh test   install what is missing, build, run the full test suite (make check),
#                                then make distcheck (tarball builds and passes a test from scratch)
# Environment: BUILD_DIR (default ./build), JOBS (default nproc), CONFIGURE_FLAGS.
set -euo pipefail

mode=${1:-demo}
case "$mode" in
demo | test) ;;
-h | --help)
	sed -n '2,7p' "$0"
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
	libwolfssl-dev liburing-dev libev-dev openssl gnutls-bin python3)
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

echo "== building in $build"
./autogen.sh >/dev/null 2>&1 || ./autogen.sh
mkdir -p "$build"
cd "$build"
# shellcheck disable=SC2086
"$src/configure" --quiet ${CONFIGURE_FLAGS:-}
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

echo "== make distcheck (the tarball configures, builds, installs and runs the TLS tests)"
make -j"$jobs" distcheck TESTS="tests/test-tls tests/test-queue" >distcheck.log 2>&1 || {
	tail -n 80 distcheck.log >&2
	exit 1
}
grep -E 'archives ready|\.tar\.gz' distcheck.log | head -3
echo "== all tests passed"
