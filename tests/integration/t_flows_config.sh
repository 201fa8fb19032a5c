#!/bin/sh
# t_flows_config.sh - flows.yaml's if:, cron, time zone and needs are
# checked wherever a config gets in: 'flowgate config check', 'flowgate
# config apply --flows' and an admin's real 'git push' of
# refs/flowgate/config through the installed hook.  A refused config
# leaves the ref where it was; the fixed one goes in.
. "$(dirname "$0")/lib.sh"

R=$T/r.git
"$FG" init --template release "$R" >/dev/null 2>&1 || { echo "init failed"; exit 1; }
git --git-dir="$R" show refs/flowgate/config:pipeline.yaml > "$T/pipeline.yaml"

cat > "$T/good.flows.yaml" <<'YAML'
version: 1
flows:
  nightly:
    trigger: {schedule: {cron: "30 2 * * mon-fri", tz: Europe/Berlin}}
    steps:
      - id: build
        run: {command: [make]}
      - id: test
        needs: [build]
        if: "steps.build.status == 'succeeded' && event.ref matches 'refs/heads/*'"
        run: {command: [make, check]}
YAML

# Broken variants of it, one mistake each.
sed "s|event.ref matches 'refs/heads/\*'|event.ref = 'x'|" "$T/good.flows.yaml" > "$T/bad-if.flows.yaml"
sed 's|30 2 \* \* mon-fri|30 24 * * mon-fri|' "$T/good.flows.yaml" > "$T/bad-cron.flows.yaml"
sed 's|Europe/Berlin|Europe/Nowhere|' "$T/good.flows.yaml" > "$T/bad-tz.flows.yaml"
sed 's|needs: \[build\]|needs: [build, test]|' "$T/good.flows.yaml" > "$T/self.flows.yaml"

out=$("$FG" config check "$T/good.flows.yaml" 2>&1); is "check: a good flows.yaml passes" "$?" 0
out=$("$FG" config check "$T/bad-if.flows.yaml" 2>&1); is "check: bad if: exits 1" "$?" 1
is "check: bad if: points at the '='" "$out" \
    "$T/bad-if.flows.yaml:10:61: flows.nightly.steps[1].if: unexpected '=': compare with '=='"
out=$("$FG" config check "$T/bad-cron.flows.yaml" 2>&1); is "check: bad cron exits 1" "$?" 1
is "check: bad cron names the field" "$out" \
    "$T/bad-cron.flows.yaml:4:32: flows.nightly.trigger.schedule.cron: hour: '24' is out of range 0-23"
out=$("$FG" config check "$T/bad-tz.flows.yaml" 2>&1); is "check: bad zone exits 1" "$?" 1
like "check: bad zone points at tz" "$out" \
    "bad-tz.flows.yaml:4:56: flows.nightly.trigger.schedule.tz: unknown time zone 'Europe/Nowhere'"
out=$("$FG" config check "$T/self.flows.yaml" 2>&1); is "check: self need exits 1" "$?" 1
is "check: self need is named" "$out" \
    "$T/self.flows.yaml:9:24: flows.nightly.steps[1].needs[1]: step 'test' needs itself"

# config apply --flows: refused with the same lines, then accepted.
tip=$(git --git-dir="$R" rev-parse refs/flowgate/config)
out=$(FLOWGATE_USER=admin "$FG" --repo "$R" config apply "$T/pipeline.yaml" --flows "$T/bad-if.flows.yaml" 2>&1)
is "apply: bad if: exits 1" "$?" 1
like "apply: bad if: names line and column" "$out" \
    "flows.yaml:10:61: flows.nightly.steps\[1\].if: unexpected '=': compare with '=='"
is "apply: the config did not move" "$(git --git-dir="$R" rev-parse refs/flowgate/config)" "$tip"
out=$(FLOWGATE_USER=admin "$FG" --repo "$R" config apply "$T/pipeline.yaml" --flows "$T/good.flows.yaml" 2>&1)
is "apply: good flows exit 0" "$?" 0
is "apply: flows.yaml is stored" "$(git --git-dir="$R" show refs/flowgate/config:flows.yaml)" \
    "$(cat "$T/good.flows.yaml")"

# An admin's push of a config whose flows form a cycle.
git clone -q "$R" "$T/w" 2>/dev/null
cd "$T/w" || exit 1
export FLOWGATE_USER=admin
git fetch -q origin refs/flowgate/config:refs/remotes/origin/config
git checkout -q -b cfg origin/config
sed -i 's|run: {command: \[make\]}|needs: [test]\n        run: {command: [make]}|' flows.yaml
git commit -qam "build after test"
before=$(git --git-dir="$R" rev-parse refs/flowgate/config)
out=$(git push origin HEAD:refs/flowgate/config 2>&1)
is "push: a cycle is refused" "$?" 1
like "push: the pusher reads the cycle" "$out" \
    "remote: .*refs/flowgate/config: config: flows.yaml:[0-9]+:[0-9]+: flows.nightly.steps\[0\].needs: steps 'build' -> 'test' -> 'build' form a cycle"
is "push: the config did not move" "$(git --git-dir="$R" rev-parse refs/flowgate/config)" "$before"
git reset -q --hard origin/config
sed -i 's|30 2 \* \* mon-fri|0 3 * * *|' flows.yaml
git commit -qam "nightly at three"
out=$(git push origin HEAD:refs/flowgate/config 2>&1)
is "push: the fixed flows go in" "$?" 0
is "push: the config moved" "$(git --git-dir="$R" rev-parse refs/flowgate/config)" "$(git rev-parse HEAD)"

done_testing
