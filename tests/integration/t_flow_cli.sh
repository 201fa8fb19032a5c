#!/bin/sh
# t_flow_cli.sh - 'flowgate flow list|show|activate|deactivate|activity'
# on a real bare repository: the active flows by default and every flow
# with --all; activate/deactivate as config commits that change one line
# of flows.yaml and keep its comments byte for byte (block and flow
# mappings, a flow with and without 'active:'); refusals that write
# nothing; and a flow's runs, newest first, from refs/flowgate/runs/<flow>.
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

done_testing
