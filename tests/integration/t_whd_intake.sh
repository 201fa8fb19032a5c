#!/bin/sh
# t_whd_intake.sh - flowgate-webhookd's intake driven with curl: every
# corpus delivery signed as its forge signs it is recorded and processed;
# bad signatures, bad bodies, wrong types, sizes and routes get their exact
# status and reason; duplicates are recorded once; a client trickling
# bytes is cut off; --check, SIGHUP and SIGTERM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
mkdir -p "$ROOT"
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY

# One bare repository per repository named in the corpus.
for f in "$CORPUS"/github/*.json "$CORPUS"/gitea/*.json \
    "$CORPUS"/forgejo/*.json; do
	jq -r '.repository.full_name // empty' "$f"
done > "$T/names"
for f in "$CORPUS"/gitlab/*.json; do
	jq -r '.project.path_with_namespace // empty' "$f"
done >> "$T/names"
for n in $(sort -u "$T/names"); do
	git init -q --bare "$ROOT/$n.git"
done
APP=$ROOT/Codertocat/Hello-World.git

# --check
cat > "$T/good.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
limits: {timeout: 2}
EOF
printf 'version: 1\nlisten: nowhere\nlimits: {timeout: 0}\n' > "$T/bad.yaml"
printf 'version: 1\nlimits: {body: 26MB}\n' > "$T/big.yaml"
out=$("$FG_WHD" --check --config "$T/good.yaml" 2>&1)
is "--check accepts a good file" "$?" 0
like "--check says ok" "$out" "good.yaml: ok"
out=$("$FG_WHD" --check --config "$T/bad.yaml" 2>&1)
is "--check refuses a bad file" "$?" 1
like "--check gives file:line:col" "$out" "bad.yaml:2:9: listen: must be ADDR:PORT"
like "--check reports every error" "$out" "bad.yaml:3:19: limits.timeout: must be at least 1"
out=$("$FG_WHD" --check --config "$T/big.yaml" 2>&1)
like "--check refuses a body limit over 25 MB" "$out" \
    "big.yaml:2:16: limits.body: '26MB' is over the limit of 26214400 bytes"

whd_start --config "$T/good.yaml" || { done_testing; }

out=$(curl -s "$URL/healthz")
is "healthz" "$out" '{"status":"ok"}'

# Every corpus delivery, signed, is accepted.
n=0 bad=""
event_of() {
	case "$1" in
	github/*) basename "$1" | cut -d. -f1 ;;
	gitea/pull_request_review.approved.json) echo pull_request_approved ;;
	gitea/pull_request_review.rejected.json) echo pull_request_rejected ;;
	gitea/pull_request_review.comment.json) echo pull_request_comment ;;
	gitea/*|forgejo/*) basename "$1" | cut -d. -f1 ;;
	gitlab/push.*) echo "Push Hook" ;;
	gitlab/tag_push.*) echo "Tag Push Hook" ;;
	gitlab/merge_request.*) echo "Merge Request Hook" ;;
	gitlab/pipeline.*) echo "Pipeline Hook" ;;
	esac
}
badid=""
for f in $(cd "$CORPUS" && ls github/*.json gitea/*.json forgejo/*.json \
    gitlab/*.json jira/*.json); do
	ev=$(event_of "$f")
	id=$(echo "$f" | tr '/' '-')
	sig=$(sign "$WHD_KEY" "$CORPUS/$f")
	case "$f" in
	github/*) r=$(post /hooks/github "$CORPUS/$f" -H "X-GitHub-Event: $ev" \
	    -H "X-GitHub-Delivery: $id" -H "X-Hub-Signature-256: sha256=$sig") ;;
	gitea/*) r=$(post /hooks/gitea "$CORPUS/$f" -H "X-Gitea-Event: $ev" \
	    -H "X-Gitea-Delivery: $id" -H "X-Gitea-Signature: $sig") ;;
	forgejo/*) r=$(post /hooks/gitea "$CORPUS/$f" -H "X-Forgejo-Event: $ev" \
	    -H "X-Forgejo-Delivery: $id" -H "X-Forgejo-Signature: $sig") ;;
	gitlab/*) r=$(post /hooks/gitlab "$CORPUS/$f" -H "X-Gitlab-Event: $ev" \
	    -H "X-Gitlab-Event-UUID: $id" -H "X-Gitlab-Token: $WHD_KEY") ;;
	jira/*) r=$(post "/hooks/jira?repo=Codertocat/Hello-World" "$CORPUS/$f" \
	    -H "X-Atlassian-Webhook-Identifier: $id" \
	    -H "X-Hub-Signature: sha256=$sig") ;;
	esac
	case "$r" in
	"202 "*|"200 {\"status\":\"pong\"}") n=$((n + 1)) ;;
	*) bad="$bad
$f: $r" ;;
	esac
	# The forge's own delivery header names it (Forgejo's too, on the
	# Gitea route), not a hash of the body.
	case "$r" in
	"202 "*"\"id\":\"$id\""*|"200 "*) ;;
	*) badid="$badid
$f: $r" ;;
	esac
done
is "every corpus delivery is accepted" "$bad" ""
is "each under the delivery id its forge sent" "$badid" ""

# Each is in its inbox, and processed once.
total=0 acts=0
for n2 in $(sort -u "$T/names"); do
	g=$ROOT/$n2.git
	c=$(git --git-dir="$g" rev-list --count refs/flowgate/inbox 2>/dev/null || echo 0)
	total=$((total + c))
	if [ "$c" -gt 0 ]; then
		wait_processed "$g"
		a=$(git --git-dir="$g" rev-list --count refs/flowgate/activity)
		acts=$((acts + a))
	fi
done
pong=$(grep -c '"result":"pong"' "$T/whd.log")
is "inbox commits + pongs = deliveries" "$((total + pong))" "$n"
is "one activity record per inbox commit" "$acts" "$total"

tree=$(git --git-dir="$APP" ls-tree --name-only refs/flowgate/inbox | tr '\n' ' ')
is "an inbox commit holds event.json and payload" "$tree" "event.json payload "
like "an inbox commit names its delivery" \
    "$(git --git-dir="$APP" log -1 --format=%B refs/flowgate/inbox)" \
    "Flowgate-Delivery: jira-"
like "a Jira transition is recorded" \
    "$(git --git-dir="$APP" log --format=%s refs/flowgate/activity)" \
    "jira [A-Z]+-[0-9]+: To Do -> In Progress"
like "an ignored event is recorded as ignored" \
    "$(git --git-dir="$APP" log --format=%s refs/flowgate/activity)" \
    "github deployment created: ignored"
pull=$(git --git-dir="$APP" show refs/flowgate/pulls/2:pull.json)
# Sent in name order: closed-unmerged, opened, reopened, synchronize.
is "pulls/2 is open again" "$(echo "$pull" | jq -r .state)" "open"
is "pulls/2 head" "$(echo "$pull" | jq -r .head.sha)" \
    "$(jq -r .pull_request.head.sha "$CORPUS/github/pull_request.synchronize.json")"
is "pulls/2 history" "$(git --git-dir="$APP" log --format=%s refs/flowgate/pulls/2 | cut -d: -f1 | tr '\n' ' ')" \
    "github review_commented github review_dismissed github pr_synchronized github pr_reopened github pr_opened github pr_closed "
is "pulls/2 keeps the reviewer's latest verdict" \
    "$(echo "$pull" | jq -r '.reviews[] | .user + " " + .state')" "Codertocat dismissed"

# A status on a commit of the repository becomes a note.
W=$T/work
git clone -q "$APP" "$W" 2>/dev/null
(cd "$W" && git commit -q --allow-empty -m one && git push -q origin HEAD:main)
sha=$(git --git-dir="$APP" rev-parse main)
jq --arg s "$sha" '.sha = $s | .commit.sha = $s' \
    "$CORPUS/github/status.success.json" > "$T/status.json"
r=$(gh status "$T/status.json" status-on-main)
like "status accepted" "$r" "^202 "
wait_processed "$APP"
note=$(git --git-dir="$APP" notes --ref=flowgate show "$sha" 2>&1)
is "status note state" "$(echo "$note" | jq -r '.statuses.default.state')" "success"

# Duplicates.
B=$CORPUS/github/pull_request.opened.json
before=$(git --git-dir="$APP" rev-list --count refs/flowgate/inbox)
r=$(gh pull_request "$B" github-pull_request.opened.json)
is "a repeated delivery id is 200 duplicate" "$r" \
    '200 {"status":"duplicate","id":"github-pull_request.opened.json"}'
is "and is not appended again" \
    "$(git --git-dir="$APP" rev-list --count refs/flowgate/inbox)" "$before"

# Signatures.
r=$(post /hooks/github "$B" -H "X-GitHub-Event: pull_request" -H "X-GitHub-Delivery: nosig")
is "missing signature is 401" "$r" \
    "401 {\"error\":\"missing signature header 'X-Hub-Signature-256'\"}"
r=$(gh pull_request "$B" wrongsig wrong-key)
is "wrong signature is 401" "$r" \
    "401 {\"error\":\"signature in 'X-Hub-Signature-256' does not match the body\"}"
r=$(post /hooks/gitlab "$CORPUS/gitlab/push.normal.json" -H "X-Gitlab-Event: Push Hook" -H "X-Gitlab-Token: nope")
is "wrong GitLab token is 401" "$r" \
    "401 {\"error\":\"token in 'X-Gitlab-Token' is wrong\"}"
r=$(post /hooks/gitea "$CORPUS/gitea/push.new-branch.json" -H "X-Gitea-Event: push" -H "X-Gitea-Signature: $(sign x "$CORPUS/gitea/push.new-branch.json")")
like "wrong Gitea signature is 401" "$r" "^401 .*X-Gitea-Signature"

# Bodies.
head -c 300 "$B" > "$T/trunc.json"
r=$(gh pull_request "$T/trunc.json" trunc)
like "truncated JSON is 400" "$r" '^400 \{"error":"malformed JSON'
echo '{"action":"opened"}' > "$T/nofields.json"
r=$(gh pull_request "$T/nofields.json" nofields)
like "missing fields are 400" "$r" "^400 \{\"error\":\"missing field"
r=$(gh pull_request "$B" "bad id with spaces")
like "a hostile delivery id is 400" "$r" "^400 "
head -c $((26 * 1024 * 1024)) /dev/zero | tr '\0' ' ' > "$T/big.json"
r=$(gh push "$T/big.json" big)
is "a 26 MB body is 413" "$r" \
    '413 {"error":"body of 27262976 bytes is over the limit of 26214400 bytes"}'
rm -f "$T/big.json"
r=$(curl -s -w ' %{http_code}' -H 'Content-Type: text/plain' -H "X-GitHub-Event: pull_request" --data-binary @"$B" "$URL/hooks/github")
r=$(echo $r)
is "a wrong content type is 415" "$r" \
    '{"error":"content type must be application/json"} 415'
r=$(echo $(curl -s -w ' %{http_code}' "$URL/hooks/github"))
is "GET on a hook is 405" "$r" \
    '{"error":"method not allowed: webhooks are POSTed"} 405'
r=$(post /hooks/bitbucket "$B")
is "an unknown forge is 404" "$r" '404 {"error":"no such route"}'
r=$(echo $(curl -s -w ' %{http_code}' "$URL/nowhere"))
is "an unknown route is 404" "$r" '{"error":"no such route"} 404'
jq '.repository.full_name = "nobody/nothing"' "$B" > "$T/norepo.json"
r=$(gh pull_request "$T/norepo.json" norepo)
is "an unknown repository is 404" "$r" \
    "404 {\"error\":\"unknown repository 'nobody/nothing'\"}"
jq '.repository.full_name = "../../etc"' "$B" > "$T/evil.json"
r=$(gh pull_request "$T/evil.json" evil)
like "a hostile repository name is 400" "$r" "^400 "
r=$(post /hooks/jira "$CORPUS/jira/jira_issue_created.json" \
    -H "X-Hub-Signature: sha256=$(sign "$WHD_KEY" "$CORPUS/jira/jira_issue_created.json")")
like "a Jira delivery without ?repo= is 400" "$r" "add \?repo=owner/name"

# The request log: one JSON line per request, no secrets.  A path with a
# byte that is not UTF-8 (%FF) and one with a C1 control (CSI, %C2%9B),
# a quote, a backslash and a C0 control: each line stays UTF-8 (iconv
# refuses anything else; jq would quietly mend it) and shows them escaped.
curl -s -o /dev/null "$URL/hooks/%FF"
curl -s -o /dev/null "$URL/hooks/x%C2%9By%22%5C%01%C3%A9"
ok "every request line is UTF-8" sh -c "grep -a '^{' '$T/whd.log' |
    iconv -f UTF-8 -t UTF-8 >/dev/null"
ok "every request line is JSON" sh -c "grep -a '^{' '$T/whd.log' | jq -e . >/dev/null"
is "no C1 control reaches the log" \
    "$(LC_ALL=C grep -a -c "$(printf '\302[\200-\237]')" "$T/whd.log")" 0
like "a byte that is not UTF-8 is logged as U+FFFD" \
    "$(grep -a -F '"path":"/hooks/\ufffd"' "$T/whd.log")" 'status":404'
like "controls and quotes are logged escaped" \
    "$(grep -a -F '"path":"/hooks/x\u009by\"\\\u0001' "$T/whd.log")" 'status":404'
unlike "the log holds no secret" "$(cat "$T/whd.log")" "$WHD_KEY"

# Metrics.
m=$(curl -s "$URL/metrics")
like "metrics count deliveries" "$m" \
    'flowgate_deliveries_total\{forge="github",event="pr_opened",result="accepted"\} 1'
like "metrics count refusals" "$m" 'result="unauthorized"\} [0-9]'
like "metrics have the latency histogram" "$m" \
    'flowgate_http_request_duration_seconds_bucket\{le="\+Inf"\}'
like "metrics have resident memory" "$m" 'process_resident_memory_bytes [1-9]'
like "metrics have the backlog" "$m" 'flowgate_inbox_backlog 0'

# A client sending one byte a second is cut off by the 2 s timeout.
start=$(date +%s)
r=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 --limit-rate 1 \
    -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    --data-binary @"$B" "$URL/hooks/github")
took=$(( $(date +%s) - start ))
is "the trickling client gets no answer" "$r" "000"
ok "and is cut off within 6 s (took ${took}s)" test "$took" -le 6
like "the cut is logged" "$(cat "$T/whd.log")" "event=connection_timeout"

# SIGHUP: a broken file keeps the old settings and says why.
cp "$T/good.yaml" "$T/live.yaml"
kill -TERM "$WHD_PID"; wait "$WHD_PID"
whd_start --config "$T/live.yaml"
printf 'version: 2\n' > "$T/live.yaml"
kill -HUP "$WHD_PID"
sleep 0.5
like "a broken file is logged" "$(cat "$T/whd.log")" "event=reload_failed"
# (A body of its own: one it has seen, under any id, is a duplicate.)
jq '.pull_request.updated_at = "2026-01-02T03:04:05Z"' "$B" > "$T/later.json"
r=$(gh pull_request "$T/later.json" after-bad-hup)
like "and the daemon keeps serving" "$r" "^202 "
cat > "$T/live.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
limits: {body: 1KB}
EOF
kill -HUP "$WHD_PID"
sleep 0.5
like "a good file is applied" "$(cat "$T/whd.log")" "event=reloaded"
r=$(gh pull_request "$B" after-good-hup)
like "with its new limits" "$r" "^413 "

# Connections over the limit are closed at once.
kill -TERM "$WHD_PID"; wait "$WHD_PID"
printf 'version: 1\nroot: %s\nlimits: {connections: 1}\n' "$ROOT" > "$T/one.yaml"
whd_start --config "$T/one.yaml"
bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; sleep 2" &
holder=$!
sleep 0.5
r=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/healthz")
is "a connection over the limit is closed" "$r" "000"
wait "$holder"
sleep 1.2
r=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/healthz")
is "and once one is free the next is served" "$r" "200"

whd_stop
is "SIGTERM exits 0" "$WHD_RC" 0
like "after saying so" "$(tail -n 2 "$T/whd.log")" "event=stopped"

done_testing
