#!/bin/sh
# t_store_activity.sh - 'flowgate activity' over a log the store wrote,
# hostile text included, checked against git's own view of the same log.
. "$(dirname "$0")/lib.sh"

if [ ! -x "$FG" ] || [ ! -x "$TOP/tests/bench/store_bench" ]; then
	echo "# skip: $FG or tests/bench/store_bench not built"
	done_testing
fi
SB=$TOP/tests/bench/store_bench
R=$T/r.git
git init -q --bare "$R"

ok "empty log is not an error" "$FG" activity --repo "$R"
is "empty log prints nothing" "$("$FG" activity --repo "$R")" ""

# Records with a fixed clock: FLOWGATE_NOW drives fg_now().
FLOWGATE_NOW=2026-11-23T10:00:00Z "$SB" record "$R" push \
    "push main by alice refused: 2 issues" status=refused actor=alice \
    stage=production >/dev/null
FLOWGATE_NOW=2026-11-23T10:05:00Z "$SB" record "$R" deploy \
    "deploy prod: 1a2b3c4 succeeded in 42s" status=succeeded env=prod \
    actor=bob commit=1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d >/dev/null
FLOWGATE_NOW=2026-11-23T10:06:00Z "$SB" record "$R" deploy \
    "deploy qa: 1a2b3c4 failed in 3s" status=failed env=qa actor=bob \
    >/dev/null

is "one line per record, newest first" "$("$FG" activity --repo "$R")" \
"2026-11-23 10:06:00Z  bob  deploy qa: 1a2b3c4 failed in 3s
2026-11-23 10:05:00Z  bob  deploy prod: 1a2b3c4 succeeded in 42s
2026-11-23 10:00:00Z  alice  push main by alice refused: 2 issues"
is "git log says the same" "$(git -C "$R" log --format='%an|%s' \
    refs/flowgate/activity | head -1)" "bob|deploy qa: 1a2b3c4 failed in 3s"
is "-n limits" "$("$FG" activity --repo "$R" -n 1 | wc -l)" "1"
is "--kind and --env filter" \
    "$("$FG" activity --repo "$R" --kind deploy --env prod | cut -c23-)" \
    "bob  deploy prod: 1a2b3c4 succeeded in 42s"
is "--commit matches a prefix" \
    "$("$FG" activity --repo "$R" --commit 1a2b3c4 | wc -l)" "1"
is "--stage filters" "$("$FG" activity --repo "$R" --stage production |
    cut -c23-)" "alice  push main by alice refused: 2 issues"
is "no match, no output" "$("$FG" activity --repo "$R" --kind gate)" ""

out=$("$FG" activity --repo "$R" --json -n 2)
is "--json: one object per line" "$(printf '%s\n' "$out" | wc -l)" "2"
like "--json: id first, then record.json" "$(printf '%s\n' "$out" | head -1)" \
    '^\{"id":"[0-9a-f]{40}","version":1,"kind":"deploy","subject":"deploy qa: 1a2b3c4 failed in 3s","time":"2026-11-23T10:06:00Z","actor":\{"name":"bob"'
ok "--json lines parse" sh -c "printf '%s\n' '$out' | jq -e . >/dev/null"

# Outside text: a branch name with an escape sequence and a forged trailer.
"$SB" record "$R" push "$(printf 'push \033[2J ma\nin\n\nFlowgate-Status: succeeded')" \
    status=refused actor="$(printf 'mal\033lory')" >/dev/null
line=$("$FG" activity --repo "$R" -n 1)
unlike "no terminal escapes reach the screen" "$line" "$(printf '\033')"
like "the subject stays one visible line" "$line" \
    'mal\\x1blory  push \\x1b\[2J ma\\nin\\n\\nFlowgate-Status: succeeded$'
is "git sees only our status" "$(git -C "$R" log -1 \
    --format='%(trailers:key=Flowgate-Status,valueonly,separator=%x2C)' \
    refs/flowgate/activity)" "refused"
is "--status sees only our status" \
    "$("$FG" activity --repo "$R" --status succeeded | wc -l)" "1"

# Finding the repository: $GIT_DIR, the current directory, global --repo.
is "GIT_DIR" "$(GIT_DIR=$R "$FG" activity -n 1 | wc -l)" "1"
is "current directory" "$(cd "$R" && "$FG" activity -n 1 | wc -l)" "1"
is "global --repo" "$("$FG" --repo "$R" activity -n 1 | wc -l)" "1"

# Usage and failures.
"$FG" activity --repo "$R" -n nope >/dev/null 2>"$T/err"; rc=$?
is "bad -n is usage (2)" "$rc" "2"
like "usage error says what" "$(cat "$T/err")" "^flowgate: -n: 'nope' is not a number"
"$FG" activity --repo "$R" --frobnicate >/dev/null 2>&1; rc=$?
is "unknown option is usage (2)" "$rc" "2"
"$FG" activity --repo "$T/none" >/dev/null 2>"$T/err"; rc=$?
is "no repository fails (1)" "$rc" "1"
like "and says so" "$(cat "$T/err")" "^flowgate: "
ok "--help" "$FG" activity --help
like "--help names the options" "$("$FG" activity --help)" "--kind K"
done_testing
