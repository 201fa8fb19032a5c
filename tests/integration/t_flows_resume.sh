#!/bin/sh
# t_flows_resume.sh - a daemon killed with SIGKILL in the middle of a run,
# then started again, runs no finished step twice: the step cut off counts
# as a failed attempt and is retried only because it has retries left, a
# step without retries fails the run; a scheduled flow fires once at a
# fixed FLOWGATE_NOW, however many ticks were missed, and not again after
# a restart; an inactive schedule never fires.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/whd.sh"

ROOT=$T/repos
R=$ROOT/acme/app.git
S=$ROOT/acme/sched.git
mkdir -p "$ROOT/acme"
"$FG" init --template release "$R" >/dev/null 2>&1
"$FG" init --template release "$S" >/dev/null 2>&1
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY FLOWGATE_USER=admin

# step NAME [SECONDS]: log start, sleep, log end.
cat > "$T/step" <<EOF
#!/bin/sh
echo "\$1 start" >> "$T/steps.log"
sleep "\${2:-0}"
echo "\$1 end" >> "$T/steps.log"
EOF
chmod +x "$T/step"
cat > "$T/flows.yaml" <<EOF
version: 1
flows:
  long:
    trigger: {webhook: {match: {event: long}}}
    steps:
      - id: one
        run: {command: [$T/step, one]}
      - id: two
        needs: [one]
        retries: 1
        run: {command: [$T/step, two, "3"]}
      - id: three
        needs: [two]
        run: {command: [$T/step, three]}
  fragile:
    trigger: {webhook: {match: {event: fragile}}}
    steps:
      - id: slow
        run: {command: [$T/step, slow, "3"]}
      - id: after
        needs: [slow]
        run: {command: [$T/step, after]}
EOF
cat > "$T/sched.flows.yaml" <<EOF
version: 1
flows:
  nightly:
    trigger: {schedule: {cron: "0 2 * * *", tz: Europe/Berlin}}
    steps:
      - id: tick
        run: {command: [$T/step, "tick-\${{ run.tick }}"]}
  dormant:
    active: false
    trigger: {schedule: {cron: "* * * * *"}}
    steps:
      - id: never
        run: {command: [$T/step, never]}
EOF
"$FG" --repo "$R" config apply "$TOP/templates/release.yaml" --flows "$T/flows.yaml" >/dev/null
is "the config applies" "$?" 0
FLOWGATE_NOW=2026-01-25T12:00:00Z "$FG" --repo "$S" config apply "$TOP/templates/release.yaml" \
    --flows "$T/sched.flows.yaml" >/dev/null
is "the schedule's config applies, at a fixed time" "$?" 0

cat > "$T/whd.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
EOF
runs() {
	git --git-dir="${GD:-$R}" log --format='%s' "refs/flowgate/runs/$1" 2>/dev/null
}
wait_run() {
	_i=0
	while [ $_i -lt 400 ]; do
		case "$(runs "$1" | head -1)" in
		"flow $1: run "*" succeeded"|"flow $1: run "*" failed") return 0 ;;
		esac
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}
wait_log() {
	_i=0
	while [ $_i -lt 200 ]; do
		grep -qx "$1" "$T/steps.log" 2>/dev/null && return 0
		sleep 0.05; _i=$((_i + 1))
	done
	return 1
}
gen() {
	jq -n --arg e "$1" '{version: 1, source: "generic", kind: "ignored", repo: "acme/app", event: $e}' > "$T/gen.json"
	post /hooks/generic "$T/gen.json" -H "X-Flowgate-Delivery: $2" \
	    -H "X-Flowgate-Signature-256: sha256=$(sign "$WHD_KEY" "$T/gen.json")"
}

# The schedule: the daemon's clock says Saturday 31 January 14:05 UTC;
# 02:00 in Berlin (01:00 UTC) passed six times since the config.
export FLOWGATE_NOW=2026-01-31T14:05:00Z
GD=$S
whd_start --config "$T/whd.yaml" || done_testing
ok "the nightly flow runs" wait_run nightly
is "once, for the last missed tick (02:00 in Berlin is 01:00 UTC)" "$(runs nightly | grep -c queued)" 1
like "its run id is the tick" "$(runs nightly | tail -1)" "^flow nightly: run tick-20260131T0100Z queued \\(schedule\\)$"
is "the step saw the tick" "$(grep '^tick-' "$T/steps.log")" "tick-2026-01-31T01:00:00Z start
tick-2026-01-31T01:00:00Z end"
is "the inactive schedule never fired" "$(runs dormant)" ""
whd_stop
whd_start --config "$T/whd.yaml" || done_testing
sleep 2
is "the schedule does not fire again after a restart" "$(runs nightly | grep -c queued)" 1
whd_stop
# The rest runs on the real clock, without the scheduled repository.
rm -rf "$S"
unset FLOWGATE_NOW GD
whd_start --config "$T/whd.yaml" || done_testing

# kill -9 in the middle of step two.
r=$(gen long long-1)
like "the delivery is accepted" "$r" '^202 '
ok "step two is running" wait_log "two start"
kill -9 "$WHD_PID"
wait "$WHD_PID" 2>/dev/null
is "the run is on record as running" "$(git --git-dir="$R" show refs/flowgate/runs/long:run.json | jq -r '.status + " " + (.steps | map(.id + "=" + .status) | join(","))')" \
    "running one=succeeded,two=running,three=pending"
sleep 3.5	# the orphaned step finishes on its own
whd_start --config "$T/whd.yaml" || done_testing
ok "the resumed run finishes (after its retry's 10 s)" wait_run long
is "it succeeded" "$(runs long | head -1)" "flow long: run long-1 succeeded"
is "one ran once, two twice (retried), three once" \
    "$(grep -c '^one start' "$T/steps.log") $(grep -c '^two start' "$T/steps.log") $(grep -c '^three start' "$T/steps.log")" "1 2 1"
like "the restart is on record" "$(runs long)" "flow long: run long-1 resumed: steps cut off by a restart count as failed attempts"
is "two made two attempts, the first interrupted" \
    "$(git --git-dir="$R" log --format=%H refs/flowgate/runs/long | while read c; do git --git-dir="$R" show "$c:run.json" | jq -r '.steps[1] | select(.reason != null) | .reason'; done | sort -u | head -1)" \
    "interrupted by a restart"

# A step without retries cut off by a restart fails its run.
r=$(gen fragile fragile-1)
ok "the slow step is running" wait_log "slow start"
kill -9 "$WHD_PID"
wait "$WHD_PID" 2>/dev/null
sleep 3.5
whd_start --config "$T/whd.yaml" || done_testing
ok "the fragile run finishes" wait_run fragile
is "it failed: the cut-off step had no retries" "$(runs fragile | head -1)" "flow fragile: run fragile-1 failed"
is "slow ran once, after never" "$(grep -c '^slow start' "$T/steps.log") $(grep -c '^after start' "$T/steps.log")" "1 0"
like "after is skipped because slow failed" "$(runs fragile)" "flow fragile: step after skipped: need 'slow' failed"

whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0
done_testing
