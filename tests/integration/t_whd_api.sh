#!/bin/sh
# t_whd_api.sh - the REST API: bearer tokens and roles, the pipeline,
# activity, pull requests and deployments read back, a status posted
# through the inbox into the commit's note.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
APP=$ROOT/Codertocat/Hello-World.git
mkdir -p "$ROOT/Codertocat"
"$FG" init --template release "$APP" >/dev/null 2>&1
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY
READ=$(echo "read-token-1" | "$FG_WHD" --hash-token)
OPER=$(echo "operate-token-2" | "$FG_WHD" --hash-token)
like "--hash-token prints a sha256 hash" "$READ" "^sha256:[0-9a-f]{64}$"
cat > "$T/whd.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
tokens:
  - {name: reader, hash: '$READ', role: read}
  - {name: ci, hash: '$OPER', role: operate}
EOF
whd_start --config "$T/whd.yaml" || done_testing
A=/api/v1/repos/Codertocat/Hello-World

# get PATH TOKEN: "CODE BODY"
get() {
	_c=$(curl -s -o "$T/.body" -w '%{http_code}' ${2:+-H "Authorization: Bearer $2"} "$URL$1")
	echo "$_c $(cat "$T/.body")"
}
# send PATH TOKEN FILE
send() {
	post "$1" "$3" ${2:+-H "Authorization: Bearer $2"}
}

r=$(get "$A/pipeline")
is "no token is 401" "$r" '401 {"error":"missing bearer token"}'
r=$(get "$A/pipeline" wrong)
is "an unknown token is 401" "$r" '401 {"error":"unknown token"}'
r=$(get "/api/v1/repos/nobody/nothing/pipeline" wrong)
is "401 comes before 404" "$r" '401 {"error":"unknown token"}'
r=$(get "$A/pipeline" read-token-1)
like "a read token reads the pipeline" "$r" '^200 \{"repo":"Codertocat/Hello-World","template":"release","stages":\[\{"name":"developer"'
like "with the stages in order" "$r" '"name":"production","branch":"main","environments":\["prod"\]'
r=$(get "/api/v1/repos/nobody/nothing/pipeline" read-token-1)
is "an unknown repository is 404" "$r" "404 {\"error\":\"unknown repository 'nobody/nothing'\"}"
r=$(get "$A/frobnicate" read-token-1)
is "an unknown route is 404" "$r" '404 {"error":"no such route"}'
r=$(send "$A/pipeline" read-token-1 /dev/null)
like "POST on a GET route is 405" "$r" '^405 '

# Statuses.
W=$T/work
git clone -q "$APP" "$W" 2>/dev/null
(cd "$W" && git commit -q --allow-empty -m one && git push -q origin HEAD:develop 2>/dev/null)
sha=$(git --git-dir="$APP" rev-parse develop)
printf '{"sha":"%s","context":"ci/build","state":"success","description":"built","url":"https://ci.example/1"}' "$sha" > "$T/st.json"
r=$(send "$A/statuses" read-token-1 "$T/st.json")
is "a read token may not post a status: 403" "$r" \
    "403 {\"error\":\"token 'reader' may only read: posting a status needs the operate role\"}"
printf '{"sha":"%s","context":"ci/build","state":"great"}' "$sha" > "$T/bad.json"
r=$(send "$A/statuses" operate-token-2 "$T/bad.json")
like "a body against the schema is 400" "$r" '^400 \{"error":"body:.*state: must be one of'
printf '{"sha":"%s"' "$sha" > "$T/trunc.json"
r=$(send "$A/statuses" operate-token-2 "$T/trunc.json")
like "truncated JSON is 400" "$r" '^400 '
r=$(send "$A/statuses" operate-token-2 "$T/st.json")
like "an operate token posts a status: 202" "$r" '^202 \{"status":"accepted","id":"api-'
ok "processed" wait_processed "$APP"
note=$(git --git-dir="$APP" notes --ref=flowgate show "$sha")
is "the status is the commit's note" \
    "$(echo "$note" | jq -c '.statuses["ci/build"] | [.state, .description, .url, .actor]')" \
    '["success","built","https://ci.example/1","ci"]'

# Activity and pull requests.
r=$(gh pull_request "$CORPUS/github/pull_request.opened.json" pr-1)
like "a pull request delivery" "$r" "^202 "
ok "processed" wait_processed "$APP"
r=$(get "$A/activity?limit=1" read-token-1)
like "activity, newest first, limited" "$r" '^200 \[\{"id":"[0-9a-f]{40}",.*"event":"pr_opened".*\}\]$'
is "limit=1 gives one" "$(echo "${r#* }" | jq length)" 1
r=$(get "$A/activity?event=status" read-token-1)
is "activity filtered by event" "$(echo "${r#* }" | jq -r '.[].subject')" \
    "cli status: $(echo "$sha" | cut -c1-7) ci/build success"
r=$(get "$A/activity?limit=0" read-token-1)
like "a bad limit is 400" "$r" '^400 '
r=$(get "$A/pulls/2" read-token-1)
like "a pull request's state" "$r" '^200 \{.*"number":2,'
is "its head" "$(echo "${r#* }" | jq -r .head.sha)" \
    "$(jq -r .pull_request.head.sha "$CORPUS/github/pull_request.opened.json")"
r=$(get "$A/pulls/999" read-token-1)
is "an unknown pull request is 404" "$r" '404 {"error":"no such pull request"}'
r=$(get "$A/pulls/x" read-token-1)
is "a pull request number must be a number" "$r" '404 {"error":"no such route"}'
r=$(get "$A/envs/prod/deployments" read-token-1)
is "no deployments yet" "$r" '200 []'
r=$(get "$A/envs/..%2F..%2Fconfig/deployments" read-token-1)
is "a hostile environment name is 404" "$r" '404 {"error":"no such route"}'

unlike "the log holds no token" "$(cat "$T/whd.log")" "read-token-1|operate-token-2"
like "the log names the token" "$(cat "$T/whd.log")" '"token":"ci"'

whd_stop
is "SIGTERM exits 0" "$WHD_RC" 0
done_testing
