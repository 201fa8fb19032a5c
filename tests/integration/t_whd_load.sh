#!/bin/sh
# t_whd_load.sh - durability under load: 1,000 deliveries from 4
# concurrent clients are all recorded exactly once; a kill -9 in the
# middle of 2,000 more loses no acknowledged delivery, and after a
# restart (and the clients' retries) every delivery is processed exactly
# once.  Overload: with a small queue and backlog, 16 clients get 503s
# (with Retry-After) instead of growing the daemon; every delivery
# answered 202 is in the inbox, no refused one is, and memory stays put.
# The activity follows the inbox's order, batches handed over from
# memory or read back, with their events or (past limits.handoff)
# without.  Payloads of one group commit are stored as deltas, and read
# back as sent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
mkdir -p "$ROOT/Codertocat"
APP=$ROOT/Codertocat/Hello-World.git
git init -q --bare "$APP"
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY

compact_pr > "$T/pr.json"
SIG=$(sign "$WHD_KEY" "$T/pr.json")

# clients PREFIX N CLIENTS: curl config files, one per client, each
# posting N/CLIENTS deliveries with ids PREFIX-<client>-<i>.  Each carries
# a body of its own (the payload with the id added as a member, signed by
# one openssl run): the daemon answers a signed body it has seen before
# "duplicate" whatever the delivery id.  The same id gets the same body.
PRE=$(cat "$T/pr.json")
PRE=${PRE%\}}
mkdir -p "$T/bodies"
clients() {
	_c=1
	while [ $_c -le "$3" ]; do
		_i=1
		while [ $_i -le $(($2 / $3)) ]; do
			printf '%s,"flowgate_test_delivery":"%s"}' "$PRE" \
			    "$1-$_c-$_i" > "$T/bodies/$1-$_c-$_i.json"
			_i=$((_i + 1))
		done
		_c=$((_c + 1))
	done
	(cd "$T/bodies" && ls | grep "^$1-" |
	    xargs openssl dgst -sha256 -hmac "$WHD_KEY" -r) |
	    awk -v t="$T" -v url="$URL" -v p="$1" '{
		id = $2; sub(/^\*/, "", id); sub(/\.json$/, "", id)
		split(id, part, "-"); cfg = t "/" p "." part[2] ".cfg"
		printf "url = \"%s/hooks/github\"\n", url > cfg
		printf "data-binary = \"@%s/bodies/%s.json\"\n", t, id > cfg
		print "header = \"Content-Type: application/json\"" > cfg
		print "header = \"X-GitHub-Event: pull_request\"" > cfg
		printf "header = \"X-GitHub-Delivery: %s\"\n", id > cfg
		printf "header = \"X-Hub-Signature-256: sha256=%s\"\n", $1 > cfg
		print "output = \"/dev/null\"" > cfg
		print "silent" > cfg
		printf "write-out = \"%%{http_code} %s\\n\"\n", id > cfg
		print "next" > cfg
	    }'
}

# run PREFIX CLIENTS: run the clients in parallel; results in $T/PREFIX.out
run() {
	_c=1 _pids=""
	while [ $_c -le "$2" ]; do
		curl -K "$T/$1.$_c.cfg" > "$T/$1.$_c.out" 2>/dev/null &
		_pids="$_pids $!"
		_c=$((_c + 1))
	done
	wait $_pids
	cat "$T/$1".*.out > "$T/$1.out"
}

count() {
	git --git-dir="$APP" rev-list --count "$1" 2>/dev/null || echo 0
}

deliveries() {
	git --git-dir="$APP" log --format='%(trailers:key=Flowgate-Delivery,valueonly)' \
	    "$1" | grep -v '^$' | sort
}

# in_order REF: its delivery ids, oldest first.
in_order() {
	git --git-dir="$APP" log --reverse \
	    --format='%(trailers:key=Flowgate-Delivery,valueonly)' "$1" |
	    grep -v '^$'
}

whd_start --root "$ROOT" || done_testing

# 1,000 deliveries, 4 clients.
clients a 1000 4
run a 4
is "1000 deliveries answered 202" "$(grep -c '^202 ' "$T/a.out")" 1000
is "the inbox holds 1000" "$(count refs/flowgate/inbox)" 1000
is "each once" "$(deliveries refs/flowgate/inbox | uniq | wc -l | tr -d ' ')" 1000
ok "all processed" wait_processed "$APP"
is "1000 activity records" "$(count refs/flowgate/activity)" 1000
is "each delivery once in the activity" \
    "$(deliveries refs/flowgate/activity | uniq | wc -l | tr -d ' ')" 1000
# The engine takes most of these batches from the writer's hand-off, not
# from the inbox: in the inbox's order all the same.
in_order refs/flowgate/inbox > "$T/order.a.inbox"
in_order refs/flowgate/activity > "$T/order.a.activity"
is "the inbox lists 1000 in order" \
    "$(wc -l < "$T/order.a.inbox" | tr -d ' ')" 1000
ok "the activity in the inbox's order" \
    cmp -s "$T/order.a.inbox" "$T/order.a.activity"
m=$(curl -s "$URL/metrics")
like "group commits batched the load" "$m" "flowgate_inbox_deliveries_total 1000"
commits=$(echo "$m" | sed -n 's/^flowgate_inbox_commits_total //p')
ok "fewer group commits ($commits) than deliveries" test "$commits" -lt 1000
# A daemon that runs no flow has no use for libcurl and the TLS libraries
# it brings (about 6 MB resident): the flow executor loads it on demand.
maps=$(awk '{ print $6 }' /proc/"$WHD_PID"/maps | sort -u)
like "the daemon's mappings are read" "$maps" "libevent"
unlike "libcurl is not loaded without a flow to run" "$maps" "libcurl"

# The same ids again: all duplicates, nothing appended.
run a 4
is "repeats are 200 duplicate" "$(grep -c '^200 ' "$T/a.out")" 1000
is "and not appended" "$(count refs/flowgate/inbox)" 1000

# kill -9 in the middle of 2,000.
clients b 2000 4
run b 4 &
runner=$!
sleep 1
kill -9 "$WHD_PID"
wait "$runner"
grep '^20[02] ' "$T/b.out" | cut -d' ' -f2 | sort > "$T/acked1"
acked=$(wc -l < "$T/acked1" | tr -d ' ')
ok "some were acknowledged before the kill ($acked)" test "$acked" -gt 0
deliveries refs/flowgate/inbox > "$T/inbox1"
is "every acknowledged delivery is in the inbox" \
    "$(comm -23 "$T/acked1" "$T/inbox1" | head -n 5)" ""

# Restart; the clients retry everything.
whd_start --root "$ROOT" || done_testing
clients b 2000 4
run b 4
is "after the restart all 2000 are acknowledged" \
    "$(grep -c '^20[02] ' "$T/b.out")" 2000
ok "all processed" wait_processed "$APP"
is "the inbox holds 3000" "$(count refs/flowgate/inbox)" 3000
is "each delivery once in the inbox" \
    "$(deliveries refs/flowgate/inbox | uniq | wc -l | tr -d ' ')" 3000
is "processed = acknowledged: 3000 activity records" \
    "$(count refs/flowgate/activity)" 3000
is "each delivery processed once" \
    "$(deliveries refs/flowgate/activity | uniq | wc -l | tr -d ' ')" 3000
# The engine drains a backlog in batches, remembering the inbox commits
# it walked: the activity must follow the inbox exactly, in order.
in_order refs/flowgate/inbox > "$T/order.inbox"
in_order refs/flowgate/activity > "$T/order.activity"
ok "processed in arrival order" cmp -s "$T/order.inbox" "$T/order.activity"
is "refs/flowgate/pulls/2 took each delivery once" \
    "$(count refs/flowgate/pulls/2)" 3000
like "no backlog is left" "$(curl -s "$URL/metrics")" \
    "flowgate_inbox_backlog 0"
ok "the repository is sound" git --git-dir="$APP" fsck --no-dangling --no-progress
# Deliveries that share a group commit go in as deltas on one another
# (git's REF_DELTA, kept by the roll-ups).  Each payload is the body sent:
# the inbox's payload ids are the sent bodies' hashes, and fsck above
# hashed every object again, deltas applied.
git --git-dir="$APP" rev-list refs/flowgate/inbox | sed 's/$/:payload/' |
    git --git-dir="$APP" cat-file --batch-check='%(objectname)' |
    sort > "$T/payload.ids"
(cd "$T/bodies" && ls | grep '^[ab]-' | xargs git hash-object) |
    sort > "$T/sent.ids"
is "every payload in the inbox is a body sent, each once" \
    "$(cmp "$T/payload.ids" "$T/sent.ids" && wc -l < "$T/sent.ids" | tr -d ' ')" 3000
deltas=$(for i in "$APP"/objects/pack/*.idx; do git verify-pack -v "$i"; done |
    grep -c ' blob .* [0-9a-f]\{40\}$')
ok "blobs went in as deltas ($deltas)" test "$deltas" -gt 0

whd_stop
is "SIGTERM exits 0" "$WHD_RC" 0

# Overload.  A queue of 32 KB (three deliveries waiting for the disk) and a
# backlog of 300 unprocessed deliveries; 16 clients send 800, twice.  (A
# sanitizer build keeps freed memory in quarantine: kept small here, so
# that what is measured is the daemon's own.)
cat > "$T/small.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
limits: {queue: 32KB, backlog: 300}
EOF
asan_was=${ASAN_OPTIONS:-}
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
whd_start --config "$T/small.yaml" || done_testing
export ASAN_OPTIONS="$asan_was"
rss() { awk '/^VmRSS/ { print $2 }' /proc/"$WHD_PID"/status; }
before=$(count refs/flowgate/inbox)
rss0=$(rss)
clients c 800 16
run c 16
rss1=$(rss)
ok2=$(grep -c '^202 ' "$T/c.out")
busy=$(grep -c '^503 ' "$T/c.out")
is "every delivery got 202 or 503" "$((ok2 + busy))" 800
ok "overload is refused with 503 ($busy of 800)" test "$busy" -gt 0
ok "and some still get in ($ok2)" test "$ok2" -gt 0
is "the inbox grew by exactly the 202s" \
    "$(( $(count refs/flowgate/inbox) - before ))" "$ok2"
grep '^202 ' "$T/c.out" | cut -d' ' -f2 | sort > "$T/c.acked"
deliveries refs/flowgate/inbox | grep '^c-' > "$T/c.inbox"
is "the inbox holds the 202s and no 503" \
    "$(cmp "$T/c.acked" "$T/c.inbox" && echo same)" same
clients d 800 16
run d 16
rss2=$(rss)
ok "overload again is refused too" grep -q '^503 ' "$T/d.out"
ok "memory stays bounded (RSS $rss0 KB, $rss1 KB, then $rss2 KB)" \
    test "$rss1" -lt $((rss0 + 65536)) -a "$rss2" -lt $((rss1 + 16384))
r=$(curl -s -D - -o "$T/c.body" -X POST -H 'Content-Type: application/json' \
    -H 'X-GitHub-Event: pull_request' -H 'X-GitHub-Delivery: c-probe' \
    -H "X-Hub-Signature-256: sha256=$SIG" --data-binary "@$T/pr.json" \
    "$URL/hooks/github" | tr -d '\r')
case $r in
*" 503 "*)
	like "a 503 says when to retry" "$r" "Retry-After: [0-9]"
	like "and why" "$(cat "$T/c.body")" "try again later"
	;;
*)
	like "the daemon takes deliveries again" "$r" "HTTP/1.1 202"
	;;
esac
ok "all processed" wait_processed "$APP"
ok "the repository is sound after overload" \
    git --git-dir="$APP" fsck --no-dangling --no-progress
whd_stop
is "SIGTERM exits 0 after overload" "$WHD_RC" 0

# Hand-offs past their bound.  With limits.handoff at 1 KB nearly every
# batch reaches the engine with its commit ids only, and the engine reads
# those deliveries' events back from the inbox: still each processed
# once, in order, as the same events.
cat > "$T/handoff.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
limits: {handoff: 1KB}
EOF
whd_start --config "$T/handoff.yaml" || done_testing
ok "all earlier deliveries processed" wait_processed "$APP"
act0=$(count refs/flowgate/activity)
pulls0=$(count refs/flowgate/pulls/2)
clients e 400 4
run e 4
is "400 deliveries answered 202" "$(grep -c '^202 ' "$T/e.out")" 400
ok "all processed" wait_processed "$APP"
is "400 more activity records" \
    "$(( $(count refs/flowgate/activity) - act0 ))" 400
in_order refs/flowgate/inbox | grep '^e-' > "$T/order.e.inbox"
in_order refs/flowgate/activity | grep '^e-' > "$T/order.e.activity"
is "each once" "$(sort -u "$T/order.e.activity" | wc -l | tr -d ' ')" 400
ok "in the inbox's order" cmp -s "$T/order.e.inbox" "$T/order.e.activity"
is "refs/flowgate/pulls/2 took each once" \
    "$(( $(count refs/flowgate/pulls/2) - pulls0 ))" 400
last=$(tail -n 1 "$T/order.e.inbox")
rec=$(git --git-dir="$APP" log \
    --format='%H %(trailers:key=Flowgate-Delivery,valueonly)' \
    refs/flowgate/activity | awk -v d="$last" '$2 == d { print $1; exit }')
like "a record read back holds its event" \
    "$(git --git-dir="$APP" log -1 --format=%B "$rec")" \
    "Flowgate-Event: pr_opened"
unlike "no inbox record was skipped" "$(cat "$T/whd.log")" "bad_inbox_record"
whd_stop
is "SIGTERM exits 0" "$WHD_RC" 0

done_testing
