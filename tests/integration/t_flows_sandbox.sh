#!/bin/sh
# t_flows_sandbox.sh - the default flows pr-sandbox and pr-sandbox-release
# over a pull request's life, driven by the corpus' real GitHub payloads
# for pull request #2 of Codertocat/Hello-World (only their commit ids set
# to this test's commits; the flows' branches set to the payloads' base,
# master): opened leases a sandbox and deploys the head there, a push to
# the pull request redeploys the same sandbox, closing it releases the
# sandbox to the pool; and a pull request that finds the pool full waits.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
R=$ROOT/Codertocat/Hello-World.git
mkdir -p "$ROOT/Codertocat"
"$FG" init --template release "$R" >/dev/null 2>&1
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY FLOWGATE_USER=admin
OUT=$T/deployed

cat > "$T/deploy" <<EOF
#!/bin/sh
printf '%s|%s\n' "\$FLOWGATE_ENV" "\$FLOWGATE_COMMIT" >> "$OUT"
EOF
chmod +x "$T/deploy"
sed -e 's/branch: develop/branch: master/' \
    -e "s|environments: \[sb-1, sb-2, sb-3\]|environments: [sb-1]|" \
    -e "s|deploy: {command: \[echo, deployed to a sandbox\]}|deploy: {command: [$T/deploy]}|" \
    "$TOP/templates/release.yaml" > "$T/pipeline.yaml"
sed -e 's/branches: \[develop\]/branches: [master]/' "$TOP/templates/release.flows.yaml" > "$T/flows.yaml"
"$FG" --repo "$R" config apply "$T/pipeline.yaml" --flows "$T/flows.yaml" >/dev/null
is "the config applies: one sandbox, the default flows on master" "$?" 0

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
whd_start --config "$T/whd.yaml" || done_testing

pool() {
	git --git-dir="$R" show refs/flowgate/pools/sandboxes:leases.json 2>/dev/null
}

jq --arg sha "$C2" '.pull_request.head.sha = $sha' \
    "$CORPUS/github/pull_request.opened.json" > "$T/opened.json"
r=$(gh pull_request "$T/opened.json" pr-2-opened)
like "opened is accepted" "$r" '^202 '
ok "the sandbox flow runs" wait_runs pr-sandbox 1
is "it succeeded" "$(runs pr-sandbox | head -1)" "flow pr-sandbox: run pr-2-opened succeeded"
is "pull request #2 holds sb-1" "$(pool | jq -r '.leases[] | .env + " " + .holder')" "sb-1 pull/2"
is "sb-1 got the head" "$(cat "$OUT")" "sb-1|$C2"
like "the step's record says what it did" "$(git --git-dir="$R" log -2 --format=%B refs/flowgate/runs/pr-sandbox)" \
    "pull/2 leased sb-1 from pool sandboxes"

jq --arg old "$C2" --arg new "$C3" '.before = $old | .after = $new | .pull_request.head.sha = $new' \
    "$CORPUS/github/pull_request.synchronize.json" > "$T/sync.json"
r=$(gh pull_request "$T/sync.json" pr-2-sync)
like "synchronize is accepted" "$r" '^202 '
ok "the sandbox flow runs again" wait_runs pr-sandbox 2
is "the same sandbox got the new head" "$(tail -1 "$OUT")" "sb-1|$C3"
is "still one lease" "$(pool | jq -r '[.leases[] | .env + " " + .holder] | join(",")')" "sb-1 pull/2"

jq --arg sha "$C3" '.pull_request.head.sha = $sha' \
    "$CORPUS/github/pull_request.closed-unmerged.json" > "$T/closed.json"
r=$(gh pull_request "$T/closed.json" pr-2-closed)
like "closed is accepted" "$r" '^202 '
ok "the release flow runs" wait_runs pr-sandbox-release 1
is "it succeeded" "$(runs pr-sandbox-release | head -1)" "flow pr-sandbox-release: run pr-2-closed succeeded"
is "the pool is free again" "$(pool | jq -r '.leases | length')" 0
is "nothing else was deployed" "$(wc -l < "$OUT" | tr -d ' ')" 2

# A full pool: someone holds sb-1; the reopened pull request waits.
"$FG" --repo "$R" pool lease sandboxes manual/alice >/dev/null 2>&1
is "alice holds sb-1" "$(pool | jq -r '.leases[0].holder')" manual/alice
jq --arg sha "$C3" '.pull_request.head.sha = $sha' \
    "$CORPUS/github/pull_request.reopened.json" > "$T/reopened.json"
r=$(gh pull_request "$T/reopened.json" pr-2-reopened)
ok "the sandbox flow runs for the reopened pull request" wait_runs pr-sandbox 3
is "it waits in the queue" "$(pool | jq -r '[.queue[].holder] | join(",")')" "pull/2"
like "the run says so" "$(git --git-dir="$R" log -5 --format=%B refs/flowgate/runs/pr-sandbox)" \
    "pool sandboxes is full: pull/2 waits, number 1 in line"
is "nothing was deployed for it yet" "$(wc -l < "$OUT" | tr -d ' ')" 2

whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
done_testing
