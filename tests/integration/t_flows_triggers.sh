#!/bin/sh
# t_flows_triggers.sh - promotion and deployment flows fire for what the
# daemon itself does: a promotion asked through the API, a deployment
# asked through the API, and a promotion made by another flow's promote
# step (and the deployment it makes) each start the flows whose trigger
# they match (the daemon marks the
# repository for a look at its activity at once; the poll is only the
# fallback for the CLI), and a promotion into another stage starts none.
# Each flow's step writes what it saw, so the test asserts the runs, not
# their timing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
R=$ROOT/acme/app.git
mkdir -p "$ROOT/acme"
"$FG" init --template release "$R" >/dev/null 2>&1
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY FLOWGATE_USER=admin
SEEN=$T/seen

cat > "$T/note" <<EOF
#!/bin/sh
printf '%s|%s|%s\n' "\$FLOWGATE_FLOW" "\$1" "\$2" >> "$SEEN"
EOF
chmod +x "$T/note"
# The release template with staging's gates off (this test is about
# triggers, not gates).
cat > "$T/pipeline.yaml" <<EOF
version: 1
template: release
admins: [admin]
stages:
  developer: {pool: sandboxes}
  integration: {branch: develop, environments: [qa]}
  staging: {branch: staging, environments: [uat]}
  production: {branch: main, environments: [prod], gates: [{approvals: 1}]}
  hotfix: {branch: hotfix, environments: [prod]}
environments:
  qa:   {deploy: {command: [echo, deployed to qa]}}
  uat:  {deploy: {command: [echo, deployed to uat]}}
  prod: {deploy: {command: [echo, deployed to prod]}}
pools:
  sandboxes: {environments: [sb-1], deploy: {command: [echo, sandbox]}}
EOF
cat > "$T/flows.yaml" <<EOF
version: 1
flows:
  after-integration:
    description: every promotion into integration that succeeded
    trigger: {promotion: {stage: integration, result: [succeeded]}}
    steps:
      - id: note
        run: {command: [$T/note, "\${{ run.stage }}", "\${{ run.commit }}"]}
  after-staging:
    description: every promotion into staging that succeeded
    trigger: {promotion: {stage: staging, result: [succeeded]}}
    steps:
      - id: note
        run: {command: [$T/note, "\${{ run.stage }}", "\${{ run.commit }}"]}
  after-uat:
    description: every deployment to uat that succeeded
    trigger: {deployment: {env: uat, status: [succeeded]}}
    steps:
      - id: note
        run: {command: [$T/note, "\${{ run.env }}", "\${{ run.commit }}"]}
  ship:
    description: a person promotes develop's tip into staging by hand
    trigger: {manual: {}}
    steps:
      - id: promote
        promote: {change: staging-candidate, to: staging}
EOF
"$FG" --repo "$R" config apply "$T/pipeline.yaml" --flows "$T/flows.yaml" >/dev/null
is "the config applies" "$?" 0

W=$T/w
git init -q "$W"
(cd "$W" && echo one > a.txt && git add a.txt && git commit -qm "first")
C1=$(git -C "$W" rev-parse HEAD)
(cd "$W" && echo two >> a.txt && git commit -qam "the change")
C2=$(git -C "$W" rev-parse HEAD)
git --git-dir="$R" fetch -q "$W" "$C1:refs/heads/develop" "$C1:refs/heads/staging" \
    "$C2:refs/heads/feature" "$C2:refs/heads/staging-candidate"

OPER=$(echo "operate-token-2" | "$FG_WHD" --hash-token)
cat > "$T/whd.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
tokens:
  - {name: ci, hash: '$OPER', role: operate}
EOF
whd_start --config "$T/whd.yaml" || done_testing
A=/api/v1/repos/acme/app
send() {
	printf '%s' "$2" > "$T/body.json"
	post "$1" "$T/body.json" -H "Authorization: Bearer operate-token-2"
}

# A promotion through the API.
r=$(send "$A/promote" '{"change":"feature","to":"integration"}')
like "the API accepts the promotion" "$r" '^202 '
ok "the promotion flow for integration ran" wait_runs after-integration 1
is "it succeeded" "$(runs after-integration | head -1 | sed 's/ run a-[0-9a-f]* / run A /')" \
    "flow after-integration: run A succeeded"
is "its step saw the stage and the commit" "$(grep '^after-integration|' "$SEEN")" \
    "after-integration|integration|$C2"
is "develop (integration) moved" "$(git --git-dir="$R" rev-parse develop)" "$C2"

# A deployment through the API.
r=$(send "$A/envs/uat/deploy" "{\"commit\":\"$C1\"}")
like "the API accepts the deployment" "$r" '^202 '
ok "the deployment flow for uat ran" wait_runs after-uat 1
is "its step saw the environment and the commit" "$(grep '^after-uat|' "$SEEN" | head -1)" "after-uat|uat|$C1"

# A promotion made by a flow's promote step starts the staging flow.
r=$(send "$A/flows/ship/run" '{}')
like "the API accepts the manual run" "$r" '^202 '
ok "the manual flow ran" wait_runs ship 1
is "its promotion succeeded" "$(runs ship | head -1 | sed 's/ run [^ ]* / run X /')" "flow ship: run X succeeded"
ok "the promotion flow for staging ran" wait_runs after-staging 1
is "its step saw staging and the commit" "$(grep '^after-staging|' "$SEEN")" "after-staging|staging|$C2"

# The promotion into staging deployed uat: a deployment made by a flow.
ok "the deployment flow ran for it too" wait_runs after-uat 2
is "with the promoted commit" "$(grep '^after-uat|' "$SEEN" | sed -n 2p)" "after-uat|uat|$C2"
is "each flow ran once per record it matches, none for a stage it does not watch" \
    "$(cut -d'|' -f1 "$SEEN" | sort | tr '\n' ' ')" "after-integration after-staging after-uat after-uat "

whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
done_testing
