#!/bin/sh
# SPDX-License-Identifier: MIT
# io_uring forbidden (seccomp, as in containers): the uring backend must say why, and the uring
# contract suite must end as a SKIP (exit 77) naming the cause, never as a pass.
B="${TLSIO_BUILDDIR:-.}"
out=$(TLSIO_BACKENDS=uring "$B/tests/no-uring" "$B/tests/test-contract" 2>&1)
rc=$?
echo "$out"
if [ $rc -eq 77 ] && [ "$(echo "$out" | head -c 4)" = "no-u" ]; then
	exit 77 # the filter itself could not be installed here: nothing was tested
fi
if [ $rc -ne 77 ]; then
	echo "FAIL: test-contract exited $rc under a seccomp filter denying io_uring (expected 77, skip)"
	exit 1
fi
if ! echo "$out" | grep -q '^SKIP contract/uring: .*seccomp'; then
	echo "FAIL: no 'SKIP contract/uring: <reason naming seccomp>' line"
	exit 1
fi
echo "PASS: contract/uring skipped with the reason when io_uring is forbidden"
exit 0
