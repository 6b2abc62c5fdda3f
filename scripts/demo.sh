#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Demo: for every usable backend, start tlsio-echo on 127.0.0.1 and push 64 MiB through it with
# tlsio-client, once with tiny socket buffers (many short writes and EAGAINs: the interesting
# case for ordering) and once with the kernel's default buffers; then print one table.
#
# Usage: scripts/demo.sh [BUILD_DIR]   (default ./build; builds nothing)
# Environment: DEMO_BYTES (default 64M), DEMO_TIMEOUT seconds per run (default 300).
set -u

build=${1:-./build}
srcdir=$(cd "$(dirname "$0")/.." && pwd)
certs=$srcdir/tests/certs
echo_bin=$build/examples/tlsio-echo
client_bin=$build/examples/tlsio-client
bytes=${DEMO_BYTES:-64M}
run_timeout=${DEMO_TIMEOUT:-300}

for f in "$echo_bin" "$client_bin"; do
	if [ ! -x "$f" ]; then
		echo "demo: $f not found; build first (or pass the build directory)" >&2
		exit 2
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tlsio-demo.XXXXXX") || exit 1
server_pid=
cleanup() {
	# Only the server this script started, by its pid.
	if [ -n "$server_pid" ]; then
		kill -TERM "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# `timeout` keeps one hung run from hanging the demo; it is optional.
with_timeout() {
	if command -v timeout >/dev/null 2>&1; then
		timeout -k 10 "$run_timeout" "$@"
	else
		"$@"
	fi
}

# One value from the client's one-line JSON (keys are unique and values flat, except stats,
# whose keys do not collide with the top-level ones).
json_get() {
	sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" <<<"$1"
}

start_server() { # backend -> sets server_pid and addr
	local be=$1
	: >"$tmp/server.out"
	"$echo_bin" --backend "$be" --listen 127.0.0.1:0 --cert "$certs/server.pem" \
		--key "$certs/server.key" >"$tmp/server.out" 2>"$tmp/server.$be.err" &
	server_pid=$!
	addr=
	for _ in $(seq 1 100); do
		addr=$(sed -n 's/^listening on //p' "$tmp/server.out")
		[ -n "$addr" ] && return 0
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "demo: tlsio-echo ($be) did not start:" >&2
	cat "$tmp/server.$be.err" >&2
	return 1
}

stop_server() { # -> 0 if the server exited 0 after SIGTERM
	local rc
	kill -TERM "$server_pid" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$server_pid" 2>/dev/null; then
		echo "demo: tlsio-echo did not exit 10 s after SIGTERM; killing it" >&2
		kill -KILL "$server_pid" 2>/dev/null
	fi
	wait "$server_pid"
	rc=$?
	server_pid=
	return $rc
}

list=$("$client_bin" --list-backends) || exit 1
backends=$(awk 'NF == 1 { print $1 }' <<<"$list")
skipped=$(awk 'NF > 1' <<<"$list")
if [ -z "$backends" ]; then
	echo "demo: no usable backend" >&2
	exit 1
fi

failures=0
rows=()
row() {
	printf '%-9s %-8s %10s %-9s %12s %10s %8s %9s\n' "$@"
}
for be in $backends; do
	if ! start_server "$be"; then
		failures=$((failures + 1))
		rows+=("$(row "$be" "-" "-" "SERVER" "-" "-" "-" "-")")
		continue
	fi
	for bufs in small default; do
		args=(--backend "$be" --connect "$addr" --ca "$certs/ca.pem" --bytes "$bytes" --json)
		[ "$bufs" = small ] && args+=(--sndbuf 16384 --rcvbuf 16384)
		out=$(with_timeout "$client_bin" "${args[@]}" 2>"$tmp/client.err")
		rc=$?
		if [ $rc -ne 0 ] || [ "$(json_get "$out" ok)" != true ]; then
			failures=$((failures + 1))
			echo "demo: $be/$bufs failed (exit $rc):" >&2
			cat "$tmp/client.err" >&2
			[ $rc -eq 124 ] && echo "demo: (timed out after $run_timeout s)" >&2
		fi
		if [ -n "$out" ]; then
			digest=$(json_get "$out" digest_ok)
			[ "$digest" = true ] && digest=yes || digest=NO
			[ "$(json_get "$out" ok)" = true ] || digest="$digest/FAIL"
			rows+=("$(row "$be" "$bufs" "$(json_get "$out" echoed)" "$digest" \
				"$(json_get "$out" short_writes)" "$(json_get "$out" eagain)" \
				"$(printf '%.2fs' "$(json_get "$out" elapsed_s)")" \
				"$(printf '%.1f' "$(json_get "$out" mb_per_s)")")")
		else
			rows+=("$(row "$be" "$bufs" "-" "FAIL" "-" "-" "-" "-")")
		fi
	done
	if ! stop_server; then
		failures=$((failures + 1))
		echo "demo: tlsio-echo ($be) did not exit cleanly:" >&2
		cat "$tmp/server.$be.err" >&2
	fi
done

echo
row backend buffers bytes "digest ok" "short writes" eagain time MB/s
for r in "${rows[@]}"; do
	printf '%s\n' "$r"
done
if [ -n "$skipped" ]; then
	echo
	echo "not run (unusable here):"
	while IFS= read -r line; do
		echo "  $line"
	done <<<"$skipped"
fi

# The same kind of workload in one process per backend, side by side (examples/tlsio-compare):
# bytes, digest agreement across backends, short writes absorbed, syscalls/submissions, time.
compare_bin=$build/examples/tlsio-compare
if [ -x "$compare_bin" ]; then
	echo
	echo "tlsio-compare (in-process echo, 4 KiB socket buffers):"
	if ! with_timeout "$compare_bin" --cert "$certs/server.pem" --key "$certs/server.key" \
		--ca "$certs/ca.pem" --bytes "$bytes" --sndbuf 4096 --rcvbuf 4096 -q; then
		failures=$((failures + 1))
		echo "demo: tlsio-compare failed" >&2
	fi
fi
echo
if [ $failures -ne 0 ]; then
	echo "demo: $failures failure(s)"
	exit 1
fi
echo "demo: all runs ok"
