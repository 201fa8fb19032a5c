#!/bin/sh
# t_whd_wake.sh - a push is processed as soon as post-receive queues it:
# the daemon makes each repository's wake-up FIFO at start and listens on
# it.  Without a daemon a push neither blocks nor loses its event; the
# next start processes the backlog.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
R=$ROOT/acme/app.git
mkdir -p "$ROOT/acme"
"$FG" init --template release "$R" >/dev/null 2>&1
is "flowgate init makes the repository" "$?" 0
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY
printf 'version: 1\nroot: %s\nsecret: {env: FLOWGATE_WEBHOOK_SECRET}\n' \
    "$ROOT" > "$T/whd.yaml"

git init -q "$T/w"
git -C "$T/w" commit -q --allow-empty -m "first change"
git -C "$T/w" push -q "$R" HEAD:refs/heads/develop 2>/dev/null
is "with no daemon, the push is queued all the same" \
    "$(git --git-dir="$R" rev-list --count refs/flowgate/inbox)" 1
fails "and nothing has processed it" \
    git --git-dir="$R" rev-parse -q --verify refs/flowgate/inbox-done

whd_start --config "$T/whd.yaml"
ok "a start processes the backlog" wait_processed "$R"
ok "the daemon made the wake-up FIFO" test -p "$R/flowgate.wake"

# Bounded wait: without a wake-up this push would wait for the next
# delivery or start, so the deadline is what fails.
processed_within() {
	_i=0
	while [ $_i -lt "$2" ]; do
		[ "$(git --git-dir="$1" rev-parse refs/flowgate/inbox)" = \
		    "$(git --git-dir="$1" rev-parse refs/flowgate/inbox-done)" ] &&
		    return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}
i=0
while [ $i -lt 3 ]; do
	i=$((i + 1))
	git -C "$T/w" commit -q --allow-empty -m "change $i"
	git -C "$T/w" push -q "$R" HEAD:refs/heads/develop 2>/dev/null
	ok "push $i is processed within 10 s of its post-receive" \
	    processed_within "$R" 100
done
like "the engine recorded the last push" \
    "$(git --git-dir="$R" log --format=%s refs/flowgate/activity | head -1)" \
    "^hook push: refs/heads/develop -> [0-9a-f]{7}"

whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
git -C "$T/w" commit -q --allow-empty -m "while it is down"
start=$(date +%s)
git -C "$T/w" push -q "$R" HEAD:refs/heads/develop 2>/dev/null
is "a push with nobody on the FIFO succeeds" "$?" 0
ok "and does not wait for a reader" test $(( $(date +%s) - start )) -lt 5
fails "its event waits in the inbox" processed_within "$R" 5
whd_start --config "$T/whd.yaml"
ok "the next start processes it" wait_processed "$R"
whd_stop
done_testing
