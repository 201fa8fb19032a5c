#!/bin/sh
# t_flows_expire.sh - leases end in the daemon: a lease past its time
# (lease_minutes) is expired on the daemon's minute tick, without anybody
# running 'flowgate pool expire': the pool's reset command runs, the pull
# request waiting in line gets the environment and is deployed there at
# its head, and the activity log says so.  A push to a pull request that
# holds a sandbox (synchronize) renews its lease.  Time moves by starting
# the daemon again with FLOWGATE_NOW later; the deliveries are the
# corpus' GitHub payloads for pull request #2 (commit ids set to this
# test's commits, the flows' branches to the payloads' base, master).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
R=$ROOT/Codertocat/Hello-World.git
mkdir -p "$ROOT/Codertocat"
"$FG" init --template release "$R" >/dev/null 2>&1
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY FLOWGATE_USER=admin
OUT=$T/deployed
RESETS=$T/resets

cat > "$T/deploy" <<EOF
#!/bin/sh
printf '%s|%s\n' "\$FLOWGATE_ENV" "\$FLOWGATE_COMMIT" >> "$OUT"
EOF
cat > "$T/reset" <<EOF
#!/bin/sh
printf '%s|%s\n' "\$FLOWGATE_ENV" "\$FLOWGATE_HOLDER" >> "$RESETS"
EOF
chmod +x "$T/deploy" "$T/reset"
sed -e 's/branch: develop/branch: master/' \
    -e "s|environments: \[sb-1, sb-2, sb-3\]|environments: [sb-1]\n    reset: [$T/reset]|" \
    -e "s|deploy: {command: \[echo, deployed to a sandbox\]}|deploy: {command: [$T/deploy]}|" \
    -e 's/lease_minutes: 1440/lease_minutes: 60/' \
    "$TOP/templates/release.yaml" > "$T/pipeline.yaml"
sed -e 's/branches: \[develop\]/branches: [master]/' "$TOP/templates/release.flows.yaml" > "$T/flows.yaml"
"$FG" --repo "$R" config apply "$T/pipeline.yaml" --flows "$T/flows.yaml" >/dev/null
is "the config applies: one sandbox of 60 minutes with a reset" "$?" 0

W=$T/w
git init -q "$W"
(cd "$W" && echo one > a.txt && git add a.txt && git commit -qm "first")
C1=$(git -C "$W" rev-parse HEAD)
(cd "$W" && echo two >> a.txt && git commit -qam "the change")
C2=$(git -C "$W" rev-parse HEAD)
(cd "$W" && echo three >> a.txt && git commit -qam "the fix")
C3=$(git -C "$W" rev-parse HEAD)
git --git-dir="$R" fetch -q "$W" "$C1:refs/heads/master" "$C3:refs/heads/changes"

cat > "$T/whd.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
EOF

pool() {
	git --git-dir="$R" show refs/flowgate/pools/sandboxes:leases.json 2>/dev/null
}
# wait_for FILE TEXT: until FILE holds the line TEXT (30 s at most).
wait_for() {
	_i=0
	while [ $_i -lt 300 ]; do
		grep -qxF "$2" "$1" 2>/dev/null && return 0
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}
utc() {
	date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ
}

# 10:00 (X): alice takes the only sandbox by hand, for 60 minutes.
X=1790000000
FLOWGATE_NOW=$X "$FG" --repo "$R" pool lease sandboxes manual/alice >/dev/null 2>&1
is "alice holds sb-1 until X + 60 min" "$(pool | jq -r '.leases[0] | .holder + " " + .expires')" \
    "manual/alice $(utc $((X + 3600)))"

# 10:01: pull request #2 is opened and waits in line.
export FLOWGATE_NOW=$((X + 60))
whd_start --config "$T/whd.yaml" || done_testing
jq --arg sha "$C2" '.pull_request.head.sha = $sha' \
    "$CORPUS/github/pull_request.opened.json" > "$T/opened.json"
r=$(gh pull_request "$T/opened.json" pr-2-opened)
like "opened is accepted" "$r" '^202 '
ok "the sandbox flow runs" wait_runs pr-sandbox 1
is "pull request #2 waits for a sandbox" "$(pool | jq -r '[.queue[].holder] | join(",")')" "pull/2"
is "alice's lease has not expired yet" "$(pool | jq -r '.leases[0].holder')" manual/alice
whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
is "nothing was deployed or reset yet" "$(cat "$OUT" "$RESETS" 2>/dev/null | wc -l | tr -d ' ')" 0

# 11:01: the daemon starts again; its first tick finds alice's lease past
# its time.  Nobody runs 'flowgate pool expire'.
T2=$((X + 3660))
export FLOWGATE_NOW=$T2
whd_start --config "$T/whd.yaml" || done_testing
ok "the queued pull request's head is deployed to sb-1" wait_for "$OUT" "sb-1|$C2"
is "pull request #2 holds sb-1, for 60 minutes from now" \
    "$(pool | jq -r '[.leases[] | .env + " " + .holder + " " + .expires] | join(",")')" \
    "sb-1 pull/2 $(utc $((T2 + 3600)))"
is "the queue is empty" "$(pool | jq -r '.queue | length')" 0
ok "the reset ran on sb-1 before the new holder got it" wait_for "$RESETS" "sb-1|pull/2"
is "the reset ran once" "$(wc -l < "$RESETS" | tr -d ' ')" 1
act=$(git --git-dir="$R" log --format='%s' refs/flowgate/activity)
like "the activity log shows the expiry" "$act" \
    "pool sandboxes: the lease of sb-1 by manual/alice expired; sb-1 leased to pull/2"
like "and the reset" "$act" "pool sandboxes: reset sb-1 after pull/2 succeeded"
like "the expiry record names who lost the lease" "$(git --git-dir="$R" log -1 --format=%B --grep='^Flowgate-Kind: pool.expire' refs/flowgate/activity)" \
    "Flowgate-Holder: manual/alice"
is "the pool's own log has the expiry" \
    "$(git --git-dir="$R" log -1 --format=%s refs/flowgate/pools/sandboxes)" \
    "pool sandboxes: sb-1 expired by manual/alice, leased to pull/2"
whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0

# 11:31: a push to pull request #2 redeploys its sandbox and renews the
# lease: 60 minutes from now, not from when it was taken.
T3=$((T2 + 1800))
export FLOWGATE_NOW=$T3
whd_start --config "$T/whd.yaml" || done_testing
jq --arg old "$C2" --arg new "$C3" '.before = $old | .after = $new | .pull_request.head.sha = $new' \
    "$CORPUS/github/pull_request.synchronize.json" > "$T/sync.json"
r=$(gh pull_request "$T/sync.json" pr-2-sync)
like "synchronize is accepted" "$r" '^202 '
ok "the sandbox flow runs again" wait_runs pr-sandbox 2
is "sb-1 got the new head" "$(tail -1 "$OUT")" "sb-1|$C3"
is "the lease is renewed until 60 minutes from the push" \
    "$(pool | jq -r '.leases[0] | .holder + " " + .expires')" "pull/2 $(utc $((T3 + 3600)))"
like "the step says so" "$(git --git-dir="$R" log -3 --format=%B refs/flowgate/runs/pr-sandbox)" \
    "the lease of sb-1 is renewed until $(utc $((T3 + 3600)))"
whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0

# 12:02: past the first expiry, before the renewed one: nothing expires.
r=$(FLOWGATE_NOW=$((T2 + 3600 + 60)) "$FG" --repo "$R" pool expire --json)
is "the renewed lease outlives its first time limit" "$(echo "$r" | jq -c .)" "[]"
is "pull request #2 still holds sb-1" "$(pool | jq -r '.leases[0].holder')" pull/2
is "nothing else was deployed" "$(wc -l < "$OUT" | tr -d ' ')" 2
unset FLOWGATE_NOW
done_testing
