#!/bin/sh
# t_flows_exec.sh - the daemon runs flows: a real push triggers a DAG of
# five steps (order, a failure skipping its dependents, continue-on-error
# honoured), every run and step on refs/flowgate/runs/<flow>; an inactive
# flow does not fire; a signed generic webhook triggers a flow whose
# hostile payload values reach argv, env and an HTTP receiver as inert
# data; a delivery sent twice starts one run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

RECEIVER=$TOP/tests/tools/receiver
ROOT=$T/repos
R=$ROOT/acme/app.git
mkdir -p "$ROOT/acme"
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
receiver api --secret hook-key-1 --status 201 --body '{"ok":true}'

# A step program: records its name, its arguments and one variable, then
# exits with the status it is given.
cat > "$T/step" <<STEP
#!/bin/sh
printf '%s|%s|%s|%s\n' "\$FLOWGATE_STEP" "\$1" "\$2" "\${HOSTILE:-}" >> "$T/steps.log"
[ -f README ] && echo "checkout has README" >> "$T/steps.log"
echo "step \$FLOWGATE_STEP says hello"
exit "\${3:-0}"
STEP
chmod +x "$T/step"

cp "$TOP/templates/release.yaml" "$T/pipeline.yaml"
cat >> "$T/pipeline.yaml" <<CFG
secrets:
  hook_key: {env: FLOWGATE_HOOK_KEY}
CFG
export FLOWGATE_HOOK_KEY=hook-key-1
cat > "$T/flows.yaml" <<FLOWS
version: 1
flows:
  dag:
    description: five steps on every push to develop
    trigger: {push: {branches: [develop]}}
    steps:
      - id: a
        run: {command: [$T/step, a, "\${{ run.commit }}"]}
      - id: b
        needs: [a]
        continue-on-error: true
        run: {command: [$T/step, b, x, "1"]}
      - id: c
        needs: [a]
        run: {command: [$T/step, c, x, "3"]}
      - id: d
        needs: [b]
        run: {command: [$T/step, d, "\${{ steps.b.status }}"]}
      - id: e
        needs: [c]
        run: {command: [$T/step, e, x]}
  ship:
    trigger:
      manual:
        inputs:
          env: {type: string, required: true}
          count: {type: number, default: 2}
    steps:
      - id: go
        run:
          command: [$T/step, go, "\${{ inputs.env }}"]
          env: {HOSTILE: "n=\${{ inputs.count }} by \${{ run.actor }}"}
  sleeping:
    active: false
    trigger: {push: {branches: ['*']}}
    steps:
      - id: never
        run: {command: [$T/step, never, x]}
  hostile:
    trigger: {webhook: {match: {event: nightly-check, action: go}}}
    steps:
      - id: echo
        run:
          command: [$T/step, echo, "\${{ event.description }}"]
          env: {HOSTILE: "\${{ event.pr_title }}"}
      - id: tell
        needs: [echo]
        http:
          url: "http://127.0.0.1:$PORT_api/hook/\${{event.actor}}"
          headers: {X-Title: "t \${{ event.pr_title }}"}
          body: {text: "\${{ event.description }}", n: 1, run: "\${{ run.run }}"}
          secret: hook_key
          expect: 201
      - id: guarded
        needs: [tell]
        if: "event.description == 'x' || event.description matches 'safe*'"
        run: {command: [$T/step, guarded, x]}
FLOWS
"$FG" --repo "$R" config apply "$T/pipeline.yaml" --flows "$T/flows.yaml" >/dev/null
is "the config with three flows applies" "$?" 0

cat > "$T/whd.yaml" <<WHD
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
WHD
# A real push to develop, queued by the hooks; the daemon drains the
# backlog when it starts.
W=$T/w
git init -q "$W"
(cd "$W" && echo hi > README && git add README && git commit -qm "ABC-1 first" &&
    git push -q "$R" HEAD:refs/heads/develop 2>/dev/null)
C1=$(git -C "$W" rev-parse HEAD)
whd_start --config "$T/whd.yaml" || done_testing

# wait_run FLOW: until the flow's newest record ends its run.
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

ok "the push's run finishes" wait_run dag
run=$(git --git-dir="$R" show refs/flowgate/runs/dag:run.json | jq -r .run)
is "the run failed: c failed without continue-on-error" "$(runs dag | head -1)" "flow dag: run $run failed"
is "a ran first, in a checkout of the pushed commit" "$(head -2 "$T/steps.log")" "a|a|$C1|
checkout has README"
is "e never ran; b, c and d did" "$(cut -d'|' -f1 "$T/steps.log" | grep -v checkout | sort | tr '\n' ' ')" "a b c d "
is "d ran after b, and saw b's status" "$(grep '^d|' "$T/steps.log")" "d|d|failed|"
like "e is recorded skipped because c failed" "$(runs dag)" "flow dag: step e skipped: need 'c' failed"
like "c is recorded failed with its exit status" "$(runs dag)" "flow dag: step c failed: exit status 3"
like "b is recorded failed too" "$(runs dag)" "flow dag: step b failed: exit status 1"
is "run.json: every step's final status" \
    "$(git --git-dir="$R" show refs/flowgate/runs/dag:run.json | jq -r '[.steps[] | .id + "=" + .status] | join(" ")')" \
    "a=succeeded b=failed c=failed d=succeeded e=skipped"
is "run.json: the run failed and is finished" \
    "$(git --git-dir="$R" show refs/flowgate/runs/dag:run.json | jq -r '.status + " " + (.finished != null | tostring)')" "failed true"
is "the trailers name the run and flow" \
    "$(git --git-dir="$R" log -1 --format='%(trailers:key=Flowgate-Run,valueonly)%(trailers:key=Flowgate-Flow,valueonly)' refs/flowgate/runs/dag | tr -d '\n')" \
    "${run}dag"
like "the step's output is in its record" "$(git --git-dir="$R" log --format=%B refs/flowgate/runs/dag)" "step c says hello"
like "the run is in the activity log" "$(git --git-dir="$R" log --format=%s refs/flowgate/activity)" "flow dag: run $run failed"
is "the inactive flow did not fire" "$(runs sleeping)" ""

# A manual run from the CLI: queued in the inbox, run by the daemon.
out=$("$FG" --repo "$R" flow run --input env=uat ship 2>&1)
like "flow run names the queued run" "$out" "^flow ship: run cli-[0-9a-f]+ queued for the daemon"
mrun=$(echo "$out" | sed -n 's/^flow ship: run \(cli-[0-9a-f]*\) queued.*/\1/p')
ok "the daemon runs it" wait_run ship
is "it succeeded" "$(runs ship | head -1)" "flow ship: run $mrun succeeded"
is "with the inputs, the default filled in" "$(grep '^go|' "$T/steps.log")" "go|go|uat|n=2 by admin"
out=$("$FG" --repo "$R" flow run --input env=uat --input count=many ship 2>&1)
is "a bad input is refused at once" "$out" "flowgate: input 'count' must be a number"
is "and queues nothing" "$(runs ship | grep -c queued)" 1

# The generic webhook, signed, with hostile values.
HOST='$(touch '"$T"'/pwned); `touch '"$T"'/pwned2` '"'"' || true || '"'"' ${{ inputs.x }}'
jq -n --arg d "$HOST" --arg t 'Title"; rm -rf / #' \
    '{version: 1, source: "generic", kind: "ignored", event: "nightly-check", action: "go",
      repo: "acme/app", actor: "../../etc", description: $d, pr_title: $t}' > "$T/gen.json"
gen() {
	post /hooks/generic "$1" -H "X-Flowgate-Delivery: $2" \
	    -H "X-Flowgate-Signature-256: sha256=$(sign "$WHD_KEY" "$1")"
}
r=$(gen "$T/gen.json" gen-1)
like "the generic delivery is accepted" "$r" '^20[02] '
ok "the hostile run finishes" wait_run hostile
is "it succeeded" "$(runs hostile | head -1)" "flow hostile: run gen-1 succeeded"
is "the argv element and the env value arrive byte for byte, unrun" \
    "$(grep '^echo|' "$T/steps.log")" "echo|echo|$HOST|Title\"; rm -rf / #"
ok "nothing ran them as a shell would" test ! -e "$T/pwned" -a ! -e "$T/pwned2"
req=$(tail -1 "$T/api.log")
is "the receiver got a POST to the percent-encoded path" "$(echo "$req" | jq -r '.method + " " + .path')" \
    "POST /hook/..%2F..%2Fetc"
is "the body holds the value as a JSON string" "$(echo "$req" | jq -r '.body | fromjson | .text')" "$HOST"
is "the body's other fields keep their types" "$(echo "$req" | jq -c '.body | fromjson | [.n, .run]')" '[1,"gen-1"]'
is "the body is signed with the secret" "$(echo "$req" | jq -r .signature_ok)" true
is "the request names the run" "$(echo "$req" | jq -r .run)" gen-1
like "the guarded step was skipped: the hostile text is data" "$(runs hostile)" \
    "flow hostile: step guarded skipped: if: is false"

# The same delivery again: acknowledged, no second run.
r=$(gen "$T/gen.json" gen-1)
like "the repeated delivery is acknowledged" "$r" '^20[02] '
sleep 1
ok "processed" wait_processed "$R"
is "one run only" "$(runs hostile | grep -c 'queued')" 1
is "the receiver was called once" "$(wc -l < "$T/api.log" | tr -d ' ')" 1

whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
done_testing
