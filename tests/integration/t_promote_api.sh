#!/bin/sh
# t_promote_api.sh - promotion through the real daemon: POST promote (a dry
# run answered at once, a real one accepted through the inbox and run by
# the worker), approve and rollback, with roles and bad bodies refused; a
# pull request and its approval delivered as signed GitHub webhooks (the
# corpus' payloads, their commit ids set to this repository's); and the
# continuous template promoting staging's deployed commit to production by
# itself once a status makes production's gates pass.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
APP=$ROOT/Codertocat/Hello-World.git
CONT=$ROOT/acme/shop.git
OUT=$T/deployed
mkdir -p "$ROOT/Codertocat" "$ROOT/acme"
"$FG" init --template release "$APP" >/dev/null 2>&1
"$FG" init --template continuous "$CONT" >/dev/null 2>&1
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY

cat > "$T/deploy" <<EOF
#!/bin/sh
printf '%s|%s|%s|%s\n' "\$1" "\$FLOWGATE_COMMIT" "\$FLOWGATE_STAGE" "\$FLOWGATE_ACTOR" >> "$OUT"
EOF
chmod +x "$T/deploy"

# Both repositories get a first commit before their gates exist.
W=$T/w
git init -q "$W"
(cd "$W" && echo one > a.txt && git add a.txt && git commit -qm "ABC-1 first")
git --git-dir="$APP" fetch -q "$W" HEAD:refs/heads/main HEAD:refs/heads/develop HEAD:refs/heads/staging
git --git-dir="$CONT" fetch -q "$W" HEAD:refs/heads/main HEAD:refs/heads/production
C1=$(git -C "$W" rev-parse HEAD)

cat > "$T/app.yaml" <<EOF
version: 1
template: release
admins: [boss]
stages:
  developer: {pool: sandboxes}
  integration: {branch: develop, environments: [qa]}
  staging:
    branch: staging
    environments: [uat]
    gates: [{approvals: 1}, {status: [ci/build]}]
  production:
    branch: main
    environments: [prod]
    gates: [{manual: {approvers: [ci]}}]
  hotfix: {branch: hotfix, environments: [hfx]}
environments:
  qa:   {deploy: {command: [$T/deploy, qa]}}
  uat:  {deploy: {command: [$T/deploy, uat]}}
  prod: {deploy: {command: [$T/deploy, prod]}}
  hfx:  {deploy: {command: [$T/deploy, hfx]}}
pools:
  sandboxes: {environments: [sb-1], deploy: {command: [$T/deploy, sb]}}
EOF
FLOWGATE_USER=boss "$FG" --repo "$APP" config apply "$T/app.yaml" >/dev/null
is "the release config applies" "$?" 0
cat > "$T/cont.yaml" <<EOF
version: 1
template: continuous
admins: [boss]
stages:
  developer: {pool: sandboxes}
  staging: {branch: main, environments: [stg]}
  production:
    branch: production
    environments: [live]
    gates: [{status: [ci/smoke]}]
environments:
  stg:  {deploy: {command: [$T/deploy, stg]}}
  live: {deploy: {command: [$T/deploy, live]}}
pools:
  sandboxes: {environments: [sb-1], deploy: {command: [$T/deploy, sb]}}
EOF
# Without the template's default flows (a sandbox per pull request would
# deploy to sb as well): this test is about the engine's own promotion.
printf 'version: 1\nflows: {}\n' > "$T/noflows.yaml"
FLOWGATE_USER=boss "$FG" --repo "$CONT" config apply "$T/cont.yaml" --flows "$T/noflows.yaml" >/dev/null
is "the continuous config applies" "$?" 0

READ=$(echo "read-token-1" | "$FG_WHD" --hash-token)
OPER=$(echo "operate-token-2" | "$FG_WHD" --hash-token)
OPS2=$(echo "operate-token-3" | "$FG_WHD" --hash-token)
ADM=$(echo "admin-token-4" | "$FG_WHD" --hash-token)
cat > "$T/whd.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
tokens:
  - {name: reader, hash: '$READ', role: read}
  - {name: ci, hash: '$OPER', role: operate}
  - {name: ops, hash: '$OPS2', role: operate}
  - {name: boss, hash: '$ADM', role: admin}
EOF
whd_start --config "$T/whd.yaml" || done_testing
A=/api/v1/repos/Codertocat/Hello-World
B=/api/v1/repos/acme/shop

send() {
	post "$1" "$3" ${2:+-H "Authorization: Bearer $2"}
}
body() {
	printf '%s' "$1" > "$T/body.json"
	echo "$T/body.json"
}
activity() {
	git --git-dir="$1" log --format='%s' refs/flowgate/activity
}

# A change on develop, pushed for real.
(cd "$W" && git remote add origin "$APP" && echo two >> a.txt &&
    git commit -qam "ABC-2 second" && git push -q origin HEAD:develop 2>/dev/null)
C2=$(git -C "$W" rev-parse HEAD)
S2=$(git -C "$W" rev-parse --short=7 HEAD)

# Roles, methods and bodies.
r=$(send "$A/promote" read-token-1 "$(body '{"change":"develop","to":"staging","dry_run":true}')")
is "a read token may not promote: 403" "$r" \
    "403 {\"error\":\"token 'reader' may only read: promote needs the operate role\"}"
r=$(curl -s -o "$T/.body" -w '%{http_code}' -H "Authorization: Bearer operate-token-2" "$URL$A/promote")
is "GET promote is 405" "$r" 405
r=$(send "$A/promote" operate-token-2 "$(body '{"change":"develop","too":"staging"}')")
like "an unknown key is 400" "$r" '^400 \{"error":"body'
r=$(send "$A/promote" operate-token-2 "$(body '{"change":"develop","to":"heaven"}')")
like "an unknown stage is 400" "$r" '^400 \{"error":"body.*to'
r=$(send "$A/promote" operate-token-2 "$(body '{"change":"develop"')")
like "truncated JSON is 400" "$r" '^400 '
r=$(curl -s -o "$T/.body" -w '%{http_code}' -X POST -H "Authorization: Bearer operate-token-2" \
    -H 'Content-Type: text/plain' --data 'x' "$URL$A/promote")
is "a body that is not JSON is 415" "$r" 415
r=$(send /api/v1/repos/nobody/nothing/promote operate-token-2 "$(body '{"change":"develop"}')")
is "an unknown repository is 404" "$r" "404 {\"error\":\"unknown repository 'nobody/nothing'\"}"

# A dry run answers at once with the verdict.
r=$(send "$A/promote" operate-token-2 "$(body '{"change":"develop","to":"staging","dry_run":true}')")
like "a dry run is 200" "$r" '^200 \{'
j=${r#* }
is "the dry run says refused" "$(echo "$j" | jq -r .outcome)" refused
is "naming the approval and the status" "$(echo "$j" | jq -r '[.verdict.issues[].gate] | join(",")')" "approvals,status"
r=$(send "$A/promote" operate-token-2 "$(body '{"change":"nothing-like-it","dry_run":true}')")
is "a dry run of an unknown change is 404" "$r" "404 {\"error\":\"no branch, commit or pull request 'nothing-like-it'\"}"

# The status, the pull request and its approval, as a forge sends them.
printf '{"sha":"%s","context":"ci/build","state":"success"}' "$C2" > "$T/st.json"
r=$(send "$A/statuses" operate-token-2 "$T/st.json")
like "a status is posted" "$r" '^202 '
jq --arg sha "$C2" '.pull_request.head.sha = $sha | .pull_request.base.ref = "staging"' \
    "$CORPUS/github/pull_request.opened.json" > "$T/pr.json"
r=$(gh pull_request "$T/pr.json" pr-open-1)
like "the pull request is delivered" "$r" '^202 '
jq --arg sha "$C2" --slurpfile pr "$T/pr.json" \
    '.pull_request = $pr[0].pull_request | .repository = $pr[0].repository |
     .review.commit_id = $sha' \
    "$CORPUS/github/pull_request_review.submitted-approved.json" > "$T/review.json"
r=$(gh pull_request_review "$T/review.json" pr-review-1)
like "its approval is delivered" "$r" '^202 '
ok "processed" wait_processed "$APP"
r=$(send "$A/promote" operate-token-2 "$(body '{"change":"develop","to":"staging","dry_run":true}')")
is "the dry run passes now" "$(echo "${r#* }" | jq -r .outcome)" checked
r=$(send "$A/promote" operate-token-2 "$(body '{"change":"#2","to":"staging","dry_run":true}')")
is "the pull request by number is the same change" "$(echo "${r#* }" | jq -r '.commit + " " + .what')" "$C2 pull request #2"

# A real promotion: accepted durably, run by the worker.
r=$(send "$A/promote" operate-token-2 "$(body '{"change":"develop","to":"staging"}')")
like "a promotion is accepted: 202 with its run id" "$r" '^202 \{"status":"accepted","run":"api-[0-9a-f]+"'
run=$(echo "${r#* }" | jq -r .run)
ok "processed" wait_processed "$APP"
is "staging moved to the change" "$(git --git-dir="$APP" rev-parse staging)" "$C2"
is "uat got it, from the token's user" "$(cat "$OUT")" "uat|$C2|staging|ci"
like "the outcome is in the activity log under the run id" \
    "$(git --git-dir="$APP" log --format='%s %(trailers:key=Flowgate-Run,valueonly)' refs/flowgate/activity | grep "$run" | head -1)" \
    "^promote $S2 to staging: promoted $run"
like "the request itself is recorded" "$(activity "$APP" | grep '^api promote request')" \
    "^api promote request by ci: develop to staging$"

# Approve: the manual gate's approvers only.
r=$(send "$A/approve" operate-token-3 "$(body '{"change":"staging","stage":"production"}')")
is "approve by a token not among the approvers is 403" "$r" \
    "403 {\"error\":\"'ops' may not approve changes for production (its manual gate's approvers, or the admins, may)\"}"
r=$(send "$A/approve" read-token-1 "$(body '{"change":"staging","stage":"production"}')")
like "approve with a read token is 403" "$r" '^403 '
r=$(send "$A/approve" operate-token-2 "$(body '{"change":"staging","stage":"production"}')")
is "approve by an approver is 200" "$r" "200 {\"approved\":\"$C2\",\"stage\":\"production\",\"user\":\"ci\",\"what\":\"branch staging\"}"
r=$(send "$A/promote" operate-token-2 "$(body '{"change":"staging","dry_run":true}')")
is "production's manual gate passes" "$(echo "${r#* }" | jq -r .outcome)" checked
r=$(send "$A/promote" operate-token-2 "$(body '{"change":"staging"}')")
like "promote to production accepted" "$r" '^202 '
ok "processed" wait_processed "$APP"
is "main moved" "$(git --git-dir="$APP" rev-parse main)" "$C2"

# Rollback: --force needs an admin token.
r=$(send "$A/rollback" operate-token-2 "$(body '{"env":"prod","force":true}')")
is "a forced rollback by an operate token is 403" "$r" \
    "403 {\"error\":\"token 'ci' is not an admin: a forced rollback needs the admin role\"}"
r=$(send "$A/rollback" operate-token-2 "$(body '{"env":"prod","dry_run":true}')")
is "a rollback with no earlier deployment says so" "$r" \
    "404 {\"error\":\"prod has no earlier successful deployment to roll back to\"}"
r=$(send "$A/rollback" admin-token-4 "$(body "{\"env\":\"prod\",\"to\":\"$C1\",\"force\":true}")")
like "an admin's forced rollback is accepted" "$r" '^202 '
ok "processed" wait_processed "$APP"
is "prod runs the older commit" "$(tail -n 1 "$OUT")" "prod|$C1|production|boss"

# Continuous: staging's deployed commit goes to production by itself once
# production's gates pass.
: > "$OUT"
(cd "$W" && echo three >> a.txt && git commit -qam "ABC-3 third" &&
    git push -q "$CONT" HEAD:refs/heads/feature 2>/dev/null)
C3=$(git -C "$W" rev-parse HEAD)
jq --arg sha "$C3" '.pull_request.head.sha = $sha | .pull_request.base.ref = "main" |
    .repository.full_name = "acme/shop" | .repository.name = "shop" |
    .repository.owner.login = "acme"' \
    "$CORPUS/github/pull_request.opened.json" > "$T/pr2.json"
r=$(gh pull_request "$T/pr2.json" pr-open-2)
like "continuous: the pull request is delivered" "$r" '^202 '
ok "processed" wait_processed "$CONT"
r=$(send "$B/promote" operate-token-2 "$(body '{"change":"#2"}')")
like "continuous: the pull request is promoted to staging" "$r" '^202 '
ok "processed" wait_processed "$CONT"
is "continuous: staging (main) is at it" "$(git --git-dir="$CONT" rev-parse main)" "$C3"
is "continuous: stg runs it, production waits for its gates" "$(cat "$OUT")" "stg|$C3|staging|ci"
is "continuous: production has not moved" "$(git --git-dir="$CONT" rev-parse production)" "$C1"
printf '{"sha":"%s","context":"ci/smoke","state":"failure"}' "$C3" > "$T/st.json"
send "$B/statuses" operate-token-2 "$T/st.json" >/dev/null
ok "processed" wait_processed "$CONT"
is "continuous: a failing status promotes nothing" "$(git --git-dir="$CONT" rev-parse production)" "$C1"
unlike "continuous: and records no promotion to production" "$(activity "$CONT")" "to production"
printf '{"sha":"%s","context":"ci/smoke","state":"success"}' "$C3" > "$T/st.json"
send "$B/statuses" operate-token-2 "$T/st.json" >/dev/null
ok "processed" wait_processed "$CONT"
is "continuous: the passing status promoted it to production" "$(git --git-dir="$CONT" rev-parse production)" "$C3"
is "continuous: live got it, by flowgate" "$(tail -n 1 "$OUT")" "live|$C3|production|flowgate"
like "continuous: the log says so" "$(activity "$CONT" | head -1)" "^promote $(echo "$C3" | cut -c1-7) to production: promoted$"

whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
ok "fsck is clean" git --git-dir="$APP" fsck --no-progress
done_testing
