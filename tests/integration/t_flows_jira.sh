#!/bin/sh
# t_flows_jira.sh - the corpus' Jira transition payload, delivered signed,
# triggers the flow whose jira trigger it matches (and not the one whose
# status it does not); its steps tell Slack and comment on and transition
# the issue in Jira, local receivers checking method, path and body; a
# slack webhook whose secret is missing fails the step, not the daemon.
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
export SLACK_URL="http://127.0.0.1:$PORT_slack/services/T000/B000/XXXX"
export JIRA_TOKEN="bot@example.com:jira-api-token"

cp "$TOP/templates/release.yaml" "$T/pipeline.yaml"
cat >> "$T/pipeline.yaml" <<EOF
secrets:
  team: {env: SLACK_URL}
  jira_token: {env: JIRA_TOKEN}
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
      - id: lost
        needs: [note]
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

runs() {
	git --git-dir="$R" log --format='%s' "refs/flowgate/runs/$1" 2>/dev/null
}
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
like "the missing secret fails its step with the reason" "$(runs started)" \
    "flow started: step lost failed: secret 'nowhere': environment variable 'FLOWGATE_NO_SUCH_VARIABLE' is not set or empty"
unlike "no secret in the records" "$(git --git-dir="$R" log -p refs/flowgate/runs/started)" "jira-api-token|XXXX"
is "the flow for another status did not fire" "$(runs finished)" ""

whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
done_testing
