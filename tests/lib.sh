# SPDX-License-Identifier: MIT
# Sourced by the shell tests that run the example tools: where the binaries and certificates
# are, a scratch directory removed at exit (with the server still running, if any, killed),
# and a failure counter.
#   . "$(dirname "$0")/lib.sh"; tlsio_test_init NAME TOOL...
# sets builddir, certs, bin (the examples' directory), tmp, server_pid (the caller's to set;
# further processes in pids, all killed at exit),
# failures; fail MESSAGE counts one; stop_server and wait_for below. Exits 1 if a TOOL is not
# built.
builddir=${TLSIO_BUILDDIR:-.}
certs=${TLSIO_TEST_CERTS:-$(dirname "$0")/certs}
bin=$builddir/examples
server_pid=
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

tlsio_test_cleanup() {
	# tests that start more than one process list them in $pids
	for p in ${pids:-}; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$server_pid" ]; then
		kill -9 "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}

tlsio_test_init() {
	name=$1
	shift
	for t in "$@"; do
		[ -x "$bin/$t" ] || { echo "FAIL: $bin/$t not built"; exit 1; }
	done
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/tlsio-$name.XXXXXX") || exit 1
	trap tlsio_test_cleanup EXIT
}

# stop_server WHAT: SIGTERM, which must end the server (server_pid) with status 0 within 10 s.
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

# wait_for FILE PATTERN: up to 5 s for PATTERN to appear in FILE; 1 if it did not.
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	grep -q "$2" "$1" 2>/dev/null
}

# The system's python3 if there is one: a python3 earlier on $PATH may be a shim (pyenv) that
# costs half a second a start, and these tests start many. Sets py; 1 if there is none.
tlsio_test_python() {
	py=python3
	[ -x /usr/bin/python3 ] && py=/usr/bin/python3
	command -v $py >/dev/null 2>&1
}
