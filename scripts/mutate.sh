#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Mutation testing of libtlsio with its own test suite: does `make check` notice real bugs?
#
# The catalogue (scripts/mutants.txt; its header gives the format) lists mutants. Each one is a
# small, realistic bug in api/, tls/ or backends/: a sed rule (or a tiny unified diff) applied to
# one file, a line on the bug it models, and the tests that should kill it (a TESTS= list for
# `make check`, plus environment such as CK_RUN_CASE=...; none: the whole `make check`).
#
# How a run goes: the tree is copied once into a scratch directory (the files git tracks, and
# untracked ones it does not ignore, as they are in the work tree), configured once (a plain
# build, no sanitizers; $CONFIGURE_FLAGS are passed to configure) and built once. Every rule is
# checked against the pristine copy first: one that no longer changes exactly what it says
# (no match, more or fewer lines than its `lines:`, a diff that does not apply) is "stale", an
# error, never a survivor. Each distinct test subset then runs once on the unmutated build (the
# baseline): a subset that fails there, or a CK_RUN_CASE that selects no test, stops the run.
# Then, per mutant: the mutated file goes in, make rebuilds what depends on it (library,
# examples and test programs), the subset runs under a time limit, the file is restored (and
# rebuilt at the next step). Results:
#   killed        a test failed; "timeout" if the subset ran past the limit (a hang is a kill)
#   survived      every test passed: the suite cannot tell this bug from the real code
#   equivalent    marked "equivalent: <reason>" in the catalogue (the change cannot alter
#                 behaviour): its rule is checked, nothing is run, it is not counted
#   stale         the rule does not match the source any more: fix the catalogue
#   uncompilable  the mutant does not build: reported, not counted
#   skipped       every test of the subset skipped (a backend that cannot run here): not counted
# At the end a table (id, file, result, the test that killed it, seconds, why) and the totals;
# kill rate = killed / (killed + survived).
#
# Exit status: 0; 1 if the kill rate is below --min-rate, a mutant is stale, a baseline fails,
# or --full-sample finds a kill that the mutant's subset missed; 2 on a usage error.
#
# Usage: bash scripts/mutate.sh [options]
#   --quick             the fixed smoke sample (entries with "quick: yes"), a few minutes
#   --only ID[,ID...]   only these mutants
#   --list              print the catalogue (or the --only/--quick selection) and exit
#   --dry-run           check the selected rules against the work tree and show their diffs;
#                       nothing is copied or built (exit 1 if one is stale)
#   --full-sample N     then run N randomly chosen mutants (of those run) against the whole
#                       `make check`, after a baseline of it, to check that the subsets do not
#                       hide kills
#   --seed N            the seed of that choice (default: a random one, printed)
#   --jobs N            make -j for the builds (default 2); the tests run one at a time
#   --timeout SECS      time limit of one mutant's subset (default 300)
#   --full-timeout SECS time limit of one whole `make check` (default 3600)
#   --min-rate PCT      lowest acceptable kill rate (default 95)
#   --catalogue FILE    another catalogue ($TLSIO_MUTANTS does the same)
#   --scratch DIR       the scratch directory (default build-mutate/ in the tree, which
#                       .gitignore's build*/ covers); it is made afresh and removed at the end
#   --keep              keep it (logs of every step in DIR/.mutate/logs/)
#   --help
# Environment: CONFIGURE_FLAGS (words passed to configure), TLSIO_MUTANTS (the catalogue).
# Example: bash scripts/mutate.sh --only core-hw-gt,sock-short-as-full --keep

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CATALOGUE=${TLSIO_MUTANTS:-$TOP/scripts/mutants.txt}
SCRATCH=$TOP/build-mutate
JOBS=2 TIMEOUT=300 FULL_TIMEOUT=3600 MIN_RATE=95 FULL_SAMPLE=0 SEED=
QUICK=0 ONLY='' LIST=0 DRY=0 KEEP=0

usage() { sed -n '3,/^$/{/^$/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "mutate: $*" >&2; exit 2; }   # usage and catalogue errors
fail() { echo "mutate: $*" >&2; exit 1; }  # the run cannot go on
say() { printf '%s\n' "$*"; }

need_arg() { [ "$2" -ge 2 ] || die "$1 needs an argument (--help)"; }
is_num() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--only) need_arg "$1" $#; ONLY=$2; shift ;;
	--list) LIST=1 ;;
	--dry-run) DRY=1 ;;
	--full-sample) need_arg "$1" $#; FULL_SAMPLE=$2; shift ;;
	--seed) need_arg "$1" $#; SEED=$2; shift ;;
	--jobs) need_arg "$1" $#; JOBS=$2; shift ;;
	--timeout) need_arg "$1" $#; TIMEOUT=$2; shift ;;
	--full-timeout) need_arg "$1" $#; FULL_TIMEOUT=$2; shift ;;
	--min-rate) need_arg "$1" $#; MIN_RATE=$2; shift ;;
	--catalogue) need_arg "$1" $#; CATALOGUE=$2; shift ;;
	--scratch) need_arg "$1" $#; SCRATCH=$2; shift ;;
	--keep) KEEP=1 ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown option $1 (--help)" ;;
	esac
	shift
done
for v in FULL_SAMPLE JOBS TIMEOUT FULL_TIMEOUT MIN_RATE; do
	is_num "${!v}" || die "--$(echo "$v" | tr 'A-Z_' 'a-z-') wants a whole number, not '${!v}'"
done
[ -z "$SEED" ] || is_num "$SEED" || die "--seed wants a whole number"
[ "$JOBS" -ge 1 ] || die "--jobs must be at least 1"
[ -z "$ONLY" ] || [ "$QUICK" -eq 0 ] || die "--only and --quick exclude each other"

# ------------------------------------------------------------------------------------------
# The catalogue, into parallel arrays (index = entry number).

M_ID=() M_FILE=() M_SED=() M_PATCH=() M_WHY=() M_TESTS=() M_ENV=() M_EQUIV=() M_LINES=() M_QUICK=()
M_AT=()

parse_catalogue() {
	local file=$1 line key val n=-1 no=0 i j
	[ -r "$file" ] || die "cannot read the catalogue $file"
	while IFS= read -r line || [ -n "$line" ]; do
		no=$((no + 1))
		case $line in
		'' | '#'*) continue ;;
		'|'*)
			[ "$n" -ge 0 ] || die "$file:$no: a diff line before the first id:"
			M_PATCH[n]+="${line#|}"$'\n'
			continue
			;;
		esac
		key=${line%%:*}
		[ "$key" != "$line" ] || die "$file:$no: expected 'key: value', got: $line"
		val=${line#*:}
		val=${val#"${val%%[![:space:]]*}"}
		if [ "$key" = id ]; then
			n=$((n + 1))
			M_ID[n]=$val M_FILE[n]='' M_SED[n]='' M_PATCH[n]='' M_WHY[n]='' M_TESTS[n]=''
			M_ENV[n]='' M_EQUIV[n]='' M_LINES[n]=1 M_QUICK[n]=0 M_AT[n]=$no
			continue
		fi
		[ "$n" -ge 0 ] || die "$file:$no: '$key:' before the first id:"
		case $key in
		file) M_FILE[n]=$val ;;
		sed) M_SED[n]+="$val"$'\n' ;;
		patch) ;; # the diff follows on '|' lines
		why) M_WHY[n]=$val ;;
		tests) M_TESTS[n]=$val ;;
		env) M_ENV[n]=$val ;;
		equivalent) M_EQUIV[n]=$val ;;
		lines) is_num "$val" || die "$file:$no: lines: wants a number"; M_LINES[n]=$val ;;
		quick) case $val in yes) M_QUICK[n]=1 ;; no) ;; *) die "$file:$no: quick: yes or no" ;; esac ;;
		*) die "$file:$no: unknown key '$key'" ;;
		esac
	done <"$file"
	[ "$n" -ge 0 ] || die "$file: no mutant in it"
	for ((i = 0; i <= n; i++)); do
		local at="$file:${M_AT[i]}"
		case ${M_ID[i]} in '' | *[!A-Za-z0-9._-]*) die "$at: bad id '${M_ID[i]}'" ;; esac
		[ -n "${M_FILE[i]}" ] || die "$at: ${M_ID[i]} has no file:"
		[ -n "${M_WHY[i]}" ] || die "$at: ${M_ID[i]} has no why:"
		if { [ -n "${M_SED[i]}" ] && [ -n "${M_PATCH[i]}" ]; } || { [ -z "${M_SED[i]}" ] && [ -z "${M_PATCH[i]}" ]; }; then
			die "$at: ${M_ID[i]} needs exactly one of sed: or a diff (patch: and '|' lines)"
		fi
		for ((j = 0; j < i; j++)); do
			[ "${M_ID[j]}" != "${M_ID[i]}" ] || die "$at: id ${M_ID[i]} is used twice"
		done
	done
}

parse_catalogue "$CATALOGUE"
NM=${#M_ID[@]}

# The selection, as indices.
SEL=()
if [ -n "$ONLY" ]; then
	IFS=, read -r -a want <<<"$ONLY"
	for w in "${want[@]}"; do
		found=
		for ((i = 0; i < NM; i++)); do [ "${M_ID[i]}" = "$w" ] && found=$i; done
		[ -n "$found" ] || die "--only: no mutant '$w' in $CATALOGUE (--list)"
		SEL+=("$found")
	done
else
	for ((i = 0; i < NM; i++)); do
		[ "$QUICK" -eq 0 ] || [ "${M_QUICK[i]}" -eq 1 ] || continue
		SEL+=("$i")
	done
fi
[ ${#SEL[@]} -gt 0 ] || die "nothing selected (no 'quick: yes' entry?)"

subset_text() { # how a mutant's tests are run, in words
	local i=$1
	printf '%s%s' "${M_TESTS[i]:-make check (all)}" "${M_ENV[i]:+  ${M_ENV[i]}}"
}

if [ "$LIST" -eq 1 ]; then
	declare -A per_file=()
	for i in "${SEL[@]}"; do
		marks=
		[ "${M_QUICK[i]}" -eq 0 ] || marks+=" [quick]"
		[ -z "${M_EQUIV[i]}" ] || marks+=" [equivalent]"
		[ -z "${M_PATCH[i]}" ] || marks+=" [diff]"
		say "${M_ID[i]}  ${M_FILE[i]}$marks"
		say "    why:   ${M_WHY[i]}"
		if [ -n "${M_EQUIV[i]}" ]; then
			say "    equivalent: ${M_EQUIV[i]}"
		else
			say "    tests: $(subset_text "$i")"
		fi
		per_file[${M_FILE[i]}]=$((${per_file[${M_FILE[i]}]:-0} + 1))
	done
	say ""
	say "${#SEL[@]} mutants ($CATALOGUE):"
	for f in $(printf '%s\n' "${!per_file[@]}" | sort); do
		printf '  %-22s %3d\n' "$f" "${per_file[$f]}"
	done
	exit 0
fi

# ------------------------------------------------------------------------------------------
# Results, per entry index.

RES=() KILLER=() SECS=() FULLRES=() FULLKILLER=()
for i in "${SEL[@]}"; do RES[i]='' KILLER[i]=- SECS[i]=0; done

# ------------------------------------------------------------------------------------------
# The scratch copy.

CURRENT= # the scratch file a mutant is in right now (restored on exit)
WORK=
CHILD= # the timeout(1) running a test subset: its pid is its process group
# shellcheck disable=SC2317 # the traps call these
interrupted() {
	if [ -n "$CHILD" ]; then
		kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null || true
		wait "$CHILD" 2>/dev/null || true
	fi
	echo "mutate: interrupted" >&2
	exit 130
}
# shellcheck disable=SC2317
cleanup() {
	local rc=$?
	if [ -n "$CURRENT" ] && [ -n "$WORK" ] && [ -f "$WORK/orig/$CURRENT" ]; then
		cp "$WORK/orig/$CURRENT" "$SCRATCH/$CURRENT" 2>/dev/null || true
	fi
	if [ "$DRY" -eq 1 ]; then
		[ -z "$WORK" ] || rm -rf "$WORK"
	elif [ "$KEEP" -eq 0 ] && [ -f "$SCRATCH/.mutate-scratch" ]; then
		rm -rf "$SCRATCH"
	elif [ -d "$SCRATCH" ]; then
		echo "mutate: scratch directory kept: $SCRATCH (logs in $SCRATCH/.mutate/logs)" >&2
	fi
	exit "$rc"
}

copy_tree() {
	if git -C "$TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		# tracked files (as edited now) and untracked ones git does not ignore; not deleted ones
		(cd "$TOP" && git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do
				if [ -f "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
			done | tar --null -T - -cf -) | tar -C "$SCRATCH" -xf -
	else
		# a release tarball: everything but builds and local dependency trees
		(cd "$TOP" && tar --exclude='./build*' --exclude=./_deps --exclude=./.git -cf - .) |
			tar -C "$SCRATCH" -xf -
	fi
}

prepare_scratch() {
	SCRATCH=$(realpath -m "$SCRATCH")
	case $SCRATCH in / | "$TOP" | "$HOME") die "--scratch $SCRATCH: refusing to use that directory" ;; esac
	if [ -e "$SCRATCH" ]; then
		[ -f "$SCRATCH/.mutate-scratch" ] ||
			fail "$SCRATCH exists and was not made by mutate.sh: remove it or pass --scratch DIR"
		rm -rf "$SCRATCH"
	fi
	mkdir -p "$SCRATCH"
	: >"$SCRATCH/.mutate-scratch"
	copy_tree
	WORK=$SCRATCH/.mutate
	mkdir -p "$WORK/orig" "$WORK/mutants" "$WORK/logs"
	ORIGDIR=$WORK/orig
	for i in "${SEL[@]}"; do
		local f=${M_FILE[i]}
		[ -f "$SCRATCH/$f" ] || continue # stale, said below
		mkdir -p "$ORIGDIR/$(dirname "$f")"
		cp -p "$SCRATCH/$f" "$ORIGDIR/$f"
	done
}

# ------------------------------------------------------------------------------------------
# Rules.

# Make mutant $1's file in $WORK/mutants/ from the pristine one and check that the rule
# changed what it says. Returns 1 (with the reason in NOTE) if the rule is stale.
make_mutant() {
	local i=$1 f=${M_FILE[$1]} src out del add got
	src=$ORIGDIR/$f
	out=$WORK/mutants/${M_ID[i]}
	NOTE=
	if [ ! -f "$src" ]; then
		NOTE="no file $f"
		return 1
	fi
	if [ -n "${M_SED[i]}" ]; then
		if ! sed -e "${M_SED[i]}" "$src" >"$out" 2>"$out.err"; then
			NOTE="sed: $(head -n 1 "$out.err")"
			return 1
		fi
	elif ! printf '%s' "${M_PATCH[i]}" |
		patch -s -N --batch --fuzz=0 --no-backup-if-mismatch -r - -o "$out" "$src" >"$out.err" 2>&1; then
		NOTE="the diff does not apply: $(head -n 1 "$out.err")"
		return 1
	fi
	diff "$src" "$out" >"$out.diff" || true
	del=$(grep -c '^<' "$out.diff" || true)
	add=$(grep -c '^>' "$out.diff" || true)
	if [ "$del" -eq 0 ] && [ "$add" -eq 0 ]; then
		NOTE="the rule changes nothing"
		return 1
	fi
	got=$((del > add ? del : add))
	if [ -n "${M_SED[i]}" ] && [ "$got" -ne "${M_LINES[i]}" ]; then
		NOTE="the rule changes $got lines, not ${M_LINES[i]}"
		return 1
	fi
	return 0
}

check_rules() { # sets RES=stale for the stale ones; returns the count
	local i bad=0
	for i in "${SEL[@]}"; do
		if ! make_mutant "$i"; then
			RES[i]=stale KILLER[i]=$NOTE
			bad=$((bad + 1))
			echo "mutate: STALE ${M_ID[i]} (${M_FILE[i]}): $NOTE" >&2
		fi
	done
	return "$bad"
}

trap interrupted INT TERM
if [ "$DRY" -eq 1 ]; then
	trap cleanup EXIT
	WORK=$(mktemp -d)
	mkdir -p "$WORK/mutants"
	ORIGDIR=$TOP
	stale=0
	check_rules || stale=$?
	for i in "${SEL[@]}"; do
		f=${M_FILE[i]}
		if [ "${RES[i]}" = stale ]; then
			say "=== ${M_ID[i]}: STALE: ${KILLER[i]}"
			continue
		fi
		say "=== ${M_ID[i]} ($f)${M_EQUIV[i]:+ [equivalent]}: ${M_WHY[i]}"
		diff -u --label "a/$f" --label "b/$f" "$ORIGDIR/$f" "$WORK/mutants/${M_ID[i]}" || true
	done
	say "${#SEL[@]} rules checked, $stale stale"
	exit $((stale > 0))
fi

# ------------------------------------------------------------------------------------------
# Building and testing in the scratch copy.

make_print() { # the value of a variable of the generated Makefile
	# shellcheck disable=SC2016 # $(...) is make's
	printf 'mutate-print:\n\t@echo $(%s)\n' "$1" | make -s -C "$SCRATCH" -f Makefile -f - mutate-print
}

# Two makes: `all` recurses into a make of its own, which would race a top-level one building
# the test programs' prerequisites (the same objects) at the same time.
# shellcheck disable=SC2086 # CHECK_PROGS is a list of targets
build() {
	make -C "$SCRATCH" -j"$JOBS" all >"$1" 2>&1 &&
		make -C "$SCRATCH" -j"$JOBS" $CHECK_PROGS >>"$1" 2>&1
}

# run_tests LOG LIMIT TESTS ENV: `make check` of TESTS (empty: all of them) with ENV (VAR=value
# words) under LIMIT seconds; RC gets its status (124 or 137: the limit).
run_tests() {
	local log=$1 limit=$2 tests=$3 env=$4 args=()
	[ -z "$tests" ] || args=("TESTS=$tests")
	RC=0
	# In the background so that a signal reaches us at once (timeout runs in a process group
	# of its own, which the terminal's ^C does not reach); see interrupted().
	# shellcheck disable=SC2086 # env is a list of words
	(cd "$SCRATCH" && exec timeout -k 10 "$limit" env AM_COLOR_TESTS=no $env \
		make -j1 check "${args[@]}") >"$log" 2>&1 </dev/null &
	CHILD=$!
	wait "$CHILD" || RC=$?
	CHILD=
}

count() { grep -c "$1" "$2" || true; }

# The first failing test of a make check output, with the Check test case if its log names
# one: "contract-epoll.sh:test_backpressure".
first_failure() {
	local out=$1 t tc
	t=$(sed -n 's/^\(FAIL\|ERROR\|XPASS\): \([^ ]*\).*/\2/p' "$out" | head -n 1)
	if [ -z "$t" ]; then
		echo "-"
		return
	fi
	tc=$(sed -n 's/^[^:]*:[0-9]*:[EF]:[^:]*:\([^:]*\):[0-9]*:.*/\1/p' "$SCRATCH/$t.log" 2>/dev/null |
		head -n 1)
	echo "${t##*/}${tc:+:$tc}"
}

# The test that was running when the limit hit: the first one of the list without a result.
running_test() {
	local out=$1 tests=$2 t
	for t in $tests; do
		if ! grep -q "^[A-Z]*: $t\( \|\$\)" "$out"; then
			echo "${t##*/} (running)"
			return
		fi
	done
	echo "-"
}

# Classify a finished run: sets R (killed/timeout/survived/skipped) and K (the killer).
classify() {
	local out=$1 tests=$2
	case $RC in
	0)
		if [ "$(count '^PASS: ' "$out")" -eq 0 ] && [ "$(count '^SKIP: ' "$out")" -gt 0 ]; then
			R=skipped K="every test skipped"
		else
			R=survived K=-
		fi
		;;
	124 | 137) R=timeout K=$(running_test "$out" "${tests:-$ALL_TESTS}") ;;
	*) R=killed K=$(first_failure "$out") ;;
	esac
}

# The sum of Check's "Checks: N" in the logs of a subset: 0 means a CK_RUN_CASE matched nothing.
checks_run() {
	local tests=$1 t n=0 k
	for t in $tests; do
		while read -r k; do
			n=$((n + k))
		done < <(grep -ho 'Checks: [0-9]*' "$SCRATCH/$t.log" 2>/dev/null | sed 's/Checks: //')
	done
	echo "$n"
}

install_mutant() {
	CURRENT=${M_FILE[$1]}
	cp "$WORK/mutants/${M_ID[$1]}" "$SCRATCH/$CURRENT"
	touch "$SCRATCH/$CURRENT" # newer than its objects, whatever the clock did
}

restore() {
	[ -n "$CURRENT" ] || return 0
	cp "$WORK/orig/$CURRENT" "$SCRATCH/$CURRENT"
	touch "$SCRATCH/$CURRENT" # newer than the mutant's objects: rebuilt at the next step
	CURRENT=
}

# Build mutant $1 and run TESTS ENV within LIMIT; sets R, K.
try_mutant() {
	local i=$1 tests=$2 env=$3 limit=$4 tag=$5 blog=$WORK/logs/${M_ID[$1]}.$5.build
	install_mutant "$i"
	if ! build "$blog"; then
		R=uncompilable
		K=$(grep -m 1 'error:' "$blog" | sed 's/^[^ ]*error: //' | cut -c 1-48)
		K=${K:-"make failed"}
	else
		run_tests "$WORK/logs/${M_ID[i]}.$tag.check" "$limit" "$tests" "$env"
		classify "$WORK/logs/${M_ID[i]}.$tag.check" "$tests"
	fi
	restore
}

# ------------------------------------------------------------------------------------------
# The run.

trap cleanup EXIT
T0=$SECONDS
say "mutate: ${#SEL[@]} mutants of $CATALOGUE; scratch $SCRATCH"
prepare_scratch
stale=0
check_rules || stale=$?

say "mutate: configure ${CONFIGURE_FLAGS:-(no flags)} and build (make -j$JOBS)"
# shellcheck disable=SC2086 # CONFIGURE_FLAGS is a list of words
if ! (cd "$SCRATCH" && { [ -x configure ] || ./autogen.sh; } && ./configure ${CONFIGURE_FLAGS:-}) \
	>"$WORK/logs/configure.log" 2>&1; then
	tail -n 20 "$WORK/logs/configure.log" >&2
	KEEP=1
	fail "configure failed (log: $WORK/logs/configure.log)"
fi
CHECK_PROGS=$(make_print check_PROGRAMS)
ALL_TESTS=$(make_print TESTS)
if ! build "$WORK/logs/build.log"; then
	tail -n 20 "$WORK/logs/build.log" >&2
	KEEP=1
	fail "the unmutated tree does not build (log: $WORK/logs/build.log)"
fi
say "mutate: built in $((SECONDS - T0)) s"

# Baseline: each distinct subset once, unmutated.
declare -A BASE=()
for i in "${SEL[@]}"; do
	if [ -n "${RES[i]}" ] || [ -n "${M_EQUIV[i]}" ]; then continue; fi
	key="${M_TESTS[i]}|${M_ENV[i]}"
	[ -z "${BASE[$key]:-}" ] || continue
	BASE[$key]=1
	t=$SECONDS
	log=$WORK/logs/baseline.$(echo "$key" | tr -c 'A-Za-z0-9_.=-' '_' | cut -c 1-120).check
	run_tests "$log" "$TIMEOUT" "${M_TESTS[i]}" "${M_ENV[i]}"
	classify "$log" "${M_TESTS[i]}"
	if [ "$R" != survived ]; then
		KEEP=1
		fail "baseline: $(subset_text "$i") is $R on the unmutated tree ($K); log: $log"
	fi
	case " ${M_ENV[i]} " in
	*" CK_RUN_CASE="*)
		if [ "$(checks_run "${M_TESTS[i]}")" -eq 0 ]; then
			KEEP=1
			fail "baseline: $(subset_text "$i") ran no Check test: the CK_RUN_CASE matches no case"
		fi
		;;
	esac
	say "mutate: baseline $(subset_text "$i"): passes ($((SECONDS - t)) s)"
done

n=0
for i in "${SEL[@]}"; do
	n=$((n + 1))
	t=$SECONDS
	if [ -z "${RES[i]}" ]; then
		if [ -n "${M_EQUIV[i]}" ]; then
			RES[i]=equivalent
		else
			try_mutant "$i" "${M_TESTS[i]}" "${M_ENV[i]}" "$TIMEOUT" subset
			RES[i]=$R KILLER[i]=$K
		fi
	fi
	SECS[i]=$((SECONDS - t))
	printf 'mutate: [%d/%d] %-30s %-12s %s (%d s)\n' "$n" "${#SEL[@]}" "${M_ID[i]}" "${RES[i]}" \
		"${KILLER[i]}" "${SECS[i]}"
done

# --full-sample: some of the mutants that ran, against the whole suite.
MISSES=0 SAMPLE=()
if [ "$FULL_SAMPLE" -gt 0 ]; then
	cand=()
	for i in "${SEL[@]}"; do
		case ${RES[i]} in killed | timeout | survived) cand+=("$i") ;; esac
	done
	SEED=${SEED:-$((RANDOM * 32768 + RANDOM))}
	RANDOM=$SEED
	for ((k = ${#cand[@]} - 1; k > 0; k--)); do # Fisher-Yates
		j=$((RANDOM % (k + 1)))
		x=${cand[k]}
		cand[k]=${cand[j]}
		cand[j]=$x
	done
	SAMPLE=("${cand[@]:0:FULL_SAMPLE}")
	say "mutate: full-suite sample of ${#SAMPLE[@]} (seed $SEED); first the unmutated suite"
	if [ ${#SAMPLE[@]} -gt 0 ]; then
		t=$SECONDS
		build "$WORK/logs/full-baseline.build" || fail "the unmutated tree does not build again"
		run_tests "$WORK/logs/full-baseline.check" "$FULL_TIMEOUT" "" ""
		classify "$WORK/logs/full-baseline.check" ""
		if [ "$R" != survived ]; then
			KEEP=1
			fail "baseline: the whole make check is $R on the unmutated tree ($K)"
		fi
		say "mutate: baseline make check: passes ($((SECONDS - t)) s)"
	fi
	for i in "${SAMPLE[@]}"; do
		t=$SECONDS
		try_mutant "$i" "" "" "$FULL_TIMEOUT" full
		FULLRES[i]=$R FULLKILLER[i]=$K
		if [ "${RES[i]}" = survived ] && { [ "$R" = killed ] || [ "$R" = timeout ]; }; then
			MISSES=$((MISSES + 1))
		fi
		printf 'mutate: full %-30s %-12s %s (%d s)\n' "${M_ID[i]}" "$R" "$K" $((SECONDS - t))
	done
fi

# ------------------------------------------------------------------------------------------
# Report.

wid=2 wfile=4 wkill=9
for i in "${SEL[@]}"; do
	[ "${#M_ID[i]}" -le "$wid" ] || wid=${#M_ID[i]}
	[ "${#M_FILE[i]}" -le "$wfile" ] || wfile=${#M_FILE[i]}
	k=${KILLER[i]:0:44}
	[ "${#k}" -le "$wkill" ] || wkill=${#k}
done
say ""
printf "%-${wid}s  %-${wfile}s  %-12s  %-${wkill}s  %5s  %s\n" ID FILE RESULT "KILLED BY" SECS WHY
declare -A TOT=()
for i in "${SEL[@]}"; do
	printf "%-${wid}s  %-${wfile}s  %-12s  %-${wkill}s  %5d  %s\n" "${M_ID[i]}" "${M_FILE[i]}" \
		"${RES[i]}" "${KILLER[i]:0:44}" "${SECS[i]}" "${M_WHY[i]}"
	TOT[${RES[i]}]=$((${TOT[${RES[i]}]:-0} + 1))
done
if [ ${#SAMPLE[@]} -gt 0 ]; then
	say ""
	say "whole make check on a sample (seed $SEED):"
	printf "%-${wid}s  %-12s  %-12s  %s\n" ID SUBSET "MAKE CHECK" "KILLED BY"
	for i in "${SAMPLE[@]}"; do
		note=
		if [ "${RES[i]}" = survived ] && { [ "${FULLRES[i]}" = killed ] || [ "${FULLRES[i]}" = timeout ]; }; then
			note="  <- the subset misses this kill"
		fi
		printf "%-${wid}s  %-12s  %-12s  %s%s\n" "${M_ID[i]}" "${RES[i]}" "${FULLRES[i]}" \
			"${FULLKILLER[i]}" "$note"
	done
fi

killed=$((${TOT[killed]:-0} + ${TOT[timeout]:-0}))
survived=${TOT[survived]:-0}
say ""
say "mutants: ${#SEL[@]}; killed $killed (${TOT[timeout]:-0} of them by timeout), survived $survived," \
	"equivalent ${TOT[equivalent]:-0}, stale ${TOT[stale]:-0}, uncompilable ${TOT[uncompilable]:-0}," \
	"skipped ${TOT[skipped]:-0}; $((SECONDS - T0)) s in all"
rc=0
if [ $((killed + survived)) -gt 0 ]; then
	rate=$(awk -v k="$killed" -v s="$survived" 'BEGIN { printf "%.1f", 100 * k / (k + s) }')
	say "kill rate: $killed / $((killed + survived)) = $rate% (minimum $MIN_RATE%)"
	if awk -v r="$rate" -v m="$MIN_RATE" 'BEGIN { exit !(r < m) }'; then
		say "mutate: FAIL: kill rate below $MIN_RATE%"
		rc=1
	fi
else
	say "kill rate: none ran"
fi
if [ "${TOT[stale]:-0}" -gt 0 ]; then
	say "mutate: FAIL: ${TOT[stale]} stale rule(s): the source changed under them; fix $CATALOGUE"
	rc=1
fi
if [ "$MISSES" -gt 0 ]; then
	say "mutate: FAIL: the whole suite killed $MISSES mutant(s) their subset let survive: widen those subsets"
	rc=1
fi
exit "$rc"
