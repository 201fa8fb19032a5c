#!/bin/sh
# t_whd_journal.sh - a power loss loses no acknowledged delivery.  The
# inbox syncs each group commit as one record of the repository's journal
# (lib/journal.h) and leaves its pack and ref unsynced.  Here the daemon
# takes 200 deliveries from 4 clients and is killed with -9; then the
# repository is put back as it was before them, all but the journal files,
# which is what a disk that lost every unsynced write would hold.  The
# restarted daemon must put the 200 back from the journal and process each
# exactly once, in order.
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
done_testing
