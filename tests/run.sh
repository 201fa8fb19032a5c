#!/bin/sh
# run.sh - run every unit suite and integration script, print one summary.
#
# Each test program prints "fg-test: NAME P passed, F failed" as its last
# counted line; this adds them up.  A program that exits non-zero without
# such a line counts as one failure.  Output of failing programs is shown;
# passing ones stay quiet unless VERBOSE=1.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
export FLOWGATE_TOP="$top"
export FLOWGATE_SHARED="${FLOWGATE_SHARED:-$top/../shared}"
# A sanitizer error exits 97, so it can never pass for a refusal (exit 1).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:exitcode=97}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=97}"
export GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME="flowgate test" GIT_AUTHOR_EMAIL="test@flowgate.invalid"
export GIT_COMMITTER_NAME="flowgate test" GIT_COMMITTER_EMAIL="test@flowgate.invalid"

passed=0 failed=0 broken=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_one() {
	name=$1; shift
	start=$(date +%s)
	"$@" >"$log" 2>&1
	rc=$?
	line=$(grep '^fg-test: ' "$log" | tail -n 1)
	p=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1/p')
	f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\2/p')
	[ -n "$p" ] || p=0
	[ -n "$f" ] || f=0
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
	secs=$(( $(date +%s) - start ))
	if [ "$f" -ne 0 ]; then
		broken="$broken $name"
		echo "FAIL $name (exit $rc, ${secs}s)"
		tail -n 60 "$log"
	else
		echo "ok   $name: $p passed (${secs}s)"
		[ "${VERBOSE:-0}" = 1 ] && cat "$log"
	fi
}

for t in tests/unit/test_*; do
	case "$t" in *.c|*.o|*.d) continue ;; esac
	[ -x "$t" ] || continue
	run_one "$t" "$t"
done
for t in tests/fuzz/fuzz_*; do
	case "$t" in *.c|*.o|*.d|*-libfuzzer) continue ;; esac
	[ -x "$t" ] || continue
	# A target's own seeds, if any, live in tests/fuzz/seeds/<name>/;
	# every target also takes the configs and the forges' payloads.
	seeds=tests/fuzz/seeds/${t#tests/fuzz/fuzz_}
	[ -d "$seeds" ] || seeds=
	run_one "$t (seeds)" "$t" tests/config/valid/* tests/config/invalid/* \
	    templates/* "$FLOWGATE_SHARED"/corpus/webhooks/*/*.json \
	    ${seeds:+"$seeds"/*}
done
for t in tests/integration/t_*.sh; do
	[ -f "$t" ] || continue
	run_one "$t" sh "$t"
done

[ -n "$broken" ] && echo "failing:$broken"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
