#!/bin/sh
# t_flow_cli.sh - 'flowgate flow list|show|activate|deactivate|activity'
# on a real bare repository: the active flows by default and every flow
# with --all; activate/deactivate as config commits that change one line
# of flows.yaml and keep its comments byte for byte (block and flow
# mappings, a flow with and without 'active:'); refusals that write
# nothing; a flow's runs, newest first, from refs/flowgate/runs/<flow>;
# then the same under /api/v1/repos/{owner}/{name}/flows on the daemon.
. "$(dirname "$0")/lib.sh"

say() { printf "%s\n" "$1"; }
R=$T/r.git
"$FG" init --template release "$R" >/dev/null 2>&1 || { echo "init failed"; exit 1; }
export FLOWGATE_USER=alice
git --git-dir="$R" show refs/flowgate/config:pipeline.yaml > "$T/p.yaml"
cat > "$T/f.yaml" <<'EOF'
# Our flows.  This comment, the blank lines and the odd spacing below
# must survive activate and deactivate byte for byte.
version: 1
flows:

  nightly:
    description: build every night   # a trailing comment
    trigger: {schedule: {cron: "0 2 * * *"}}
    steps:
      - id: build
        run: {command: [make]}

  ship:
    active:   false     # off until the release
    trigger: {manual: {}}
    steps:
      - {id: go, run: {command: ['true']}}
  inline: {trigger: {manual: {}}, steps: [{id: a, run: {command: ['true']}}]}
EOF
"$FG" --repo "$R" config apply --flows "$T/f.yaml" "$T/p.yaml" >/dev/null 2>&1
is "the flows apply" "$?" 0
flow() { "$FG" --repo "$R" flow "$@"; }
flows_now() { git --git-dir="$R" show refs/flowgate/config:flows.yaml; }
ncfg() { git --git-dir="$R" rev-list --count refs/flowgate/config; }

# --help and usage.
out=$("$FG" flow --help); is "flow --help exits 0" "$?" 0
like "it prints the usage" "$out" "^usage: flowgate flow list \[--repo DIR\] \[--all\] \[--json\]"
out=$("$FG" flow activity --help); is "flow activity --help exits 0" "$?" 0
like "it explains --limit" "$out" "--limit N"
"$FG" flow >/dev/null 2>&1; is "flow without a subcommand exits 2" "$?" 2
out=$(flow launch x 2>&1); is "an unknown subcommand exits 2" "$?" 2
like "and is named" "$out" "unknown flow subcommand 'launch'"
flow show >/dev/null 2>&1; is "show without NAME exits 2" "$?" 2
flow show --all nightly >/dev/null 2>&1; is "--all outside list exits 2" "$?" 2
flow activity --limit 0 nightly >/dev/null 2>&1; is "--limit 0 exits 2" "$?" 2

# list: active flows only, unless --all.
out=$(flow list); is "flow list exits 0" "$?" 0
like "it lists nightly" "$out" "^nightly +active +schedule +1 step, never run$"
like "and inline" "$out" "^inline +active +manual +1 step, never run$"
unlike "but not the inactive ship" "$out" "^ship"
out=$(flow list --all)
like "--all lists ship as inactive" "$out" "^ship +inactive +manual "
is "--json keeps flows.yaml's order" "$(flow list --all --json | jq -c '[.[] | [.name, .active, .trigger, .steps, .last_run]]')" \
    '[["nightly",true,"schedule",1,null],["ship",false,"manual",1,null],["inline",true,"manual",1,null]]'

# show.
out=$(flow show nightly); is "flow show exits 0" "$?" 0
like "it names the flow" "$out" "^flow nightly \(active\)$"
like "with its description" "$out" "^  build every night$"
like "its trigger" "$out" '^trigger: \{"schedule":\{"cron":"0 2 \* \* \*"\}\}$'
like "and its steps" "$out" '^  - \{"id":"build","run":\{"command":\["make"\]\}\}$'
is "show --json has the config" "$(flow show --json ship | jq -c '[.name, .active, .config.steps[0].id]')" '["ship",false,"go"]'
out=$(flow show nope 2>&1); is "an unknown flow exits 1" "$?" 1
is "and says so" "$out" "flowgate: no flow 'nope' in the config (see 'flowgate flow list --all')"

# deactivate a flow without 'active:': one line inserted, nothing else.
flows_now > "$T/before"
n0=$(ncfg)
out=$(flow deactivate nightly); is "deactivate exits 0" "$?" 0
like "it says so" "$out" "^flow nightly deactivated: refs/flowgate/config [0-9a-f]{7}$"
is "one config commit" "$(ncfg)" $((n0 + 1))
flows_now > "$T/after"
is "inserted above the flow's first key, indented alike" "$(diff "$T/before" "$T/after")" "6a7
>     active: false"
is "the commit says who and what" "$(git --git-dir="$R" log -1 --format='%s|%an|%(trailers:key=Flowgate-Kind,valueonly,separator=)' refs/flowgate/config)" \
    "config: deactivate flow nightly by alice|alice|config"
out=$(flow list); unlike "nightly is no longer listed" "$out" "^nightly"
out=$(flow deactivate nightly); is "deactivating it again exits 0" "$?" 0
is "and writes nothing" "$out" "flow nightly is already inactive; nothing written"
is "no commit" "$(ncfg)" $((n0 + 1))

# activate replaces the value in place.
out=$(flow activate nightly); is "activate exits 0" "$?" 0
is "false became true, in place" "$(diff "$T/before" "$(flows_now > "$T/a2"; echo "$T/a2")")" "6a7
>     active: true"
out=$(flow activate ship); is "activating ship exits 0" "$?" 0
is "ship's value changed in place; its comment and spacing stayed" "$(flows_now | sed -n 15p)" "    active:   true     # off until the release"
like "ship is listed now" "$(flow list)" "^ship +active "

# A flow mapping gets the key inside its braces.
out=$(flow deactivate inline); is "deactivating a flow mapping exits 0" "$?" 0
is "the key goes inside the braces" "$(flows_now | tail -n 1)" \
    "  inline: {active: false, trigger: {manual: {}}, steps: [{id: a, run: {command: ['true']}}]}"
like "the first comment survived" "$(flows_now | head -n 1)" "^# Our flows\.  This comment"
cp "$T/a2" "$T/flows.yaml"
ok "the edited flows.yaml is valid" "$FG" config check "$T/flows.yaml"
flows_now > "$T/flows.yaml"
ok "and so is the last one" "$FG" config check "$T/flows.yaml"

# Refusals write nothing.
n1=$(ncfg)
out=$(flow activate nope 2>&1); is "activating an unknown flow exits 1" "$?" 1
like "and says so" "$out" "^flowgate: no flow 'nope' in the config"
out=$(flow activate 'Bad Name' 2>&1); is "a bad name exits 1" "$?" 1
is "and says so" "$out" "flowgate: bad flow name 'Bad Name'"
is "nothing was committed" "$(ncfg)" "$n1"

# activity: runs from refs/flowgate/runs/<flow>, newest state of each run.
out=$(flow activity nightly); is "activity of a flow that never ran exits 0" "$?" 0
is "and says so" "$out" "flow nightly has not run yet"
out=$(flow activity nope 2>&1); is "activity of an unknown flow exits 1" "$?" 1
is "and says so" "$out" "flowgate: no flow 'nope' in the config, and no runs of it"
# run.json records as the executor commits them (schemas/run.schema.json).
run_commit() {	# run_commit RUN STATUS STEPSTATUS [FINISHED]
	_fin=""
	[ -n "${4:-}" ] && _fin=",\"finished\":\"$4\""
	_b=$(printf '{"version":1,"flow":"nightly","run":"%s","status":"%s","created":"2026-11-20T02:00:00Z"%s,"steps":[{"id":"build","status":"%s","attempts":1}]}\n' \
	    "$1" "$2" "$_fin" "$3" | git --git-dir="$R" hash-object -w --stdin)
	_t=$(printf '100644 blob %s\trun.json\n' "$_b" | git --git-dir="$R" mktree)
	_p=$(git --git-dir="$R" rev-parse -q --verify refs/flowgate/runs/nightly)
	_c=$(git --git-dir="$R" commit-tree ${_p:+-p $_p} -m "flow nightly: run $1 $2" "$_t")
	git --git-dir="$R" update-ref refs/flowgate/runs/nightly "$_c"
}
run_commit r1 running running
run_commit r2 running running
run_commit r1 succeeded succeeded 2026-11-20T02:05:00Z
run_commit r2 failed failed 2026-11-20T02:06:00Z
out=$(flow activity nightly); is "activity exits 0" "$?" 0
is "each run once, newest first, in its latest state" "$(say "$out" | grep -v '^ ')" \
    "r2 failed    2026-11-20T02:00:00Z - 2026-11-20T02:06:00Z
r1 succeeded 2026-11-20T02:00:00Z - 2026-11-20T02:05:00Z"
like "with its steps" "$out" "^  build +failed$"
is "--json gives run.json with the record" "$(flow activity --json nightly | jq -c '[.[] | [.run, .status, (.record | length)]]')" \
    '[["r2","failed",40],["r1","succeeded",40]]'
is "--limit 1 gives the newest" "$(flow activity --json --limit 1 nightly | jq -r '.[].run')" r2
like "list shows the last run" "$(flow list --all)" "^nightly .* last run r2 failed 2026-11-20T02:06:00Z$"
# A record that breaks the schema is refused, not shown half.
_b=$(printf '{"version":1,"flow":"nightly"}' | git --git-dir="$R" hash-object -w --stdin)
_t=$(printf '100644 blob %s\trun.json\n' "$_b" | git --git-dir="$R" mktree)
_c=$(git --git-dir="$R" commit-tree -p refs/flowgate/runs/nightly -m bad "$_t")
git --git-dir="$R" update-ref refs/flowgate/runs/nightly "$_c"
out=$(flow activity nightly 2>&1); is "a broken run.json exits 1" "$?" 1
like "and names the problem" "$out" "^flowgate: run.json.*(commit [0-9a-f]{7})"

# The same through the REST API, on the real daemon.
. "$(dirname "$0")/whd.sh"
ROOT=$T/repos
APP=$ROOT/acme/app.git
mkdir -p "$ROOT/acme"
"$FG" init --template release "$APP" >/dev/null 2>&1
"$FG" --repo "$APP" config apply --flows "$T/f.yaml" "$T/p.yaml" >/dev/null 2>&1
is "the API's repository has the flows" "$?" 0
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY
READ=$(echo "read-token-1" | "$FG_WHD" --hash-token)
OPER=$(echo "operate-token-2" | "$FG_WHD" --hash-token)
printf 'version: 1\nroot: %s\nsecret: {env: FLOWGATE_WEBHOOK_SECRET}\ntokens:\n  - {name: reader, hash: %s, role: read}\n  - {name: ci, hash: %s, role: operate}\n' \
    "$ROOT" "'$READ'" "'$OPER'" > "$T/whd.yaml"
whd_start --config "$T/whd.yaml" || done_testing
A=/api/v1/repos/acme/app
get() {
	_c=$(curl -s -o "$T/.body" -w '%{http_code}' ${2:+-H "Authorization: Bearer $2"} "$URL$1")
	echo "$_c $(cat "$T/.body")"
}
send() { post "$1" "$3" ${2:+-H "Authorization: Bearer $2"}; }
js() { say "$1" | cut -d' ' -f2- | jq -c "$2"; }

r=$(get "$A/flows")
is "no token is 401" "$r" '401 {"error":"missing bearer token"}'
r=$(get "$A/flows" read-token-1)
like "GET flows is 200" "$r" '^200 '
is "it lists the active flows" "$(js "$r" '[.[] | .name]')" '["nightly","inline"]'
r=$(get "$A/flows?all=1" read-token-1)
is "all=1 lists every flow" "$(js "$r" '[.[] | [.name, .active]]')" '[["nightly",true],["ship",false],["inline",true]]'
r=$(get "$A/flows?all=maybe" read-token-1)
is "a bad all is 400" "$r" '400 {"error":"all must be 1 or 0"}'
r=$(get "$A/flows/nightly" read-token-1)
is "GET flows/nightly shows it" "$(js "$r" '[.name, .trigger, .config.steps[0].id]')" '["nightly","schedule","build"]'
r=$(get "$A/flows/nope" read-token-1)
is "an unknown flow is 404" "$r" "404 {\"error\":\"no flow 'nope' in the config (see 'flowgate flow list --all')\"}"
r=$(get "$A/flows/nightly/activity" read-token-1)
is "a flow that never ran has no activity" "$r" '200 []'
r=$(get "$A/flows/nightly/activity?limit=0" read-token-1)
is "a bad limit is 400" "$r" '400 {"error":"limit must be a number from 1 to 1000"}'
r=$(send "$A/flows/nightly/deactivate" read-token-1 /dev/null)
is "a read token may not deactivate: 403" "$r" "403 {\"error\":\"token 'reader' may only read: changing a flow needs the operate role\"}"
r=$(get "$A/flows/nightly/deactivate" operate-token-2)
like "GET on deactivate is 405" "$r" '^405 '
printf '{"force":true}' > "$T/x.json"
r=$(send "$A/flows/nightly/deactivate" operate-token-2 "$T/x.json")
like "an unknown body field is 400" "$r" '^400 \{"error":"body: '
n0=$(git --git-dir="$APP" rev-list --count refs/flowgate/config)
r=$(send "$A/flows/nightly/deactivate" operate-token-2 /dev/null)
is "POST deactivate is 200" "$(js "$r" '[.flow, .active, .changed, (.config | length)]')" '["nightly",false,true,40]'
is "one config commit, by the token" "$(git --git-dir="$APP" rev-list --count refs/flowgate/config) $(git --git-dir="$APP" log -1 --format=%an refs/flowgate/config)" "$((n0 + 1)) ci"
is "changing one line of flows.yaml" "$(git --git-dir="$APP" diff refs/flowgate/config~1 refs/flowgate/config -- flows.yaml | grep '^[-+] ')" "+    active: false"
r=$(send "$A/flows/nightly/deactivate" operate-token-2 /dev/null)
is "again: nothing changes" "$(js "$r" '.changed')" false
printf '{}' > "$T/e.json"
r=$(send "$A/flows/ship/activate" operate-token-2 "$T/e.json")
is "POST activate with {} is 200" "$(js "$r" '[.flow, .active, .changed]')" '["ship",true,true]'
r=$(get "$A/flows" read-token-1)
is "the list follows" "$(js "$r" '[.[] | .name]')" '["ship","inline"]'
r=$(send "$A/flows/nope/activate" operate-token-2 /dev/null)
like "activating an unknown flow is 404" "$r" "^404 \\{\"error\":\"no flow 'nope' in the config"
r=$(send "$A/flows/nightly/frob" operate-token-2 /dev/null)
is "an unknown flow route is 404" "$r" '404 {"error":"no such route"}'

# flow run: a manual run asked from the CLI and the API, run by the daemon.
cat > "$T/f2.yaml" <<EOF
version: 1
flows:
  greet:
    trigger:
      manual:
        inputs:
          who: {type: string, required: true}
          times: {type: number, default: 2}
    steps:
      - id: say
        run: {command: [sh, -c, 'echo "\$0 x\$1" >> "$T/greet.out"', '\${{ inputs.who }}', '\${{ inputs.times }}']}
  nightly:
    trigger: {schedule: {cron: "0 2 * * *"}}
    steps:
      - {id: a, run: {command: ['true']}}
EOF
"$FG" --repo "$APP" config apply --flows "$T/f2.yaml" "$T/p.yaml" >/dev/null 2>&1
is "flows with a manual input apply" "$?" 0
# wait_run FLOW RUN: until the run's latest status is not running (60 s).
wait_run() {
	_i=0
	while [ $_i -lt 600 ]; do
		_s=$("$FG" --repo "$APP" flow activity --json "$1" 2>/dev/null |
		    jq -r --arg r "$2" '.[] | select(.run == $r) | .status')
		[ -n "$_s" ] && [ "$_s" != running ] && { echo "$_s"; return 0; }
		sleep 0.1
		_i=$((_i + 1))
	done
	echo "${_s:-none}"
}
out=$("$FG" flow run --help); is "flow run --help exits 0" "$?" 0
like "it documents --input" "$out" "--input KEY=VALUE"
out=$("$FG" --repo "$APP" flow run --input who=ada greet); is "flow run exits 0" "$?" 0
like "it prints the queued run" "$out" "^flow greet: run cli-[0-9a-f]{24} queued for the daemon; 'flowgate flow activity greet' shows it$"
run=$(say "$out" | sed -n 's/^flow greet: run \([^ ]*\) queued.*/\1/p')
is "the request waits in the inbox" "$(git --git-dir="$APP" log -1 --format=%s refs/flowgate/inbox)" "cli flow run request by alice: greet"
# The daemon does not watch for CLI requests yet (no wake-up fifo): it
# takes the backlog inbox-done..inbox when it starts.
whd_stop
whd_start --config "$T/whd.yaml" || done_testing
is "the restarted daemon runs it to success" "$(wait_run greet "$run")" succeeded
is "with the input and the default" "$(cat "$T/greet.out" 2>/dev/null)" "ada x2"
out=$("$FG" --repo "$APP" flow run greet 2>&1); is "a missing required input exits 1" "$?" 1
is "and says so" "$out" "flowgate: input 'who' is required"
out=$("$FG" --repo "$APP" flow run --input who=x --input colour=red greet 2>&1); is "an unknown input exits 1" "$?" 1
is "and names it" "$out" "flowgate: unknown input 'colour' of flow 'greet'"
out=$("$FG" --repo "$APP" flow run --input who=x --input times=many greet 2>&1); is "a bad number exits 1" "$?" 1
is "and says what it must be" "$out" "flowgate: input 'times' must be a number"
out=$("$FG" --repo "$APP" flow run nightly 2>&1); is "a flow without a manual trigger exits 1" "$?" 1
is "and says what it runs on" "$out" "flowgate: flow 'nightly' has no manual trigger: it runs on schedule"
"$FG" --repo "$APP" flow run --input bad greet >/dev/null 2>&1; is "--input without = exits 2" "$?" 2
printf '{"inputs":{"who":"grace","times":3}}' > "$T/run.json"
r=$(send "$A/flows/greet/run" read-token-1 "$T/run.json")
is "a read token may not run a flow: 403" "$r" "403 {\"error\":\"token 'reader' may only read: running a flow needs the operate role\"}"
r=$(send "$A/flows/greet/run" operate-token-2 "$T/run.json")
like "POST run is 202 with the run id" "$r" '^202 \{"status":"accepted","flow":"greet","run":"api-[0-9a-f]{24}"\}$'
run=$(say "$r" | cut -d" " -f2- | jq -r .run)
is "the daemon runs it to success" "$(wait_run greet "$run")" succeeded
is "with the API's inputs" "$(tail -n 1 "$T/greet.out")" "grace x3"
printf '{"inputs":{"who":"lin"}}' > "$T/run.json"
r=$(post "$A/flows/greet/run" "$T/run.json" -H "Authorization: Bearer operate-token-2" -H "Idempotency-Key: k-77")
is "with an Idempotency-Key the run id is the key's" "$r" '202 {"status":"accepted","flow":"greet","run":"api-k-77"}'
r=$(post "$A/flows/greet/run" "$T/run.json" -H "Authorization: Bearer operate-token-2" -H "Idempotency-Key: k-77")
is "a retry is a duplicate, not a second run" "$r" '200 {"status":"duplicate","flow":"greet","run":"api-k-77"}'
printf '{"inputs":{"who":"x","times":"lots"}}' > "$T/run.json"
r=$(send "$A/flows/greet/run" operate-token-2 "$T/run.json")
is "bad inputs are 400" "$r" "400 {\"error\":\"input 'times' must be a number\"}"
r=$(send "$A/flows/nightly/run" operate-token-2 /dev/null)
is "a flow without a manual trigger is 400" "$r" "400 {\"error\":\"flow 'nightly' has no manual trigger: it runs on schedule\"}"
printf '{"inputs":{"who":["a"]}}' > "$T/run.json"
r=$(send "$A/flows/greet/run" operate-token-2 "$T/run.json")
like "an input of the wrong JSON type is 400" "$r" '^400 \{"error":"body: inputs.who: '
whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0

done_testing
