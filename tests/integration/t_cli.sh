#!/bin/sh
# t_cli.sh - flowgate init/config/templates/pipeline against real bare
# repositories, read back with git; the hook's guard of refs/flowgate/
# driven by real pushes.
. "$(dirname "$0")/lib.sh"

R=$T/x.git

out=$("$FG" --help); ok "--help exits 0" test $? -eq 0
like "--help lists the commands" "$out" "init +create"
"$FG" frobnicate >/dev/null 2>&1; is "unknown command exits 2" "$?" 2
for c in init config "config check" "config show" "config apply" templates \
    pipeline "pipeline show"; do
	# shellcheck disable=SC2086
	out=$("$FG" $c --help); is "'$c --help' exits 0" "$?" 0
	like "'$c --help' prints a usage line" "$out" "^usage: flowgate"
done
"$FG" init >/dev/null 2>&1; is "init without REPO exits 2" "$?" 2
out=$("$FG" init --template waterfall "$R" 2>&1); is "unknown template exits 2" "$?" 2
like "unknown template is named" "$out" "unknown template 'waterfall'"
ok "nothing created for a bad template" test ! -e "$R"

out=$("$FG" init --template release "$R" 2>&1)
is "init exits 0" "$?" 0
like "init says it created the repository" "$out" "created bare repository"
is "config history has the init commit" \
    "$(git --git-dir="$R" log --format=%s refs/flowgate/config)" \
    "config: init from template release"
git --git-dir="$R" show refs/flowgate/config:pipeline.yaml > "$T/p.yaml"
like "pipeline.yaml is the release template" "$(cat "$T/p.yaml")" "^template: release"
ok "config check accepts what init wrote" "$FG" config check "$T/p.yaml"
for h in pre-receive post-receive; do
	is "hook $h links to flowgate-hook" "$(readlink "$R/hooks/$h")" \
	    "$(readlink -f "$FG_HOOK")"
done
ok "no update hook without --update-hook" test ! -e "$R/hooks/update"
ok "the repository is bare" test "$(git --git-dir="$R" rev-parse --is-bare-repository)" = true

tip=$(git --git-dir="$R" rev-parse refs/flowgate/config)
out=$("$FG" init --template continuous "$R" 2>&1)
is "init again exits 0" "$?" 0
like "init again says nothing changed" "$out" "already set up; nothing changed"
is "init again leaves the config" "$(git --git-dir="$R" rev-parse refs/flowgate/config)" "$tip"

out=$("$FG" templates)
like "templates lists release" "$out" "^release +developer -> integration -> staging -> production +\(hotfix -> production\)"
like "templates lists continuous" "$out" "^continuous +developer -> staging -> production"
like "templates lists progressive" "$out" "^progressive"

out=$("$FG" --repo "$R" pipeline show)
is "pipeline show exits 0" "$?" 0
like "pipeline show orders the stages" "$out" "template release: developer -> integration -> staging -> production"
like "pipeline show lists integration" "$out" "^integration +develop +- +0 +qa"
like "pipeline show lists the pool" "$out" "^developer +\(pull requests\) .*pool sandboxes: sb-1 sb-2 sb-3"
out=$(GIT_DIR="$R" "$FG" pipeline show --json)
like "pipeline show --json via GIT_DIR" "$out" '^\{"stages":\[\{"name":"developer"'
like "json has production's branch" "$out" '"name":"production","branch":"main","tip":null,"environments":\["prod"\]'

out=$("$FG" --repo "$T/nope.git" pipeline show 2>&1); is "missing repository exits 1" "$?" 1
like "missing repository is named" "$out" "^flowgate: '$T/nope.git' is not a git repository"
out=$(cd "$T" && "$FG" pipeline show 2>&1); is "outside a repository exits 1" "$?" 1
like "outside a repository says how to name one" "$out" "not in a git repository"

# config apply: refused with every problem, then accepted.
sed 's/^template: release/template: continuous/' "$T/p.yaml" > "$T/bad.yaml"
out=$(FLOWGATE_USER=carol "$FG" --repo "$R" config apply "$T/bad.yaml" 2>&1)
is "invalid apply exits 1" "$?" 1
like "invalid apply names the line" "$out" "pipeline.yaml:[0-9]+:[0-9]+: stages.integration: template continuous has no stage 'integration'"
is "invalid apply leaves the config" "$(git --git-dir="$R" rev-parse refs/flowgate/config)" "$tip"
sed 's/environments: \[uat\]/environments: [uat, qa]/' "$T/p.yaml" > "$T/good.yaml"
out=$(FLOWGATE_USER=carol "$FG" --repo "$R" config apply -m "qa joins staging" "$T/good.yaml" 2>&1)
is "valid apply exits 0" "$?" 0
is "apply made one commit" "$(git --git-dir="$R" rev-list --count refs/flowgate/config)" 2
is "apply is authored by the user" "$(git --git-dir="$R" log -1 --format=%an refs/flowgate/config)" carol
like "apply's message says why" "$(git --git-dir="$R" log -1 --format=%B refs/flowgate/config)" "qa joins staging"
is "config show prints what was applied" "$("$FG" --repo "$R" config show)" "$(cat "$T/good.yaml")"
out=$("$FG" --repo "$R" config apply "$T/good.yaml"); like "same config again writes nothing" "$out" "unchanged"
is "still two config commits" "$(git --git-dir="$R" rev-list --count refs/flowgate/config)" 2

# Real pushes through the installed hook.
git clone -q "$R" "$T/w" 2>/dev/null
(cd "$T/w" && echo hello > README && git add README && git commit -qm "first" && git push -q origin HEAD:develop) >/dev/null 2>&1
is "a push to develop is accepted" "$(git --git-dir="$R" rev-parse --verify -q refs/heads/develop >/dev/null && echo yes)" yes
out=$(cd "$T/w" && git push --force origin HEAD:refs/flowgate/activity 2>&1); is "a push to refs/flowgate/activity fails" "$?" 1
like "the pusher is told why" "$out" "remote: flowgate: refs/flowgate/activity: protected-ref: only flowgate writes"
is "refs/flowgate/activity holds the refusal, not the pushed commit" \
    "$(git --git-dir="$R" log -1 --format=%s refs/flowgate/activity)" \
    "push refs/flowgate/activity by unknown refused: 1 issue"
(cd "$T/w" && git fetch -q origin refs/flowgate/config && git checkout -q FETCH_HEAD &&
    sed -i 's/^version: 1/version: 2/' pipeline.yaml && git commit -qam "bump" ) >/dev/null 2>&1
before=$(git --git-dir="$R" rev-parse refs/flowgate/config)
out=$(cd "$T/w" && FLOWGATE_USER=admin git push origin HEAD:refs/flowgate/config 2>&1); is "an invalid config push fails" "$?" 1
like "the invalid config push names the line" "$out" "remote: flowgate: refs/flowgate/config: config: pipeline.yaml:[0-9]+:[0-9]+: version: must be 1"
is "the config ref did not move" "$(git --git-dir="$R" rev-parse refs/flowgate/config)" "$before"
ok "fsck is clean after the refused pushes" git --git-dir="$R" fsck --no-progress
(cd "$T/w" && git reset -q --hard HEAD~1 && sed -i 's/\[uat, qa\]/[uat]/' pipeline.yaml && git commit -qam "back to uat") >/dev/null 2>&1
out=$(cd "$T/w" && FLOWGATE_USER=admin git push origin HEAD:refs/flowgate/config 2>&1); is "a valid config push is accepted" "$?" 0
is "the pushed config is current" "$(git --git-dir="$R" log -1 --format=%s refs/flowgate/config)" "back to uat"

done_testing
