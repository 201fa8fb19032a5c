#!/bin/sh
# t_whd_replay.sh - a signed body is recorded once per repository: replayed
# under a fresh delivery id, under another event header, with its signature
# in upper case, or sent twice at once, it is 200 duplicate and the inbox
# does not move, before and after a restart; another body is still
# accepted.  GitHub, Gitea (and Forgejo's headers), Jira, the generic
# endpoint; GitLab, whose token signs nothing, is still deduplicated by its
# event UUID alone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY
GH=Codertocat/Hello-World GT=Test-CI/multi-line-secrets
GL=demoaccount2-commits-group/test_ci_tmp GEN=acme/app JR=acme/tracker
for n in $GH $GT $GL $GEN $JR; do
	git init -q --bare "$ROOT/$n.git"
done
cat > "$T/whd.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
EOF

# inbox NAME: the repository's inbox tip and length ("none 0" when empty).
inbox() {
	_t=$(git --git-dir="$ROOT/$1.git" rev-parse -q --verify refs/flowgate/inbox || echo none)
	_c=$(git --git-dir="$ROOT/$1.git" rev-list --count refs/flowgate/inbox 2>/dev/null || echo 0)
	echo "$_t $_c"
}
upper() { echo "$1" | tr 'a-f' 'A-F'; }

PR=$CORPUS/github/pull_request.opened.json
PR2=$CORPUS/github/pull_request.synchronize.json
GS=$CORPUS/gitea/pull_request.synchronized.json
GS2=$CORPUS/gitea/push.multi-commit.json
GLB=$CORPUS/gitlab/merge_request.open.json
jq -n '{version: 1, source: "generic", kind: "ignored", repo: "acme/app",
    event: "nightly-check"}' > "$T/gen.json"
jq -n '{version: 1, source: "generic", kind: "ignored", repo: "acme/app",
    event: "weekly-check"}' > "$T/gen2.json"
SIG=$(sign "$WHD_KEY" "$PR")
GSIG=$(sign "$WHD_KEY" "$GS")

gitea() {	# FILE DELIVERY [EVENT [SIG]]
	post /hooks/gitea "$1" -H "X-Gitea-Event: ${3:-pull_request}" \
	    -H "X-Gitea-Delivery: $2" \
	    -H "X-Gitea-Signature: ${4:-$(sign "$WHD_KEY" "$1")}"
}
generic() {	# FILE DELIVERY
	post /hooks/generic "$1" -H "X-Flowgate-Delivery: $2" \
	    -H "X-Flowgate-Signature-256: sha256=$(sign "$WHD_KEY" "$1")"
}
gitlab() {	# FILE UUID
	post /hooks/gitlab "$1" -H "X-Gitlab-Event: Merge Request Hook" \
	    -H "X-Gitlab-Event-UUID: $2" -H "X-Gitlab-Token: $WHD_KEY"
}

whd_start --config "$T/whd.yaml" || done_testing

# GitHub.
r=$(gh pull_request "$PR" gh-1)
like "a signed GitHub pull_request is accepted" "$r" '^202 \{"status":"accepted","id":"gh-1"'
gh0=$(inbox $GH)
msg=$(git --git-dir="$ROOT/$GH.git" log -1 --format=%B refs/flowgate/inbox)
key=$(echo "$msg" | sed -n 's/^Flowgate-Signed-Body: //p')
like "its inbox record carries the signed body key" "$key" '^[0-9a-f]{64}$'
unlike "and not the signature itself" "$msg" "$SIG"
r=$(gh pull_request "$PR" gh-2)
is "the same body under a new X-GitHub-Delivery is 200 duplicate" "$r" \
    '200 {"status":"duplicate","id":"gh-2"}'
is "and the inbox is unchanged" "$(inbox $GH)" "$gh0"
r=$(gh issues "$PR" gh-3)
is "the same body under another X-GitHub-Event is a duplicate" "$r" \
    '200 {"status":"duplicate","id":"gh-3"}'
r=$(post /hooks/github "$PR" -H "X-GitHub-Event: pull_request" \
    -H "X-GitHub-Delivery: gh-4" -H "X-Hub-Signature-256: sha256=$(upper "$SIG")")
is "the same body with its signature in upper case is a duplicate" "$r" \
    '200 {"status":"duplicate","id":"gh-4"}'
r=$(gh pull_request "$PR" gh-1)
is "a redelivery (same id, same body) is still a duplicate" "$r" \
    '200 {"status":"duplicate","id":"gh-1"}'
is "the inbox is still unchanged" "$(inbox $GH)" "$gh0"

# Two copies at once, under two ids: one is recorded.
# (post() keeps its answer in one file: these two need their own.)
send_pr2() {
	curl -s -o /dev/null -w '%{http_code}' -X POST \
	    -H 'Content-Type: application/json' --data-binary "@$PR2" \
	    -H "X-GitHub-Event: pull_request" -H "X-GitHub-Delivery: $1" \
	    -H "X-Hub-Signature-256: sha256=$(sign "$WHD_KEY" "$PR2")" \
	    "$URL/hooks/github" > "$T/$1.out"
	echo >> "$T/$1.out"
}
send_pr2 gh-5a &
pa=$!
send_pr2 gh-5b &
pb=$!
wait $pa $pb
both=$(cat "$T/gh-5a.out" "$T/gh-5b.out" | sort | tr '\n' ' ')
is "two copies sent at once: one accepted, one duplicate" "$both" "200 202 "
is "one inbox commit for the two" "$(inbox $GH | cut -d' ' -f2)" 2
gh1=$(inbox $GH)

# Gitea, and the same body re-sent with Forgejo's headers.
r=$(gitea "$GS" gt-1)
like "a signed Gitea pull_request is accepted" "$r" '^202 \{"status":"accepted","id":"gt-1"'
gt0=$(inbox $GT)
r=$(gitea "$GS" gt-2)
is "the same body under a new X-Gitea-Delivery is a duplicate" "$r" \
    '200 {"status":"duplicate","id":"gt-2"}'
r=$(gitea "$GS" gt-3 issues)
is "the same body under another X-Gitea-Event is a duplicate" "$r" \
    '200 {"status":"duplicate","id":"gt-3"}'
r=$(post /hooks/forgejo "$GS" -H "X-Forgejo-Event: pull_request" \
    -H "X-Forgejo-Delivery: gt-4" -H "X-Forgejo-Signature: $(upper "$GSIG")")
is "the same body with Forgejo's headers is a duplicate" "$r" \
    '200 {"status":"duplicate","id":"gt-4"}'
is "the Gitea inbox is unchanged" "$(inbox $GT)" "$gt0"

# The generic endpoint.
r=$(generic "$T/gen.json" gen-1)
like "a signed generic delivery is accepted" "$r" '^202 \{"status":"accepted","id":"gen-1"'
gen0=$(inbox $GEN)
r=$(generic "$T/gen.json" gen-2)
is "the same body under a new X-Flowgate-Delivery is a duplicate" "$r" \
    '200 {"status":"duplicate","id":"gen-2"}'
is "the generic inbox is unchanged" "$(inbox $GEN)" "$gen0"

# Jira, signed in X-Hub-Signature.
JB=$CORPUS/jira/jira_issue_created.json
jira() {	# FILE ID
	post "/hooks/jira?repo=$JR" "$1" -H "X-Atlassian-Webhook-Identifier: $2" \
	    -H "X-Hub-Signature: sha256=$(sign "$WHD_KEY" "$1")"
}
r=$(jira "$JB" jr-1)
like "a signed Jira delivery is accepted" "$r" '^202 \{"status":"accepted","id":"jr-1"'
jr0=$(inbox $JR)
r=$(jira "$JB" jr-2)
is "the same Jira body under a new identifier is a duplicate" "$r" \
    '200 {"status":"duplicate","id":"jr-2"}'
is "the Jira inbox is unchanged" "$(inbox $JR)" "$jr0"

# GitLab: a shared token, no signature of the body; its event UUID is
# the only key.
r=$(gitlab "$GLB" gl-1)
like "a GitLab merge request is accepted" "$r" '^202 \{"status":"accepted","id":"gl-1"'
r=$(gitlab "$GLB" gl-2)
like "GitLab: the same body under a new event UUID is accepted" "$r" \
    '^202 \{"status":"accepted","id":"gl-2"'
r=$(gitlab "$GLB" gl-1)
is "GitLab: a repeated event UUID is a duplicate" "$r" \
    '200 {"status":"duplicate","id":"gl-1"}'
gl0=$(inbox $GL)
unlike "GitLab records carry no signed body key" \
    "$(git --git-dir="$ROOT/$GL.git" log --format=%B refs/flowgate/inbox)" \
    'Flowgate-Signed-Body'

# A restart forgets nothing.
whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
whd_start --config "$T/whd.yaml" || done_testing
r=$(gh pull_request "$PR" gh-6)
is "after a restart the GitHub replay is still a duplicate" "$r" \
    '200 {"status":"duplicate","id":"gh-6"}'
r=$(gh pull_request "$PR2" gh-7)
is "and so is the other GitHub body, under yet another id" "$r" \
    '200 {"status":"duplicate","id":"gh-7"}'
r=$(gitea "$GS" gt-5 issues)
is "after a restart the Gitea replay is still a duplicate" "$r" \
    '200 {"status":"duplicate","id":"gt-5"}'
r=$(generic "$T/gen.json" gen-3)
is "after a restart the generic replay is still a duplicate" "$r" \
    '200 {"status":"duplicate","id":"gen-3"}'
is "no inbox moved" "$(inbox $GH) $(inbox $GT) $(inbox $GEN) $(inbox $GL)" \
    "$gh1 $gt0 $gen0 $gl0"
r=$(gitlab "$GLB" gl-3)
like "GitLab after a restart: a new event UUID is accepted" "$r" \
    '^202 \{"status":"accepted","id":"gl-3"'

# Other bodies are still accepted.
r=$(gh pull_request "$CORPUS/github/pull_request.reopened.json" gh-8)
like "another GitHub body is accepted" "$r" '^202 \{"status":"accepted","id":"gh-8"'
r=$(gitea "$GS2" gt-6 push)
like "another Gitea body is accepted" "$r" '^202 \{"status":"accepted","id":"gt-6"'
r=$(generic "$T/gen2.json" gen-4)
like "another generic body is accepted" "$r" '^202 \{"status":"accepted","id":"gen-4"'
is "each appended once" "$(inbox $GH | cut -d' ' -f2) $(inbox $GT | cut -d' ' -f2) $(inbox $GEN | cut -d' ' -f2)" \
    "3 2 2"
like "duplicates by body are logged without the signature" \
    "$(grep 'event=delivery_duplicate_body' "$T/whd.log" | head -n 1)" \
    'repo=Codertocat/Hello-World delivery=gh-2'
unlike "the log never holds a signature" "$(cat "$T/whd.log")" "$SIG"

whd_stop
done_testing
