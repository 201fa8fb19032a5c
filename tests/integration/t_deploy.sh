#!/bin/sh
# t_deploy.sh - 'flowgate deploy' and 'flowgate pipeline show/reset' on a
# real bare repository fed by real pushes: a command deployment in a fresh
# checkout with the facts in its environment, a failed one, one killed at
# its time limit, a hostile branch name and actor that stay inert values,
# two deployments racing for one environment, http deployments checked by
# a local receiver (signature, method, path, body, polling), and the
# history 'git log refs/flowgate/envs/<env>' shows.
. "$(dirname "$0")/lib.sh"

RECEIVER=$TOP/tests/tools/receiver
say() { printf "%s\n" "$1"; }	# echo would expand backslashes (dash)
R=$T/r.git
W=$T/w
OUT=$T/out
mkdir -p "$OUT"
"$FG" init --template release "$R" >/dev/null 2>&1 || { echo "init failed"; exit 1; }
export FLOWGATE_DEPLOY_TOKEN=tok-3e1f9a
export FLOWGATE_USER=admin

# receiver NAME ARGS...: start tests/tools/receiver; sets PORT_<NAME>.
receiver() {
	_rn=$1; shift
	"$RECEIVER" --port-file "$T/$_rn.port" --log "$T/$_rn.log" "$@" \
	    2>>"$T/receiver.err" &
	echo $! >> "$T/.pids"
	_i=0
	while [ ! -s "$T/$_rn.port" ] && [ $_i -lt 100 ]; do
		sleep 0.05; _i=$((_i + 1))
	done
	eval "PORT_$_rn=$(cat "$T/$_rn.port")"
}
receiver ok --secret "$FLOWGATE_DEPLOY_TOKEN" --status 201 --body '{"deploy":"queued"}'
receiver poll --secret "$FLOWGATE_DEPLOY_TOKEN" --pending 2
receiver bad --secret "$FLOWGATE_DEPLOY_TOKEN" --status 502 --body 'upstream down'
receiver other --secret some-other-secret
receiver polfail --secret "$FLOWGATE_DEPLOY_TOKEN" --final failed
receiver plain

# config PROD_PORT UAT_PORT: apply the pipeline with prod and uat
# deploying to those receivers.
config() {
	cat > "$T/p.yaml" <<EOF
version: 1
template: release
admins: [admin]
stages:
  integration: {branch: develop, environments: [qa]}
  staging: {branch: staging, environments: [uat, sit]}
  production: {branch: main, environments: [prod]}
environments:
  qa:   {deploy: {command: [./deploy.sh, '$OUT'], timeout: 30}}
  sit:  {deploy: {command: [sh, -c, 'echo starting; sleep 30'], timeout: 1}}
  uat:  {deploy: {http: {url: "http://127.0.0.1:$2/deploy/uat", secret: deploy_token,
                         poll: "http://127.0.0.1:$2/status/uat?x=1"}, timeout: 20}}
  prod: {deploy: {http: {url: "http://127.0.0.1:$1/deploy/prod?via=flowgate", secret: deploy_token},
                  timeout: 20}}
  demo: {deploy: {http: {url: "http://127.0.0.1:$PORT_plain/demo"}}}
secrets:
  deploy_token: {env: FLOWGATE_DEPLOY_TOKEN}
  other_key: {env: FLOWGATE_OTHER_KEY}
EOF
	"$FG" --repo "$R" config apply "$T/p.yaml" >/dev/null 2>&1
}
config "$PORT_ok" "$PORT_poll"
is "the config applies" "$?" 0

git clone -q "$R" "$W" 2>/dev/null
cd "$W" || exit 1
cat > deploy.sh <<'EOF'
#!/bin/sh
out=$1
test -f README || { echo "no checkout here"; exit 9; }
for v in COMMIT ENV STAGE REF ACTOR RUN; do
	eval "printf '%s' \"\$FLOWGATE_$v\"" > "$out/$v"
done
env | sort > "$out/environ"
pwd > "$out/pwd"
echo "deploying $(git rev-parse HEAD 2>/dev/null || echo nogit) with $deploy_token"
case "$(cat MODE 2>/dev/null)" in
fail) echo "boom: the database is gone"; exit 3 ;;
slow) sleep 3 ;;
esac
echo "done"
EOF
chmod +x deploy.sh
echo hello > README
git add -A && git commit -q -m "first" && git push -q origin HEAD:develop 2>/dev/null
c1=$(git rev-parse HEAD)
s1=$(echo "$c1" | cut -c1-7)

out=$("$FG" deploy --help); is "deploy --help exits 0" "$?" 0
like "deploy --help prints a usage line" "$out" "^usage: flowgate deploy"
like "deploy --help explains --wait" "$out" "--wait SECS"
out=$("$FG" pipeline reset --help); is "pipeline reset --help exits 0" "$?" 0
like "pipeline reset --help prints the usage" "$out" "flowgate pipeline reset"
"$FG" --repo "$R" deploy >/dev/null 2>&1; is "deploy without ENV exits 2" "$?" 2
out=$("$FG" --repo "$R" deploy nowhere 2>&1); is "an unknown environment exits 1" "$?" 1
like "and is named" "$out" "^flowgate: unknown environment 'nowhere'"
out=$("$FG" --repo "$R" deploy qa no-such-rev 2>&1); is "an unknown commit exits 1" "$?" 1
like "and is named" "$out" "unknown commit 'no-such-rev'"
out=$("$FG" --repo "$R" deploy --wait x qa 2>&1); is "a bad --wait exits 2" "$?" 2
ok "nothing was recorded for them" test -z "$(git --git-dir="$R" for-each-ref refs/flowgate/envs/)"

# A command deployment of develop's tip.
out=$("$FG" --repo "$R" deploy qa 2>"$T/err"); rc=$?
is "deploy qa exits 0" "$rc" 0
like "it prints the outcome line" "$out" "^deploy qa: $s1 succeeded in [0-9]+s$"
is "FLOWGATE_COMMIT" "$(cat "$OUT/COMMIT")" "$c1"
is "FLOWGATE_ENV" "$(cat "$OUT/ENV")" qa
is "FLOWGATE_STAGE" "$(cat "$OUT/STAGE")" integration
is "FLOWGATE_REF is the stage branch" "$(cat "$OUT/REF")" refs/heads/develop
is "FLOWGATE_ACTOR" "$(cat "$OUT/ACTOR")" admin
like "FLOWGATE_RUN is an id" "$(cat "$OUT/RUN")" '^[0-9a-f]{16}$'
like "the secret is in its environment by name" "$(cat "$OUT/environ")" "^deploy_token=$FLOWGATE_DEPLOY_TOKEN$"
unlike "and nothing of ours but PATH, HOME, LANG" "$(cat "$OUT/environ")" "^(FLOWGATE_USER|FLOWGATE_DEPLOY_TOKEN|GIT_)"
unlike "it ran in a fresh checkout, not our clone" "$(cat "$OUT/pwd")" "^$W"
show=$(git --git-dir="$R" show refs/flowgate/envs/qa:log)
like "the log has the output" "$show" "^done$"
like "with the secret masked" "$show" "with \*\*\*$"
unlike "the secret is nowhere in the log" "$show" "$FLOWGATE_DEPLOY_TOKEN"
like "it says a secret was not available" "$show" "secret 'other_key': environment variable 'FLOWGATE_OTHER_KEY' is not set"
j=$(git --git-dir="$R" show refs/flowgate/envs/qa:deployment.json)
is "deployment.json" "$(say "$j" | jq -c '[.version, .env, .status, .commit, .actor, .kind, .ref, (.duration_ms >= 0)]')" \
    "[1,\"qa\",\"succeeded\",\"$c1\",\"admin\",\"command\",\"refs/heads/develop\",true]"
is "the started record says the same run" \
    "$(git --git-dir="$R" show refs/flowgate/envs/qa~1:deployment.json | jq -r '.status + " " + .run')" \
    "started $(cat "$OUT/RUN")"
note=$(git --git-dir="$R" notes --ref=flowgate show "$c1" 2>/dev/null)
is "the commit's note says where it is deployed" "$(say "$note" | jq -r '.deployments.qa | .status + " " + .record')" \
    "succeeded $(git --git-dir="$R" rev-parse refs/flowgate/envs/qa)"
act=$(git --git-dir="$R" log -2 --format='%s|%an|%(trailers:key=Flowgate-Kind,valueonly,separator=)' refs/flowgate/activity)
like "the activity log has the end" "$act" "^deploy qa: $s1 succeeded in [0-9]+s\|admin\|deploy$"
like "and the start" "$act" "^deploy qa: $s1 started by admin\|admin\|deploy$"

# A failing deployment.
echo fail > MODE
git add MODE && git commit -q -m "break it" && git push -q origin HEAD:develop 2>/dev/null
c2=$(git rev-parse HEAD); s2=$(echo "$c2" | cut -c1-7)
out=$("$FG" --repo "$R" deploy qa 2>"$T/err"); rc=$?
is "a failing deployment exits 1" "$rc" 1
like "its outcome line says why" "$out" "^deploy qa: $s2 failed in [0-9]+s: exit 3$"
like "stderr shows the output's tail" "$(cat "$T/err")" "^  \| boom: the database is gone$"
is "the record says failed" \
    "$(git --git-dir="$R" log -1 --format='%s|%(trailers:key=Flowgate-Status,valueonly,separator=)' refs/flowgate/envs/qa)" \
    "deploy qa: $s2 failed in 0s: exit 3|failed"
out=$("$FG" --repo "$R" deploy --json qa "$c2"); rc=$?
is "--json exits 1 for a failure too" "$rc" 1
is "--json says failed, why, and the log" "$(say "$out" | jq -c '[.status, .reason, (.log | test("boom"))]')" \
    '["failed","exit 3",true]'
is "a named commit has no ref" "$(cat "$OUT/REF")" ""
git --git-dir="$R" symbolic-ref HEAD refs/heads/develop
"$FG" --repo "$R" deploy qa HEAD >/dev/null 2>&1
is "HEAD is the branch it points at" "$(cat "$OUT/REF")" refs/heads/develop

# Past its time limit.
start=$(date +%s)
out=$("$FG" --repo "$R" deploy sit "$c1" 2>&1); rc=$?
took=$(( $(date +%s) - start ))
is "a deployment past its time limit exits 1" "$rc" 1
like "it was killed after 1s" "$out" "^deploy sit: $s1 failed in [0-9]+s: killed after 1s"
ok "within the limit and the kill grace" test "$took" -lt 8
like "its output up to then is kept" "$(git --git-dir="$R" show refs/flowgate/envs/sit:log)" "^starting$"

# Hostile names stay inert values.
git rm -q MODE && git commit -q -m "fix it"
hostile='feat/$(touch${IFS}pwned-ref);`touch${IFS}pwned-tick`|&'
git branch "$hostile" && git push -q origin "$hostile" 2>/dev/null
c3=$(git rev-parse HEAD)
actor='$(touch pwned-actor);rm -rf ~ "quoted" `id`'
out=$(cd "$T" && FLOWGATE_USER=$actor "$FG" --repo "$R" deploy qa "$hostile" 2>&1)
is "deploying a hostile branch works" "$?" 0
is "FLOWGATE_REF arrives byte for byte" "$(cat "$OUT/REF")" "refs/heads/$hostile"
is "FLOWGATE_ACTOR arrives byte for byte" "$(cat "$OUT/ACTOR")" "$actor"
ok "nothing was executed" test -z "$(find "$T" "$HOME" -name 'pwned*' 2>/dev/null)"
is "the record's author is the actor" "$(git --git-dir="$R" log -1 --format=%an refs/flowgate/envs/qa)" "$actor"

# Two deployments racing for one environment.
echo slow > MODE
git add MODE && git commit -q -m "slow one" && git push -q origin HEAD:develop 2>/dev/null
c4=$(git rev-parse HEAD); s4=$(echo "$c4" | cut -c1-7)
"$FG" --repo "$R" deploy qa > "$T/slow.out" 2>&1 &
slow_pid=$!
i=0
while [ $i -lt 100 ]; do
	[ "$(git --git-dir="$R" show refs/flowgate/envs/qa:deployment.json 2>/dev/null | jq -r .status)" = started ] && break
	sleep 0.05; i=$((i + 1))
done
out=$(FLOWGATE_USER=bob "$FG" --repo "$R" deploy qa "$c1" 2>&1); rc=$?
is "a second deployment is refused at once" "$rc" 1
like "with the reason" "$out" "^flowgate: environment 'qa' is busy: $s4 is being deployed by admin since [0-9T:-]+Z \(run [0-9a-f]+\)$"
out=$(FLOWGATE_USER=carol "$FG" --repo "$R" deploy --wait 30 qa "$c3" 2>&1); rc=$?
is "a waiting deployment runs after it" "$rc" 0
wait $slow_pid
is "the first one succeeded" "$?" 0
is "the history is serialized" \
    "$(git --git-dir="$R" log -4 --format='%an %(trailers:key=Flowgate-Status,valueonly,separator=)' refs/flowgate/envs/qa)" \
    "carol succeeded
carol started
admin succeeded
admin started"

# http: a signed POST.
out=$("$FG" --repo "$R" deploy prod "$c1" 2>&1); rc=$?
is "an http deployment exits 0 on 201" "$rc" 0
like "its outcome line" "$out" "^deploy prod: $s1 succeeded in [0-9]+s$"
req=$(tail -n 1 "$T/ok.log")
is "the receiver got a POST to the path" "$(say "$req" | jq -r '.method + " " + .path')" "POST /deploy/prod?via=flowgate"
is "as JSON" "$(say "$req" | jq -r .content_type)" "application/json"
is "with a valid signature" "$(say "$req" | jq -r .signature_ok)" true
printf '%s' "$(say "$req" | jq -r .body)" > "$T/body"
is "the signature is sha256= and the HMAC of the body" "$(say "$req" | jq -r .signature)" \
    "sha256=$(openssl dgst -sha256 -hmac "$FLOWGATE_DEPLOY_TOKEN" < "$T/body" | sed 's/^.*= //')"
run=$(git --git-dir="$R" show refs/flowgate/envs/prod:deployment.json | jq -r .run)
is "the body holds the facts" "$(jq -c . "$T/body")" \
    "{\"commit\":\"$c1\",\"env\":\"prod\",\"stage\":\"production\",\"ref\":\"\",\"actor\":\"admin\",\"run\":\"$run\"}"
is "X-Flowgate-Run is the run" "$(say "$req" | jq -r .run)" "$run"
like "the log has the answer" "$(git --git-dir="$R" show refs/flowgate/envs/prod:log)" "^POST: HTTP 201
\{\"deploy\":\"queued\"\}"

config "$PORT_bad" "$PORT_poll"
out=$("$FG" --repo "$R" deploy prod "$c1" 2>&1); rc=$?
is "an endpoint answering 502 fails" "$rc" 1
like "and says so" "$out" "^deploy prod: $s1 failed in [0-9]+s: HTTP 502$"
like "with its answer in the log" "$out" "  \| upstream down"
config "$PORT_other" "$PORT_poll"
out=$("$FG" --repo "$R" deploy prod "$c1" 2>&1); rc=$?
is "a receiver with another secret refuses the signature" "$rc" 1
like "HTTP 401" "$out" "failed in [0-9]+s: HTTP 401$"
is "it saw a bad signature" "$(tail -n 1 "$T/other.log" | jq -r .signature_ok)" false

out=$("$FG" --repo "$R" deploy demo "$c1" 2>&1); rc=$?
is "without a secret the POST goes unsigned" "$rc $(tail -n 1 "$T/plain.log" | jq -c '[.method, .path, .signature]')" \
    '0 ["POST","/demo",null]'

# http with polling.
out=$("$FG" --repo "$R" deploy uat "$c1" 2>&1); rc=$?
is "a polled deployment succeeds once the status says so" "$rc" 0
is "the receiver saw a POST then three polls" "$(jq -r .method "$T/poll.log" | tr '\n' ' ')" "POST GET GET GET "
is "polls are GETs of the status URL, signed over the run" \
    "$(jq -r 'select(.method == "GET") | .path + " " + (.signature_ok | tostring)' "$T/poll.log" | sort -u)" \
    "/status/uat?x=1 true"
like "the log has the final status" "$(git --git-dir="$R" show refs/flowgate/envs/uat:log)" '"status":"succeeded"'
config "$PORT_ok" "$PORT_polfail"
out=$("$FG" --repo "$R" deploy uat "$c1" 2>&1); rc=$?
is "a status URL saying failed fails it" "$rc" 1
like "and says so" "$out" "failed in [0-9]+s: the status url says failed$"

# The history a person reads.
hist=$(git --git-dir="$R" log --format=%s refs/flowgate/envs/qa)
like "git log shows each attempt's start" "$hist" "^deploy qa: $s1 started by admin$"
like "and its end" "$hist" "^deploy qa: $s2 failed in 0s: exit 3$"
is "two records per attempt" "$(git --git-dir="$R" rev-list --count refs/flowgate/envs/qa)" 14
ok "every record is a kind deploy" test "$(git --git-dir="$R" log --format='%(trailers:key=Flowgate-Kind,valueonly,separator=)' refs/flowgate/envs/qa | sort -u)" = deploy
ok "fsck is clean" git --git-dir="$R" fsck --no-progress

# pipeline show.
out=$("$FG" --repo "$R" pipeline show); rc=$?
is "pipeline show exits 0" "$rc" 0
like "it lists qa's deployment" "$out" "^qa +succeeded +$(echo "$c3" | cut -c1-7) +[0-9-]+ [0-9:]+Z +carol +fix it$"
like "and uat's failure" "$out" "^uat +failed +$s1 "
j=$("$FG" --repo "$R" pipeline show --json)
is "--json has each environment's deployment" \
    "$(say "$j" | jq -c '[.environments[] | [.name, .deployment.status]]')" \
    '[["qa","succeeded"],["sit","failed"],["uat","failed"],["prod","failed"],["demo","succeeded"]]'
is "with the commit's subject" "$(say "$j" | jq -r '.environments[0].deployment.subject')" "fix it"

# pipeline reset.
before=$(git --git-dir="$R" rev-list --count refs/flowgate/envs/qa)
out=$(FLOWGATE_USER=mallory "$FG" --repo "$R" pipeline reset 2>&1); rc=$?
is "a non-admin may not reset" "$rc" 1
like "and is told" "$out" "only admins may reset the pipeline, and 'mallory' is not one"
out=$("$FG" --repo "$R" pipeline reset); rc=$?
is "an admin resets" "$rc" 0
is "it says what it did" "$out" "pipeline reset by admin: 5 environments emptied"
out=$("$FG" --repo "$R" pipeline show)
like "show says never deployed" "$out" "^qa +never deployed$"
is "--json says null" "$("$FG" --repo "$R" pipeline show --json | jq -c '[.environments[].deployment]')" \
    '[null,null,null,null,null]'
is "history stays: one commit more" "$(git --git-dir="$R" rev-list --count refs/flowgate/envs/qa)" $((before + 1))
is "the reset is the tip" "$(git --git-dir="$R" log -1 --format='%s|%(trailers:key=Flowgate-Status,valueonly,separator=)' refs/flowgate/envs/qa)" \
    "deploy qa: reset by admin|reset"
like "the activity log says who reset" "$(git --git-dir="$R" log -1 --format='%s|%an' refs/flowgate/activity)" \
    "^pipeline reset by admin: 5 environments emptied\|admin$"
out=$("$FG" --repo "$R" deploy qa "$c1"); rc=$?
is "deploying after a reset works" "$rc" 0
like "pipeline show has it again" "$("$FG" --repo "$R" pipeline show)" "^qa +succeeded +$s1 "

# The REST API, on a copy of the repository served by the real daemon.
. "$TOP/tests/integration/whd.sh"
ROOT=$T/root
mkdir -p "$ROOT/acme"
git clone -q --mirror "$R" "$ROOT/acme/app.git"
APP=$ROOT/acme/app.git
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY
READ=$(echo "read-token-1" | "$FG_WHD" --hash-token)
OPER=$(echo "operate-token-2" | "$FG_WHD" --hash-token)
cat > "$T/whd.yaml" <<YAML
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
tokens:
  - {name: reader, hash: '$READ', role: read}
  - {name: ci, hash: '$OPER', role: operate}
YAML
whd_start --config "$T/whd.yaml" || done_testing
A=/api/v1/repos/acme/app
get() {
	_c=$(curl -s -o "$T/.body" -w '%{http_code}' -H "Authorization: Bearer $2" "$URL$1")
	printf '%s %s\n' "$_c" "$(cat "$T/.body")"
}
# send PATH TOKEN [BODY]
send() {
	printf '%s' "${3:-}" > "$T/.req"
	post "$1" "$T/.req" -H "Authorization: Bearer $2"
}
# wait_env ENV STATUS: until GET envs/ENV says STATUS (30 s at most).
wait_env() {
	_i=0
	while [ $_i -lt 300 ]; do
		[ "$(get "$A/envs/$1" read-token-1 | cut -d' ' -f2- | jq -r '.deployment.status')" = "$2" ] && return 0
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}

r=$(get "$A/envs/qa" read-token-1)
is "GET envs/qa: the current deployment" "$(say "${r#* }" | jq -c '[.env, .deployment.status, .deployment.commit]')" \
    "[\"qa\",\"succeeded\",\"$c1\"]"
r=$(get "$A/envs/nope" read-token-1)
is "an unknown environment is 404" "$r" "404 {\"error\":\"unknown environment 'nope'\"}"
r=$(send "$A/envs/qa/deploy" read-token-1 '{}')
is "a read token may not deploy: 403" "$r" \
    "403 {\"error\":\"token 'reader' may only read: deploying needs the operate role\"}"
r=$(get "$A/envs/qa/deploy" operate-token-2)
like "GET on deploy is 405" "$r" '^405 '
r=$(send "$A/envs/qa/deploy" operate-token-2 '{"commit":5}')
like "a body against the schema is 400" "$r" '^400 \{"error":"body: commit: must be a commit id, tag or branch name"\}$'
r=$(send "$A/envs/qa/deploy" operate-token-2 '{"wait":99999}')
like "a wait over the limit is 400" "$r" '^400 \{"error":"body: wait: must be at most 3600"\}$'
r=$(send "$A/envs/qa/deploy" operate-token-2 '{"commit":"no-such"}')
is "an unknown commit is 404" "$r" "404 {\"error\":\"unknown commit 'no-such'\"}"
r=$(send "$A/envs/nope/deploy" operate-token-2 '')
is "deploying an unknown environment is 404" "$r" "404 {\"error\":\"unknown environment 'nope'\"}"
r=$(send "$A/envs/..%2Fx/deploy" operate-token-2 '')
is "a hostile environment name is 404" "$r" '404 {"error":"no such route"}'

r=$(send "$A/envs/qa/deploy" operate-token-2 "{\"commit\":\"$c2\"}")
like "an accepted deployment is 202" "$r" "^202 \{\"status\":\"accepted\",\"env\":\"qa\",\"commit\":\"$c2\",\"run\":\"[0-9a-f]{16}\"\}$"
run=$(say "${r#* }" | jq -r .run)
ok "it ends, failed, and GET envs/qa says so" wait_env qa failed
r=$(get "$A/envs/qa" read-token-1)
is "with its run, actor and reason" "$(say "${r#* }" | jq -c '[.deployment.run, .deployment.actor, .deployment.reason]')" \
    "[\"$run\",\"ci\",\"exit 3\"]"
is "the token is the record's author" "$(git --git-dir="$APP" log -1 --format=%an refs/flowgate/envs/qa)" ci

r=$(send "$A/envs/qa/deploy" operate-token-2 '')
like "no commit: the stage branch's tip" "$r" "^202 .*\"commit\":\"$c4\""
ok "it is running" wait_env qa started
r=$(send "$A/envs/qa/deploy" operate-token-2 "{\"commit\":\"$c1\"}")
like "a second one while it runs is 409 with the reason" "$r" \
    "^409 \{\"error\":\"environment 'qa' is busy: $s4 is being deployed by ci since "
r=$(send "$A/envs/qa/deploy" operate-token-2 "{\"commit\":\"$c1\",\"wait\":30}")
like "with wait it is accepted" "$r" '^202 '
i=0
while [ $i -lt 300 ] && [ "$(git --git-dir="$APP" log -1 --format='%(trailers:key=Flowgate-Commit,valueonly,separator=) %(trailers:key=Flowgate-Status,valueonly,separator=)' refs/flowgate/envs/qa)" != "$c1 succeeded" ]; do
	sleep 0.1; i=$((i + 1))
done
is "both ran, one after the other" \
    "$(git --git-dir="$APP" log -4 --format='%(trailers:key=Flowgate-Commit,valueonly,separator=) %(trailers:key=Flowgate-Status,valueonly,separator=)' refs/flowgate/envs/qa)" \
    "$c1 succeeded
$c1 started
$c4 succeeded
$c4 started"
# Its thread unlocks qa after the note, the last thing it writes.
i=0
while [ $i -lt 300 ] && [ "$(git --git-dir="$APP" notes --ref=flowgate show "$c1" 2>/dev/null | jq -r .deployments.qa.record)" != \
    "$(git --git-dir="$APP" rev-parse refs/flowgate/envs/qa)" ]; do
	sleep 0.1; i=$((i + 1))
done
r=$(get "$A/pipeline" read-token-1)
is "GET pipeline lists the deployments" "$(say "${r#* }" | jq -c '[.environments[] | [.name, .deployment.status]]')" \
    '[["qa","succeeded"],["sit",null],["uat",null],["prod",null],["demo",null]]'

r=$(send "$A/pipeline/reset" read-token-1 '')
like "a read token may not reset: 403" "$r" '^403 '
r=$(send "$A/pipeline/reset" operate-token-2 '{"now":true}')
like "reset takes no fields" "$r" '^400 '
r=$(send "$A/pipeline/reset" operate-token-2 '')
is "an operate token resets" "$r" '200 {"status":"reset","environments":1}'
r=$(get "$A/envs/qa" read-token-1)
is "then envs/qa has no deployment" "$r" '200 {"env":"qa","deployment":null}'
is "the activity log names the token" "$(git --git-dir="$APP" log -1 --format=%s refs/flowgate/activity)" \
    "pipeline reset by ci: 1 environment emptied"

# A stopping daemon lets a running deployment end first.
r=$(send "$A/envs/qa/deploy" operate-token-2 "{\"commit\":\"$c4\"}")
like "a slow deployment is accepted" "$r" '^202 '
ok "it is running" wait_env qa started
whd_stop
is "SIGTERM during a deployment exits 0" "$WHD_RC" 0
is "after it ended" "$(git --git-dir="$APP" show refs/flowgate/envs/qa:deployment.json | jq -r '.status + " " + .commit')" \
    "succeeded $c4"
like "the daemon said it waited" "$(cat "$T/whd.log")" "event=stopping deployments=1"

# A deployment whose process dies is marked interrupted when the daemon
# starts again.
FLOWGATE_USER=doomed "$FG" --repo "$APP" deploy qa "$c4" >/dev/null 2>&1 &
doomed=$!
i=0
while [ $i -lt 100 ]; do
	[ "$(git --git-dir="$APP" show refs/flowgate/envs/qa:deployment.json 2>/dev/null | jq -r .status)" = started ] && break
	sleep 0.05; i=$((i + 1))
done
kill -9 $doomed; wait $doomed 2>/dev/null
is "killed mid-deployment, the tip says started" \
    "$(git --git-dir="$APP" show refs/flowgate/envs/qa:deployment.json | jq -r .status)" started
whd_start --config "$T/whd.yaml" || done_testing
r=$(get "$A/envs/qa" read-token-1)
is "after a restart it is interrupted" "$(say "${r#* }" | jq -c '[.deployment.status, .deployment.actor, .deployment.commit]')" \
    "[\"interrupted\",\"doomed\",\"$c4\"]"
like "git log says so" "$(git --git-dir="$APP" log -1 --format=%s refs/flowgate/envs/qa)" \
    "^deploy qa: $s4 interrupted \(started by doomed\): "
unlike "the log holds no token" "$(cat "$T/whd.log")" "read-token-1|operate-token-2|$FLOWGATE_DEPLOY_TOKEN"
whd_stop
is "SIGTERM exits 0" "$WHD_RC" 0

done_testing
