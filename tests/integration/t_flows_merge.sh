#!/bin/sh
# t_flows_merge.sh - the merge step: a flow merges pull request #2 (the
# corpus' GitHub "opened" payload, its head set to this test's commit)
# into its base through the hooks: a real push, refused while the base
# stage's gates say no (a missing build status), accepted once they pass.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
R=$ROOT/Codertocat/Hello-World.git
mkdir -p "$ROOT/Codertocat"
"$FG" init --template release "$R" >/dev/null 2>&1
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY FLOWGATE_USER=admin

# master is integration's branch; its gate wants a green build.
sed -e 's/branch: develop/branch: master/' \
    -e 's/branches: \[develop, staging, main, hotfix\]/branches: [master]/' \
    "$TOP/templates/release.yaml" > "$T/pipeline.yaml"
sed -i 's/^  integration:$/  integration:\n    gates: [{status: [ci\/build]}]/' "$T/pipeline.yaml"
cat > "$T/flows.yaml" <<EOF
version: 1
flows:
  merge-it:
    trigger: {manual: {inputs: {pr: {type: string, required: true}}}}
    steps:
      - id: merge
        merge: {pull_request: "\${{ inputs.pr }}"}
EOF
"$FG" --repo "$R" config apply "$T/pipeline.yaml" --flows "$T/flows.yaml" >/dev/null
is "the config applies" "$?" 0
grep -q "gates: \[{status: \[ci/build\]}\]" "$T/pipeline.yaml"
is "integration wants a green build" "$?" 0

W=$T/w
git init -q "$W"
(cd "$W" && echo one > a.txt && git add a.txt && git commit -qm "ABC-1 first")
C1=$(git -C "$W" rev-parse HEAD)
(cd "$W" && echo three >> a.txt && git commit -qam "ABC-2 the change")
GOOD=$(git -C "$W" rev-parse HEAD)
git --git-dir="$R" fetch -q "$W" "$C1:refs/heads/master" "$GOOD:refs/pull/2/head"

cat > "$T/whd.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
EOF
whd_start --config "$T/whd.yaml" || done_testing

runs() {
	git --git-dir="$R" log --format='%s' refs/flowgate/runs/merge-it 2>/dev/null
}
wait_runs() {
	_i=0
	while [ $_i -lt 300 ]; do
		[ "$(runs | grep -cE '^flow merge-it: run .* (succeeded|failed)$')" -ge "$1" ] && return 0
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}

# Pull request #2, its build not green yet.
jq --arg sha "$GOOD" '.pull_request.head.sha = $sha' \
    "$CORPUS/github/pull_request.opened.json" > "$T/opened.json"
r=$(gh pull_request "$T/opened.json" pr-2-opened)
like "the pull request is delivered" "$r" '^202 '
ok "processed" wait_processed "$R"
"$FG" --repo "$R" flow run --input pr=2 merge-it >/dev/null
ok "the merge run ends" wait_runs 1
like "it failed: the hooks refused the push" "$(runs | head -3 | tr '\n' '/')" \
    "flow merge-it: step merge failed: the push of #2 into refs/heads/master was refused"
is "master did not move" "$(git --git-dir="$R" rev-parse master)" "$C1"
like "the hook's words are in the step's log" "$(git --git-dir="$R" log -3 --format=%B refs/flowgate/runs/merge-it)" \
    "ci/build"

# The build goes green: merged, a fast-forward.
"$FG" --repo "$R" status set "$GOOD" ci/build success >/dev/null
"$FG" --repo "$R" flow run --input pr=2 merge-it >/dev/null
ok "the second merge run ends" wait_runs 2
is "it succeeded" "$(runs | head -1 | sed 's/run [^ ]* /run X /')" "flow merge-it: run X succeeded"
is "master is the pull request's head" "$(git --git-dir="$R" rev-parse master)" "$GOOD"
like "the push is in the activity log, accepted by the hooks" \
    "$(git --git-dir="$R" log --format=%s refs/flowgate/activity)" "push master .*accepted"

whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
done_testing
