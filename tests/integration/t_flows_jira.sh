#!/bin/sh
# t_flows_jira.sh - the corpus' Jira transition payload, delivered signed,
# triggers the flow whose jira trigger it matches (and not the one whose
# status it does not); its steps tell Slack and comment on and transition
# the issue in Jira, local receivers checking method, path and body; a
# transition named rather than numbered is looked up among the issue's
# transitions (GET, then a POST of the id found; the receiver as Jira
# checking method, path, authorization and body), by its name or by the
# status it leads to, and a name the issue does not have fails the step
# with the reason; a slack webhook whose secret is missing fails the
# step, not the daemon.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

RECEIVER=$TOP/tests/tools/receiver
ROOT=$T/repos
R=$ROOT/Codertocat/Hello-World.git
mkdir -p "$ROOT/Codertocat"
"$FG" init --template release "$R" >/dev/null 2>&1
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY FLOWGATE_USER=admin

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
receiver slack --status 200 --body ok
receiver jira --status 201 --body '{"id":"10001"}'
# Jira Server/Data Center: the issue's transitions, as GET
# /rest/api/2/issue/{key}/transitions lists them.
TRANSITIONS='{"expand":"transitions","transitions":[
 {"id":"11","name":"To Do","to":{"name":"To Do","id":"10000"}},
 {"id":"21","name":"Start Progress","to":{"name":"In Progress","id":"3"}},
 {"id":"41","name":"Resolve","to":{"name":"Done","id":"10001"}}]}'
receiver jira2 --status 204 --body '' --get-body "$TRANSITIONS"
export JIRA_PAT="pat-token-1"
export SLACK_URL="http://127.0.0.1:$PORT_slack/services/T000/B000/XXXX"
export JIRA_TOKEN="bot@example.com:jira-api-token"

cp "$TOP/templates/release.yaml" "$T/pipeline.yaml"
cat >> "$T/pipeline.yaml" <<EOF
secrets:
  team: {env: SLACK_URL}
  jira_token: {env: JIRA_TOKEN}
  jira_pat: {env: JIRA_PAT}
  nowhere: {env: FLOWGATE_NO_SUCH_VARIABLE}
EOF
cat > "$T/flows.yaml" <<EOF
version: 1
flows:
  started:
    description: work on an issue started
    trigger: {jira: {project: TES, from: To Do, to: In Progress}}
    steps:
      - id: tell
        slack: {webhook: team, text: "\${{ run.jira_key }} is \${{ run.jira_to }} (was \${{ run.jira_from }})"}
      - id: note
        needs: [tell]
        jira:
          url: "http://127.0.0.1:$PORT_jira/"
          secret: jira_token
          comment: "flowgate saw \${{ run.jira_key }} start"
          transition: "31"
      - id: start
        needs: [note]
        jira:
          url: "http://127.0.0.1:$PORT_jira2"
          secret: jira_token
          transition: start progress
      - id: resolve
        needs: [start]
        jira: {url: "http://127.0.0.1:$PORT_jira2/", secret: jira_pat, transition: Done}
      - id: nosuch
        needs: [resolve]
        continue-on-error: true
        jira: {url: "http://127.0.0.1:$PORT_jira2", secret: jira_pat, transition: Reopen}
      - id: lost
        needs: [nosuch]
        continue-on-error: true
        slack: {webhook: nowhere, text: "never sent"}
  finished:
    trigger: {jira: {to: Done}}
    steps:
      - id: never
        slack: {webhook: team, text: "done"}
EOF
"$FG" --repo "$R" config apply "$T/pipeline.yaml" --flows "$T/flows.yaml" >/dev/null
is "the config applies" "$?" 0
cat > "$T/whd.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
EOF
whd_start --config "$T/whd.yaml" || done_testing

wait_run() {
	_i=0
	while [ $_i -lt 300 ]; do
		case "$(runs "$1" | head -1)" in
		"flow $1: run "*" succeeded"|"flow $1: run "*" failed") return 0 ;;
		esac
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}

F=$CORPUS/jira/jira_issue_updated.status-todo-to-inprogress.json
r=$(post "/hooks/jira?repo=Codertocat/Hello-World" "$F" \
    -H "X-Atlassian-Webhook-Identifier: jira-77" \
    -H "X-Hub-Signature: sha256=$(sign "$WHD_KEY" "$F")")
like "the Jira delivery is accepted" "$r" '^202 '
ok "the flow runs" wait_run started
is "it succeeded: the lost message does not fail it" "$(runs started | head -1)" "flow started: run jira-77 succeeded"
is "Slack got one POST to the webhook's path" "$(jq -r '.method + " " + .path' "$T/slack.log")" \
    "POST /services/T000/B000/XXXX"
is "with the text, values in place" "$(jq -r '.body | fromjson | .text' "$T/slack.log")" \
    "TES-41 is In Progress (was To Do)"
is "Jira got a comment, then a transition" "$(jq -r '.method + " " + .path' "$T/jira.log" | tr '\n' '/')" \
    "POST /rest/api/2/issue/TES-41/comment/POST /rest/api/2/issue/TES-41/transitions/"
is "the comment's body" "$(head -1 "$T/jira.log" | jq -r '.body | fromjson | .body')" "flowgate saw TES-41 start"
is "the transition's body" "$(tail -1 "$T/jira.log" | jq -c '.body | fromjson')" '{"transition":{"id":"31"}}'
is "Jira (by name) got, for each named transition, a GET of the issue's transitions, then a POST of the id" \
    "$(jq -r '.method + " " + .path' "$T/jira2.log" | tr '\n' '/')" \
    "GET /rest/api/2/issue/TES-41/transitions/POST /rest/api/2/issue/TES-41/transitions/GET /rest/api/2/issue/TES-41/transitions/POST /rest/api/2/issue/TES-41/transitions/GET /rest/api/2/issue/TES-41/transitions/"
is "'start progress' is the transition named so (any case): id 21" \
    "$(sed -n 2p "$T/jira2.log" | jq -c '.body | fromjson')" '{"transition":{"id":"21"}}'
is "'Done' is the transition leading to the status Done: id 41" \
    "$(sed -n 4p "$T/jira2.log" | jq -c '.body | fromjson')" '{"transition":{"id":"41"}}'
is "the GET has no body" "$(sed -n 1p "$T/jira2.log" | jq -r '.body')" ""
is "the POST says it is JSON" "$(sed -n 2p "$T/jira2.log" | jq -r '.content_type')" "application/json"
is "email:token is basic authentication, on the GET and the POST" \
    "$(sed -n 1,2p "$T/jira2.log" | jq -r '.authorization' | sort -u)" \
    "Basic $(printf '%s' 'bot@example.com:jira-api-token' | base64)"
is "a token alone is a bearer token" \
    "$(sed -n 3,5p "$T/jira2.log" | jq -r '.authorization' | sort -u)" "Bearer pat-token-1"
like "the steps record what they did" "$(git --git-dir="$R" log --format=%B refs/flowgate/runs/started)" \
    "jira TES-41 transition 'start progress': done"
like "a transition the issue does not have fails its step with the reason" "$(runs started)" \
    "flow started: step nosuch failed: 1 of 1 jira calls failed"
like "whose log names it" "$(git --git-dir="$R" log --format=%B refs/flowgate/runs/started)" \
    "jira TES-41 transition 'Reopen': jira TES-41 has no transition 'Reopen'"
like "the missing secret fails its step with the reason" "$(runs started)" \
    "flow started: step lost failed: secret 'nowhere': environment variable 'FLOWGATE_NO_SUCH_VARIABLE' is not set or empty"
unlike "no secret in the records" "$(git --git-dir="$R" log -p refs/flowgate/runs/started)" "jira-api-token|XXXX|pat-token"
is "the flow for another status did not fire" "$(runs finished)" ""

whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
done_testing
