#!/bin/sh
# SPDX-License-Identifier: MIT
# Every source, header, script and test of the tree carries an SPDX-License-Identifier line in
# its first lines, and LICENSE is there: works in a git clone and in the release tarball alike.
set -u
top=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1
[ -f LICENSE ] || { echo "LICENSE is missing in $top"; exit 1; }
grep -q '^MIT License' LICENSE || { echo "LICENSE is not the MIT licence"; exit 1; }
bad=0 n=0
for f in $(find api tls backends examples tests scripts bench .ci -type f \
	\( -name '*.c' -o -name '*.h' -o -name '*.sh' -o -name '*.py' -o -name '*.in' -o -name run \) \
	2>/dev/null) Makefile.am configure.ac autogen.sh libtlsio.pc.in; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	if ! head -n 5 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
		echo "no SPDX-License-Identifier line at the top of $f"
		bad=$((bad + 1))
	fi
done
echo "licence: $n files checked, $bad without an SPDX line"
[ "$bad" -eq 0 ]
