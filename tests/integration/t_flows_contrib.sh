#!/bin/sh
# t_flows_contrib.sh - the example flows in contrib/flows/: each is a valid
# flows.yaml whose flows are inactive as shipped; activated, 'Slack on
# deployment' tells a local Slack stand-in about a deployment made with
# the CLI, and 'update Jira on promotion' comments on and transitions the
# issue a CLI promotion brought, in a local Jira stand-in.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

RECEIVER=$TOP/tests/tools/receiver
EX=$TOP/contrib/flows
ROOT=$T/repos
R=$ROOT/acme/app.git
mkdir -p "$ROOT/acme"
"$FG" init --template release "$R" >/dev/null 2>&1
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY FLOWGATE_USER=admin

n=0
for f in "$EX"/*.flows.yaml; do
	n=$((n + 1))
	name=$(basename "$f" .flows.yaml)
	out=$("$FG" config check "$f" 2>&1)
	is "$name: a valid flows.yaml" "$out" "$f: ok"
	"$FG" --repo "$R" config apply "$TOP/templates/release.yaml" --flows "$f" >/dev/null 2>&1
	is "$name: applies" "$?" 0
	is "$name: inactive as shipped" "$("$FG" --repo "$R" flow list --all --json | jq -r ".[] | select(.name == \"$name\") | .active")" false
	is "$name: not among the active flows" "$("$FG" --repo "$R" flow list --json | jq -r "[.[] | select(.name == \"$name\")] | length")" 0
done
is "four examples" "$n" 4

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
receiver jira --status 204 --body ''
export FLOWGATE_SLACK_WEBHOOK="http://127.0.0.1:$PORT_slack/services/T1/B1/secret"
export FLOWGATE_JIRA_TOKEN="bot@example.com:token-xyz"

cat > "$T/pipeline.yaml" <<EOF
version: 1
template: release
stages:
  developer: {pool: sandboxes}
  integration: {branch: develop, environments: [qa]}
  staging: {branch: staging, environments: [uat]}
  production: {branch: main, environments: [prod]}
  hotfix: {branch: hotfix, environments: [prod]}
environments:
  qa:   {deploy: {command: ["true"]}}
  uat:  {deploy: {command: ["true"]}}
  prod: {deploy: {command: ["true"]}}
pools:
  sandboxes: {environments: [sb-1], deploy: {command: ["true"]}}
secrets:
  team_channel: {env: FLOWGATE_SLACK_WEBHOOK}
  jira_token: {env: FLOWGATE_JIRA_TOKEN}
EOF
{
	echo "version: 1"
	echo "flows:"
	sed -e '1,/^flows:/d' -e 's/active: false/active: true/' "$EX/slack-on-deployment.flows.yaml"
	sed -e '1,/^flows:/d' -e 's/active: false/active: true/' \
	    -e "s|url: https://example.atlassian.net|url: http://127.0.0.1:$PORT_jira|" \
	    -e 's/transition: In Review/transition: "41"/' "$EX/jira-on-promotion.flows.yaml"
} > "$T/flows.yaml"
"$FG" --repo "$R" config apply "$T/pipeline.yaml" --flows "$T/flows.yaml" >/dev/null
is "the two examples, activated, apply" "$?" 0

W=$T/w
git init -q "$W"
(cd "$W" && echo one > a.txt && git add a.txt && git commit -qm "ABC-1 first")
C1=$(git -C "$W" rev-parse HEAD)
(cd "$W" && echo two >> a.txt && git commit -qam "ABC-2 second, see also XY-9")
C2=$(git -C "$W" rev-parse HEAD)
git --git-dir="$R" fetch -q "$W" "$C1:refs/heads/staging" "$C1:refs/heads/main" "$C2:refs/heads/develop"

cat > "$T/whd.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
EOF
whd_start --config "$T/whd.yaml" || done_testing
sleep 1

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

# A deployment to prod, made with the CLI.
"$FG" --repo "$R" deploy prod "$C1" >/dev/null 2>&1
is "the CLI deploys" "$?" 0
ok "slack-on-deployment runs" wait_run slack-on-deployment
is "it succeeded" "$(runs slack-on-deployment | head -1 | sed 's/run [^ ]* /run X /')" "flow slack-on-deployment: run X succeeded"
is "Slack got the message" "$(jq -r '.body | fromjson | .text' "$T/slack.log")" \
    "Deployment of $C1 to prod succeeded (admin)."
is "once: the deployment's start does not match [succeeded, failed]" "$(wc -l < "$T/slack.log" | tr -d ' ')" 1

# A promotion into staging, made with the CLI.
"$FG" --repo "$R" promote develop --to staging >/dev/null 2>&1
is "the CLI promotes" "$?" 0
ok "jira-on-promotion runs" wait_run jira-on-promotion
is "it succeeded" "$(runs jira-on-promotion | head -1 | sed 's/run [^ ]* /run X /')" "flow jira-on-promotion: run X succeeded"
is "Jira got the promoted commit's issues, not the older one's" \
    "$(jq -r '.method + " " + .path' "$T/jira.log" | tr '\n' '/')" \
    "POST /rest/api/2/issue/ABC-2/comment/POST /rest/api/2/issue/ABC-2/transitions/POST /rest/api/2/issue/XY-9/comment/POST /rest/api/2/issue/XY-9/transitions/"
is "the comment" "$(head -1 "$T/jira.log" | jq -r '.body | fromjson | .body')" \
    "Promoted into staging at $C2 by admin (flowgate)."

whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
done_testing
