#!/bin/sh
# t_whd_journal.sh - a power loss loses no acknowledged delivery.  The
# inbox syncs each group commit as one record of the repository's journal
# (lib/journal.h) and leaves its pack and ref unsynced.  Here the daemon
# takes 200 deliveries from 4 clients and is killed with -9; then the
# repository is put back as it was before them, all but the journal files,
# which is what a disk that lost every unsynced write would hold.  The
# restarted daemon must put the 200 back from the journal and process each
# exactly once, in order.  Last, a push queued by a hook after such a loss,
# before the daemon is back: the daemon puts the lost deliveries on top.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
mkdir -p "$ROOT/Codertocat"
APP=$ROOT/Codertocat/Hello-World.git
git init -q --bare "$APP"
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY

compact_pr > "$T/pr.json"
PRE=$(cat "$T/pr.json")
PRE=${PRE%\}}

# deliver PREFIX FROM TO: deliveries PREFIX-FROM..PREFIX-TO, one after
# the other, each with a body of its own; "CODE ID" lines on stdout.
# Several run at once, so not through gh (its answer goes to one file).
deliver() {
	_i=$2
	while [ "$_i" -le "$3" ]; do
		_b=$T/body.$1.$_i
		printf '%s,"flowgate_test_delivery":"%s-%s"}' "$PRE" "$1" "$_i" \
		    > "$_b"
		_code=$(curl -s -o /dev/null -w '%{http_code}' \
		    -H 'Content-Type: application/json' \
		    -H 'X-GitHub-Event: pull_request' \
		    -H "X-GitHub-Delivery: $1-$_i" \
		    -H "X-Hub-Signature-256: sha256=$(sign "$WHD_KEY" "$_b")" \
		    --data-binary "@$_b" "$URL/hooks/github")
		echo "$_code $1-$_i"
		_i=$((_i + 1))
	done
}

count() {
	git --git-dir="$APP" rev-list --count "$1" 2>/dev/null || echo 0
}

deliveries() {
	git --git-dir="$APP" log --reverse \
	    --format='%(trailers:key=Flowgate-Delivery,valueonly)' "$1" |
	    grep -v '^$'
}

whd_start --root "$ROOT" || done_testing
deliver a 1 10 > "$T/a.out"
is "10 deliveries answered 202" "$(grep -c '^202 ' "$T/a.out")" 10
ok "processed" wait_processed "$APP"
whd_stop
is "SIGTERM exits 0" "$WHD_RC" 0
ok "the journal is there" test -f "$APP/flowgate-journal.0"
# What a disk holds after a clean stop: everything (the stop synced).
cp -a "$APP" "$T/before.git"

whd_start --root "$ROOT" || done_testing
pids=""
for c in 1 2 3 4; do
	deliver "b$c" 1 50 > "$T/b$c.out" &
	pids="$pids $!"
done
wait $pids
cat "$T"/b?.out > "$T/b.out"
is "200 deliveries answered 202" "$(grep -c '^202 ' "$T/b.out")" 200
is "the inbox holds 210" "$(count refs/flowgate/inbox)" 210
kill -9 "$WHD_PID"
wait "$WHD_PID" 2>/dev/null

# The power loss: only the journal, synced before each 202, survives.
mkdir "$T/kept"
mv "$APP"/flowgate-journal.* "$T/kept/"
rm -rf "$APP"
cp -a "$T/before.git" "$APP"
mv "$T"/kept/flowgate-journal.* "$APP/"
is "the disk lost the 200" "$(count refs/flowgate/inbox)" 10

whd_start --root "$ROOT" || done_testing
like "the daemon put the packs back" "$(cat "$T/whd.log")" \
    "back from the journal"
like "and moved the inbox" "$(cat "$T/whd.log")" \
    "moving 'refs/flowgate/inbox'"
is "the inbox holds 210 again" "$(count refs/flowgate/inbox)" 210
grep '^202 ' "$T/b.out" | cut -d' ' -f2 | sort > "$T/acked"
deliveries refs/flowgate/inbox | grep '^b' | sort > "$T/inbox"
ok "every acknowledged delivery is back" cmp -s "$T/acked" "$T/inbox"
ok "all processed" wait_processed "$APP"
is "each delivery processed once: 210 activity records" \
    "$(count refs/flowgate/activity)" 210
deliveries refs/flowgate/inbox > "$T/order.inbox"
deliveries refs/flowgate/activity > "$T/order.activity"
ok "in the inbox's order" cmp -s "$T/order.inbox" "$T/order.activity"
ok "the repository is sound" \
    git --git-dir="$APP" fsck --no-dangling --no-progress

# The same ids again: duplicates, as before the loss.
deliver b1 1 50 > "$T/again.out"
is "repeats are 200 duplicate" "$(grep -c '^200 ' "$T/again.out")" 50

# A 2 MB delivery that deflate cannot shrink much grows a journal file
# past its first MB; a stop shrinks both back.
printf '%s,"filler":"%s"}' "$PRE" \
    "$(head -c 1500000 /dev/urandom | base64 -w0)" > "$T/big.json"
is "a big delivery is taken" "$(gh pull_request "$T/big.json" big-1 |
    cut -d' ' -f1)" 202
sizes() {
	stat -c %s "$APP"/flowgate-journal.0 "$APP"/flowgate-journal.1 |
	    tr '\n' ' '
}
unlike "it grew a journal file past 1 MB" "$(sizes)" \
    "^1048576 1048576 $"
whd_stop
is "SIGTERM exits 0" "$WHD_RC" 0
is "the stop shrank both files to 1 MB" "$(sizes)" "1048576 1048576 "

# Nothing is put back twice.
: > "$T/whd.log"
whd_start --root "$ROOT" || done_testing
unlike "a clean stop leaves nothing to replay" "$(cat "$T/whd.log")" \
    "from the journal"
whd_stop

# A push lands first.  After another power loss, and before the daemon is
# back, a hook that cannot replay the journal (one run by another user,
# whom it refuses; here flock(1) holds it) queues a push on the inbox's
# old tip.  The daemon's start must put the lost deliveries on top of it
# rather than leave them off the inbox.
"$FG" init --template release "$APP" >/dev/null 2>&1
is "flowgate init installs the hooks" "$?" 0
cp -a "$APP" "$T/before3.git"
n0=$(count refs/flowgate/inbox)
whd_start --root "$ROOT" || done_testing
deliver c 1 20 > "$T/c.out"
is "20 more answered 202" "$(grep -c '^202 ' "$T/c.out")" 20
kill -9 "$WHD_PID"
wait "$WHD_PID" 2>/dev/null
mkdir -p "$T/kept3"
mv "$APP"/flowgate-journal.* "$T/kept3/"
rm -rf "$APP"
cp -a "$T/before3.git" "$APP"
mv "$T"/kept3/flowgate-journal.* "$APP/"
is "the disk lost the 20" "$(count refs/flowgate/inbox)" "$n0"

git init -q "$T/w"
git -C "$T/w" commit -q --allow-empty -m "pushed after the crash"
flock "$APP/flowgate-journal.0" \
    git -C "$T/w" push -q "$APP" HEAD:refs/heads/feature/after 2>/dev/null
is "the hook queued the push on the old tip" \
    "$(count refs/flowgate/inbox)" $((n0 + 1))

: > "$T/whd.log"
whd_start --root "$ROOT" || done_testing
like "the daemon put the 20 on top of the push" "$(cat "$T/whd.log")" \
    "journal's 20 commits up to [0-9a-f]{40} are made again on top"
is "the inbox holds the push and the 20" "$(count refs/flowgate/inbox)" \
    $((n0 + 21))
like "the push stays where the hook put it" "$(git --git-dir="$APP" \
    log --format=%s refs/flowgate/inbox~20 -1)" "^branch_created"
grep '^202 ' "$T/c.out" | cut -d' ' -f2 | sort > "$T/acked3"
deliveries refs/flowgate/inbox | grep '^c' | sort > "$T/inbox3"
ok "every acknowledged delivery is on the inbox" cmp -s "$T/acked3" \
    "$T/inbox3"
ok "all processed" wait_processed "$APP"
deliveries refs/flowgate/inbox > "$T/order.inbox"
deliveries refs/flowgate/activity > "$T/order.activity"
ok "each once, in the inbox's order" cmp -s "$T/order.inbox" \
    "$T/order.activity"
is "the engine processed the push too, once" "$(git --git-dir="$APP" \
    log --format=%s refs/flowgate/activity |
    grep -c '^hook branch_created: refs/heads/feature/after ')" 1
ok "the repository is sound" \
    git --git-dir="$APP" fsck --no-dangling --no-progress
whd_stop
done_testing
