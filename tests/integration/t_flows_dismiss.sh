#!/bin/sh
# t_flows_dismiss.sh - a dismissed review stops promotion: the approval
# arrives before integration's gate (a green ci/build) is satisfied, so
# the approval flow's promote step fails and waits for its retry; the
# review is dismissed meanwhile; the build turns green; the retry must not
# promote, and the run says why.
#
# Deliveries are the corpus' GitHub payloads, signed:
# pull_request_review.submitted-approved.json with its commit ids set to
# this test's commit, and pull_request_review.dismissed.json moved onto
# the same pull request (#35 of erwinmombay/github-owners-bot-test-repo:
# its repository, pull_request and the reviewer taken from the approval),
# since the corpus' dismissal is of another repository's pull request.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
R=$ROOT/erwinmombay/github-owners-bot-test-repo.git
mkdir -p "$ROOT/erwinmombay"
"$FG" init --template release "$R" >/dev/null 2>&1
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY FLOWGATE_USER=admin
OUT=$T/deployed

cat > "$T/deploy" <<EOF
#!/bin/sh
printf '%s|%s\n' "\$1" "\$FLOWGATE_COMMIT" >> "$OUT"
EOF
chmod +x "$T/deploy"
sed -e 's/branch: develop/branch: master/' \
    -e "s|qa:   {deploy: {command: \[echo, deployed to qa\]|qa:   {deploy: {command: [$T/deploy, qa]|" \
    "$TOP/templates/release.yaml" > "$T/pipeline.yaml"
sed -i 's/^  integration:$/  integration:\n    gates: [{status: [ci\/build]}]/' "$T/pipeline.yaml"
# The default approval flow, its promote step given one retry (a build
# still running when the approval comes is a reason to try again).
sed -e 's/branches: \[develop\]/branches: [master]/' \
    -e 's/^      - id: promote$/      - id: promote\n        retries: 1/' \
    "$TOP/templates/release.flows.yaml" > "$T/flows.yaml"
grep -q 'retries: 1' "$T/flows.yaml"
is "the flow's promote step has a retry" "$?" 0
"$FG" --repo "$R" config apply "$T/pipeline.yaml" --flows "$T/flows.yaml" >/dev/null
is "the config applies" "$?" 0

W=$T/w
git init -q "$W"
(cd "$W" && echo one > a.txt && git add a.txt && git commit -qm "first")
C1=$(git -C "$W" rev-parse HEAD)
(cd "$W" && echo two >> a.txt && git commit -qam "the change")
C2=$(git -C "$W" rev-parse HEAD)
git --git-dir="$R" fetch -q "$W" "$C1:refs/heads/master" "$C2:refs/heads/feature"

cat > "$T/whd.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
EOF
whd_start --config "$T/whd.yaml" || done_testing

runs() {
	git --git-dir="$R" log --format='%s' refs/flowgate/runs/promote-on-approval 2>/dev/null
}
# wait_subject TEXT: until a record of the flow has the subject TEXT.
wait_subject() {
	_i=0
	while [ $_i -lt 400 ]; do
		runs | grep -qxF "$1" && return 0
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}

jq --arg sha "$C2" '.pull_request.head.sha = $sha | .review.commit_id = $sha' \
    "$CORPUS/github/pull_request_review.submitted-approved.json" > "$T/approve.json"
jq --slurpfile a "$T/approve.json" \
    '.repository = $a[0].repository | .pull_request = $a[0].pull_request |
     .review.user = $a[0].review.user | .review.commit_id = $a[0].review.commit_id' \
    "$CORPUS/github/pull_request_review.dismissed.json" > "$T/dismiss.json"
is "the dismissal is of the approver's review" \
    "$(jq -r '.action + " " + .review.state + " " + .review.user.login + " #" + (.pull_request.number | tostring)' "$T/dismiss.json")" \
    "dismissed dismissed erwinmombay #35"

# The approval comes while the build has not reported.
r=$(gh pull_request_review "$T/approve.json" gh-approve)
like "the approval is accepted" "$r" '^202 '
ok "the approval flow runs; its promotion is blocked and will retry" \
    wait_subject "flow promote-on-approval: step promote failed, will retry: promotion refused: no status 'ci/build' for ${C2%"${C2#???????}"}"

# The review is dismissed, then the build turns green.
r=$(gh pull_request_review "$T/dismiss.json" gh-dismiss)
like "the dismissal is accepted" "$r" '^202 '
ok "processed" wait_processed "$R"
"$FG" --repo "$R" status set "$C2" ci/build success >/dev/null
is "the build is green" "$?" 0

ok "the run ends" wait_subject "flow promote-on-approval: run approved-35-$C2 failed"
is "master (integration) has not moved" "$(git --git-dir="$R" rev-parse master)" "$C1"
is "qa got nothing" "$(cat "$OUT" 2>/dev/null)" ""
like "the retry says why it did not promote" "$(runs)" \
    "step promote failed: pull request #35 is no longer approved: erwinmombay's review was dismissed"
unlike "no promotion is in the activity log" \
    "$(git --git-dir="$R" log --format=%s refs/flowgate/activity)" "to integration: promoted"

whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
done_testing
