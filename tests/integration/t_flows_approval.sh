#!/bin/sh
# t_flows_approval.sh - the default flow promote-on-approval, driven by
# the corpus' real GitHub and Gitea review payloads delivered signed to
# the real daemon after the tests' statuses: the pull request's head is
# promoted into the stage its base branch belongs to; a request for
# changes stops it; a push to the pull request makes the earlier approval
# stale; 'git log refs/flowgate/runs/promote-on-approval' tells it all.
#
# The payloads are the corpus' files with only their commit ids
# (pull_request.head.sha, review.commit_id) set to this test's commits.
# The stages' branches are set to the payloads' base branches (GitHub's
# "master", Gitea's "main"), and so are the default flow's, so nothing
# else in a payload changes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
GH=$ROOT/erwinmombay/github-owners-bot-test-repo.git
GT=$ROOT/a_nice_user/hello_world_ci.git
mkdir -p "$ROOT/erwinmombay" "$ROOT/a_nice_user"
"$FG" init --template release "$GH" >/dev/null 2>&1
"$FG" init --template continuous "$GT" >/dev/null 2>&1
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY FLOWGATE_USER=admin
OUT=$T/deployed

cat > "$T/deploy" <<EOF
#!/bin/sh
printf '%s|%s|%s\n' "\$1" "\$FLOWGATE_COMMIT" "\$FLOWGATE_STAGE" >> "$OUT"
EOF
chmod +x "$T/deploy"

# GitHub: the release template, integration on master; its gates want a
# green build.
sed -e 's/branch: develop/branch: master/' \
    -e "s|qa:   {deploy: {command: \[echo, deployed to qa\]|qa:   {deploy: {command: [$T/deploy, qa]|" \
    "$TOP/templates/release.yaml" > "$T/gh.yaml"
sed -i 's/^  integration:$/  integration:\n    gates: [{status: [ci\/build]}]/' "$T/gh.yaml"
sed -e 's/branches: \[develop\]/branches: [master]/' "$TOP/templates/release.flows.yaml" > "$T/gh.flows.yaml"
"$FG" --repo "$GH" config apply "$T/gh.yaml" --flows "$T/gh.flows.yaml" >/dev/null
is "github: the release config applies" "$?" 0
is "the default flows are the template's, on master" \
    "$(git --git-dir="$GH" show refs/flowgate/config:flows.yaml | grep -c 'branches: \[master\]')" 3

# Gitea: the continuous template as it comes (staging is main), stg
# deploying through the script.
sed -e "s|{deploy: {command: \[echo, deployed to staging\]|{deploy: {command: [$T/deploy, stg]|" \
    "$TOP/templates/continuous.yaml" > "$T/gt.yaml"
grep -q "$T/deploy, stg" "$T/gt.yaml" || sed -i "0,/command: \[echo/s|command: \[echo, [^]]*\]|command: [$T/deploy, stg]|" "$T/gt.yaml"
"$FG" --repo "$GT" config apply "$T/gt.yaml" >/dev/null
is "gitea: the continuous config applies, with the template's flows" "$?" 0

W=$T/w
git init -q "$W"
(cd "$W" && echo one > a.txt && git add a.txt && git commit -qm "ABC-1 first")
C1=$(git -C "$W" rev-parse HEAD)
(cd "$W" && echo two >> a.txt && git commit -qam "ABC-2 the change")
C2=$(git -C "$W" rev-parse HEAD)
git --git-dir="$GH" fetch -q "$W" "$C1:refs/heads/master" "$C2:refs/heads/feature"
git --git-dir="$GT" fetch -q "$W" "$C1:refs/heads/main" "$C2:refs/heads/feature"

cat > "$T/whd.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
EOF
whd_start --config "$T/whd.yaml" || done_testing

runs() {
	git --git-dir="$1" log --format='%s' refs/flowgate/runs/promote-on-approval 2>/dev/null
}
wait_run() {
	_i=0
	while [ $_i -lt 300 ]; do
		case "$(runs "$1" | head -1)" in
		"flow promote-on-approval: run $2 succeeded"|"flow promote-on-approval: run $2 failed") return 0 ;;
		esac
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}
gitea() {
	post /hooks/gitea "$2" -H "X-Gitea-Event: $1" -H "X-Gitea-Delivery: $3" \
	    -H "X-Gitea-Signature: $(sign "$WHD_KEY" "$2")"
}

# GitHub: the build is green, then the approval arrives.
"$FG" --repo "$GH" status set "$C2" ci/build success >/dev/null
jq --arg sha "$C2" '.pull_request.head.sha = $sha | .review.commit_id = $sha' \
    "$CORPUS/github/pull_request_review.submitted-approved.json" > "$T/approve.json"
r=$(gh pull_request_review "$T/approve.json" gh-review-1)
like "github: the approval is accepted" "$r" '^202 '
ok "github: the flow's run finishes" wait_run "$GH" "approved-35-$C2"
is "github: it succeeded" "$(runs "$GH" | head -1)" "flow promote-on-approval: run approved-35-$C2 succeeded"
is "github: master (integration) moved to the pull request's head" "$(git --git-dir="$GH" rev-parse master)" "$C2"
like "github: qa got the head" "$(cat "$OUT")" "qa|$C2|integration"
is "github: git log of the flow's runs reads as its activity" "$(runs "$GH" | tac | tr '\n' '/')" \
    "flow promote-on-approval: run approved-35-$C2 queued (pull_request approved)/flow promote-on-approval: step promote started (attempt 1)/flow promote-on-approval: step promote succeeded/flow promote-on-approval: run approved-35-$C2 succeeded/"
like "github: the promotion is in the activity log, from the flow" \
    "$(git --git-dir="$GH" log --format=%s refs/flowgate/activity)" "promote ${C2%"${C2#???????}"} to integration: promoted"

# The same approval delivered again: no second run.
r=$(gh pull_request_review "$T/approve.json" gh-review-1)
ok "processed" wait_processed "$GH"
is "github: a repeated delivery starts no run" "$(runs "$GH" | grep -c queued)" 1

# A push to the pull request: C3.  The approval given on C2 is stale, so
# the same reviewer's review of C2, delivered again with the new head,
# promotes nothing.
(cd "$W" && echo three >> a.txt && git commit -qam "ABC-3 after review")
C3=$(git -C "$W" rev-parse HEAD)
git --git-dir="$GH" fetch -q "$W" "+$C3:refs/heads/feature"
"$FG" --repo "$GH" status set "$C3" ci/build success >/dev/null
jq --arg head "$C3" --arg old "$C2" '.pull_request.head.sha = $head | .review.commit_id = $old' \
    "$CORPUS/github/pull_request_review.submitted-approved.json" > "$T/stale.json"
r=$(gh pull_request_review "$T/stale.json" gh-review-2)
like "github: the stale approval is accepted" "$r" '^202 '
ok "processed" wait_processed "$GH"
sleep 0.5
is "github: a stale approval starts no run" "$(runs "$GH" | grep -c queued)" 1
is "github: master stays at C2" "$(git --git-dir="$GH" rev-parse master)" "$C2"
jq --arg sha "$C3" '.pull_request.head.sha = $sha | .review.commit_id = $sha' \
    "$CORPUS/github/pull_request_review.submitted-approved.json" > "$T/approve3.json"
r=$(gh pull_request_review "$T/approve3.json" gh-review-3)
ok "github: an approval of C3 runs the flow again" wait_run "$GH" "approved-35-$C3"
is "github: master moved to C3" "$(git --git-dir="$GH" rev-parse master)" "$C3"

# Gitea: changes requested first: nothing happens.
"$FG" --repo "$GT" status set "$C2" ci/build success >/dev/null
jq --arg sha "$C2" '.pull_request.head.sha = $sha' \
    "$CORPUS/gitea/pull_request_review.rejected.json" > "$T/rejected.json"
jq --arg sha "$C2" '.pull_request.head.sha = $sha' \
    "$CORPUS/gitea/pull_request_review.approved.json" > "$T/gapprove.json"
r=$(gitea pull_request_rejected "$T/rejected.json" gt-review-1)
like "gitea: the request for changes is accepted" "$r" '^202 '
ok "processed" wait_processed "$GT"
sleep 0.5
is "gitea: a request for changes starts no run" "$(runs "$GT")" ""
is "gitea: main (staging) has not moved" "$(git --git-dir="$GT" rev-parse main)" "$C1"
# The same reviewer approves: their latest review counts.
r=$(gitea pull_request_approved "$T/gapprove.json" gt-review-2)
like "gitea: the approval is accepted" "$r" '^202 '
ok "gitea: the flow's run finishes" wait_run "$GT" "approved-7-$C2"
is "gitea: it succeeded" "$(runs "$GT" | head -1)" "flow promote-on-approval: run approved-7-$C2 succeeded"
is "gitea: main (staging) moved to the head" "$(git --git-dir="$GT" rev-parse main)" "$C2"
like "gitea: stg got it" "$(cat "$OUT")" "stg|$C2|staging"

whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
done_testing
