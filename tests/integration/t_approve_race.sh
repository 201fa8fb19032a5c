#!/bin/sh
# t_approve_race.sh - several people run 'flowgate approve' on one commit at
# the same moment (background CLI processes on a real bare repository with
# the hooks installed): every approval ends up in the commit's note and
# counts for the manual gate, none lost to another's write.  Before
# approvals were keyed by user, each approval read the note's list, added
# itself and wrote the list back, and concurrent ones lost each other.
# Also: the same user approving again in another case replaces the entry,
# and a note written in the older array form is read and kept.
. "$(dirname "$0")/lib.sh"

P=$T/p.git
W=$T/w
USERS="ana ben cai dee eli fay gus"
NUSERS=7
"$FG" init --template progressive "$P" >/dev/null 2>&1 || { echo "init failed"; exit 1; }

# config APPROVERS: production's manual gate lists APPROVERS.
config() {
	cat > "$T/p.yaml" <<EOF
version: 1
template: progressive
admins: [admin]
stages:
  developer: {pool: sandboxes}
  staging: {branch: main, environments: [stg]}
  production:
    branch: production
    environments: [live]
    gates: [{manual: {approvers: [$1]}}]
environments:
  stg:  {deploy: {command: [/bin/true]}}
  live: {deploy: {command: [/bin/true]}}
pools:
  sandboxes: {environments: [sb-1], deploy: {command: [/bin/true]}}
EOF
	FLOWGATE_USER=admin "$FG" --repo "$P" config apply "$T/p.yaml" >/dev/null
}
config "$(echo $USERS | sed 's/ /, /g')"
is "the config applies" "$?" 0

git init -q "$W"
(cd "$W" && echo a > a && git add a && git commit -qm "ABC-1 first")
git --git-dir="$P" fetch -q "$W" HEAD:refs/heads/main

note() {
	git --git-dir="$P" notes --ref=flowgate show "$1" 2>/dev/null
}

# Three rounds, each a new commit on main approved by everyone at once.
round=1
while [ $round -le 3 ]; do
	(cd "$W" && echo "$round" >> a && git commit -qam "ABC-$round round")
	git --git-dir="$P" fetch -q "$W" HEAD:refs/heads/main
	C=$(git --git-dir="$P" rev-parse main)
	# A status first, so the approvals merge into a note that exists
	# and keeps other keys.
	"$FG" --repo "$P" status set "$C" ci/build success >/dev/null
	rm -f "$T"/rc.*
	for u in $USERS; do
		( "$FG" --repo "$P" approve main --stage production --actor "$u" \
		    >"$T/out.$u" 2>&1; echo $? > "$T/rc.$u" ) &
	done
	wait
	bad=""
	for u in $USERS; do
		[ "$(cat "$T/rc.$u" 2>/dev/null)" = 0 ] || bad="$bad $u"
	done
	is "round $round: every approve succeeded" "$bad" ""
	got=$(note "$C" | jq -r '.approvals.production | [.[].user] | sort | join(" ")')
	is "round $round: all $NUSERS approvals are in the note" "$got" "$USERS"
	is "round $round: the status stayed" "$(note "$C" | jq -r '.statuses["ci/build"].state')" success
	round=$((round + 1))
done

# Each approval of the last round counts for the gate on its own: with only
# that user allowed, production's manual gate passes, by that user.
counted=""
for u in $USERS; do
	config "$u" || { counted="$counted (config $u failed)"; continue; }
	out=$("$FG" --repo "$P" promote main --to production --dry-run 2>&1)
	printf '%s\n' "$out" | grep -q "manual: pass: approved for production by $u" ||
	    counted="$counted $u"
done
is "every user's approval passes the gate when only they may approve" "$counted" ""

# An approval by someone the gate does not list is there but does not count.
config "zed"
out=$("$FG" --repo "$P" promote main --to production --dry-run 2>&1); rc=$?
is "with none of them allowed, the gate refuses" "$rc" 1
like "and names who approved" "$out" "approved by .*ana.*, who may not"

# The same user again, in another case: replaced, not repeated.
config "$(echo $USERS | sed 's/ /, /g')"
"$FG" --repo "$P" approve main --stage production --actor ANA >/dev/null
is "an approval in another case replaces the user's" \
    "$(note "$C" | jq -r '.approvals.production | length')" "$NUSERS"
is "under the lower-case key, with the name as given" \
    "$(note "$C" | jq -r '.approvals.production.ana.user')" ANA

# A note in the older form (an array per stage) is read, and the next
# approval converts it without losing anyone.
(cd "$W" && echo old >> a && git commit -qam "ABC-9 old note")
git --git-dir="$P" fetch -q "$W" HEAD:refs/heads/main
C=$(git --git-dir="$P" rev-parse main)
git --git-dir="$P" notes --ref=flowgate add -f -m \
    '{"approvals": {"production": [{"user": "gus", "time": "2026-01-01T00:00:00Z"}]}}' "$C"
config "gus, fay"
out=$("$FG" --repo "$P" promote main --to production --dry-run 2>&1)
like "an approval in the older array form counts" "$out" "manual: pass: approved for production by gus"
"$FG" --repo "$P" approve main --stage production --actor fay >/dev/null
is "the next approval keeps it" \
    "$(note "$C" | jq -r '.approvals.production | [.[].user] | sort | join(" ")')" "fay gus"
is "and its time" "$(note "$C" | jq -r '.approvals.production.gus.time')" 2026-01-01T00:00:00Z

ok "git fsck is clean" git --git-dir="$P" fsck --no-progress
done_testing
