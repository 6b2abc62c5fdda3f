#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Bad input and load against tlsio-https and tlsio-echo on every usable backend: abusers next to
# checked well-behaved clients, 1,000 concurrent connections, 100,000 connection churn with fds,
# RSS and heap checked after a warm-up. The scenarios and checks are in scripts/stress.py
# (`python3 scripts/stress.py --help`); this wrapper builds if needed, raises `ulimit -n`, and
# passes every other argument on.
#
# Usage: scripts/stress.sh [--builddir DIR] [stress.py options]
#   --builddir DIR  build to use (default ./build-stress, configured and built if missing;
#                   a build configured with --enable-sanitizers is detected and used as is)
#   --quick         a short version: small counts, about a minute for every backend
#   --backends LIST, --scenarios abuse,conns,churn, --churn N, --conns N, ...: see stress.py
# Full run (every backend, 100,000 connection churn each): 10 to 15 minutes on 2 cores.
# Exit status: 0 if every check passed, 1 if one failed, 2 on a set-up error.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build-stress
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--builddir) build=$2; shift 2 ;;
	--builddir=*) build=${1#*=}; shift ;;
	-h|--help)
		sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
		echo
		exec python3 "$top/scripts/stress.py" --builddir . --help ;;
	*) args+=("$1"); shift ;;
	esac
done

for t in python3:python3 h2load:nghttp2-client taskset:util-linux; do
	if ! command -v "${t%%:*}" >/dev/null 2>&1; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
			echo "stress: installing ${t#*:}" >&2
			apt-get install -y -q "${t#*:}" >/dev/null || { echo "stress: apt-get failed" >&2; exit 2; }
		else
			echo "stress: needs ${t%%:*} (Debian package ${t#*:})" >&2
			exit 2
		fi
	fi
done

if [ ! -x "$build/examples/tlsio-https" ] || [ ! -x "$build/examples/tlsio-echo" ]; then
	echo "stress: building in $build" >&2
	( cd "$top" && { [ -x configure ] || ./autogen.sh; } ) || exit 2
	mkdir -p "$build" || exit 2
	( cd "$build" && { [ -f Makefile ] || "$top/configure" --quiet >/dev/null; } && make -j"$(nproc)" >/dev/null ) ||
		{ echo "stress: build failed in $build" >&2; exit 2; }
fi
build=$(cd "$build" && pwd)

# 1,000 held connections plus the abusers need more descriptors than the usual 1024, on both
# sides; the servers inherit this limit.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then
	ulimit -n 65536
else
	ulimit -n "$hard"
fi
exec python3 "$top/scripts/stress.py" --builddir "$build" "${args[@]}"
