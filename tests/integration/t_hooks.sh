#!/bin/sh
# t_hooks.sh - flowgate-hook as a real repository's pre-receive and
# post-receive (and update, linked on request): real 'git push'es into a
# bare repository, each rule refused and accepted, the pusher's remote:
# lines, refs untouched after a refusal, git fsck clean, hostile branch
# names, a 10,000-commit push.
. "$(dirname "$0")/lib.sh"

R=$T/r.git
W=$T/w
"$FG" init --template release "$R" >/dev/null 2>&1 || { echo "init failed"; exit 1; }

cat > "$T/rules.yaml" <<'YAML'
version: 1
template: release
admins: [admin]
stages:
  developer: {pool: sandboxes}
  integration: {branch: develop, environments: [qa]}
  staging:
    branch: staging
    environments: [uat]
    gates: [{window: {days: [mon, tue, wed, thu, fri], hours: "09:00-16:00", tz: Europe/Berlin}}]
  production: {branch: main, environments: [prod]}
  hotfix: {branch: hotfix, environments: [prod], gates: [{status: [ci/build]}]}
environments:
  qa:   {deploy: {command: [echo, qa]}}
  uat:  {deploy: {command: [echo, uat]}}
  prod: {deploy: {command: [echo, prod]}}
pools:
  sandboxes: {environments: [sb-1], deploy: {command: [echo, sb]}}
push:
  - branches: [develop, staging, main, hotfix, 'feat/*', 'lin/*', 'big/*']
    rules: [no-force-push, no-delete, {message: '^[A-Z]+-[0-9]+ '},
            {max-file-size: 5MB}, {forbid-paths: ['*.pem', '.env']}, secrets]
  - branches: ['lin/*']
    rules: [linear]
YAML
out=$(FLOWGATE_USER=admin "$FG" --repo "$R" config apply "$T/rules.yaml" 2>&1)
is "the rules config applies" "$?" 0

git clone -q "$R" "$W" 2>/dev/null
cd "$W" || exit 1

export FLOWGATE_USER=alice

# Records in the activity log so far.
records() {
	git --git-dir="$R" rev-list --count refs/flowgate/activity 2>/dev/null || echo 0
}

# Refs other than the activity log, to compare before and after a push.
snap() {
	git --git-dir="$R" for-each-ref --format='%(refname) %(objectname)' |
	    grep -v '^refs/flowgate/activity '
}

# refused WHAT PATTERN git-push-args...: the push fails, the pusher reads
# PATTERN, no ref but the activity log moved, and fsck is clean.
refused() {
	_w=$1 _p=$2; shift 2
	_before=$(snap) _nrec=$(records)
	OUT=$(git push "$@" 2>&1); _rc=$?
	is "$_w: push fails" "$_rc" 1
	ok "$_w: recorded in the activity log" test "$(records)" -gt "$_nrec"
	like "$_w: the record says refused" \
	    "$(git --git-dir="$R" log -1 --format='%s%n%(trailers:key=Flowgate-Status)' refs/flowgate/activity)" \
	    "^push .* by .* refused.*
Flowgate-Status: refused"
	like "$_w: pusher reads why" "$OUT" "$_p"
	like "$_w: pusher reads the verdict" "$OUT" "remote: flowgate: push to .* refused: [0-9]+ issues?"
	is "$_w: no ref changed" "$(snap)" "$_before"
	ok "$_w: fsck is clean" git --git-dir="$R" fsck --no-progress
}

# accepted WHAT git-push-args...
accepted() {
	_w=$1; shift
	OUT=$(git push "$@" 2>&1); _rc=$?
	is "$_w: push succeeds" "$_rc" 0
	like "$_w: the record says accepted" \
	    "$(git --git-dir="$R" log -1 --format='%s%n%(trailers:key=Flowgate-Status)' refs/flowgate/activity)" \
	    "^push .*
Flowgate-Status: accepted"
	like "$_w: pusher reads the verdict" "$OUT" "remote: flowgate: push to .* accepted"
}

commit() { # MESSAGE [FILE CONTENT]
	if [ $# -ge 3 ]; then
		mkdir -p "$(dirname "$2")"; printf '%s\n' "$3" > "$2"; git add "$2"
	fi
	git commit -q --allow-empty -m "$1"
}

commit "ABC-1 first" README "hello"
accepted "a good commit to develop" origin HEAD:develop
unlike "an accepted push prints no issue" "$OUT" "remote: flowgate: develop:"
like "post-receive says what it queued" "$OUT" "remote: flowgate: integration: created at [0-9a-f]{7}, queued as event [0-9a-f]{7}"
rec=$(git --git-dir="$R" log -1 --format='%an|%s|%(trailers:key=Flowgate-Kind,valueonly)|%(trailers:key=Flowgate-Stage,valueonly)|%(trailers:key=Flowgate-Status,valueonly)|%(trailers:key=Flowgate-Commit,valueonly)' refs/flowgate/activity | tr -d '\n')
is "the activity record of an accepted push" "$rec" "alice|push develop by alice accepted|push|integration|accepted|$(git rev-parse HEAD)"
ev=$(git --git-dir="$R" show refs/flowgate/inbox:event.json)
like "the inbox has the push event" "$ev" '"source":"hook"'
like "the event is a branch creation by alice" "$ev" '"kind":"branch_created".*"actor":"alice"|"actor":"alice".*"kind":"branch_created"'
like "the event names the repository" "$ev" '"repo":"fg-it-[A-Za-z0-9]+/r"'
like "the pushed tip has a pushes note" "$(git --git-dir="$R" notes --ref=flowgate show "$(git rev-parse HEAD)" | tr -d ' \t\n')" '"pushes":\[\{"ref":"refs/heads/develop","pusher":"alice"'

commit "ABC-2 second" README "hello again"
accepted "a fast-forward" origin HEAD:develop
like "post-receive counts the commits" "$OUT" "remote: flowgate: integration: 1 commit accepted, queued as event [0-9a-f]{7}"
is "one inbox record per accepted push" "$(git --git-dir="$R" rev-list --count refs/flowgate/inbox)" 2
git commit -q --amend -m "ABC-2 second, amended"
refused "force-push" "remote: flowgate: develop: no-force-push: [0-9a-f]{7} \"ABC-2 second, amended\": rewrites history" \
    --force origin HEAD:develop
git reset -q --hard origin/develop

refused "deletion" "remote: flowgate: develop: no-delete: deleting this branch is not allowed" origin :develop

commit "fix stuff"
refused "message rule" "develop: message: [0-9a-f]{7} \"fix stuff\": the message does not match '\^\[A-Z\]\+-\[0-9\]\+ '; reword" \
    origin HEAD:develop
git reset -q --hard origin/develop

head -c 6291456 /dev/zero | tr '\0' 'x' > big.txt
git add big.txt && commit "ABC-3 big"
refused "a 6 MB file" "develop: max-file-size: [0-9a-f]{7} \"ABC-3 big\": 'big.txt' is 6.0 MB \(6291456 bytes\), over the 5.0 MB limit" \
    origin HEAD:develop
git reset -q --hard origin/develop

key="AKIA""ABCDEFGHIJKLMNOP"
commit "ABC-4 settings" conf/aws.txt "# settings
region = eu-west-1
aws_access_key_id = $key"
refused "an AWS key" "develop: secrets: [0-9a-f]{7} \"ABC-4 settings\": 'conf/aws.txt' line 3: looks like an AWS access key id" \
    origin HEAD:develop
unlike "the key itself is never shown" "$OUT" "$key"
unlike "the key is not in the activity log" "$(git --git-dir="$R" log -p refs/flowgate/activity)" "$key"
like "the record keeps the issue" "$(git --git-dir="$R" show refs/flowgate/activity:record.json)" '"rule":[[:space:]]*"secrets"'
is "the record is authored by the pusher" "$(git --git-dir="$R" log -1 --format=%an refs/flowgate/activity)" alice
git reset -q --hard origin/develop

commit "ABC-5 key" deploy/server.pem "not really a key"
refused "a forbidden path" "develop: forbid-paths: [0-9a-f]{7} \"ABC-5 key\": adds 'deploy/server.pem', which matches the forbidden path '\*.pem'" \
    origin HEAD:develop
git reset -q --hard origin/develop

# linear: a merge commit on lin/x.
git checkout -q -b side
commit "ABC-6 side" side.txt side
git checkout -q -
commit "ABC-7 main line" ml.txt ml
git merge -q --no-ff -m "ABC-8 merge side" side
refused "a merge under linear" "lin/x: linear: [0-9a-f]{7} \"ABC-8 merge side\": is a merge commit" origin HEAD:refs/heads/lin/x
accepted "the same merge where linear is not a rule" origin HEAD:feat/merge
accepted "the main line before the merge" origin HEAD~1:refs/heads/feat/merge2
accepted "a fast-forward by a merge" origin HEAD:refs/heads/feat/merge2
like "post-receive counts a merge's commits (old..new)" "$OUT" "remote: flowgate: feat/merge2: 2 commits accepted, queued as event [0-9a-f]{7}"
git reset -q --hard origin/develop

refused "a push to refs/flowgate/activity" "refs/flowgate/activity: protected-ref: only flowgate writes" --force origin HEAD:refs/flowgate/activity
refused "a push to refs/notes/flowgate" "refs/notes/flowgate: protected-ref" --force origin HEAD:refs/notes/flowgate

# Config pushes: admins only, valid only.
git fetch -q origin refs/flowgate/config:refs/remotes/origin/config
git checkout -q -b cfg origin/config
sed -i 's/^version: 1/version: 2/' pipeline.yaml && git commit -qam "bump"
export FLOWGATE_USER=mallory
refused "a config push by a non-admin" "refs/flowgate/config: protected-ref: 'mallory' is not an admin" origin HEAD:refs/flowgate/config
export FLOWGATE_USER=admin
refused "an invalid config push by an admin" "refs/flowgate/config: config: pipeline.yaml:[0-9]+:[0-9]+: version: must be 1" origin HEAD:refs/flowgate/config
git reset -q --hard origin/config
sed -i 's/^admins: \[admin\]/admins: [nobody]/' pipeline.yaml && git commit -qam "lock the admins out"
accepted "an admin's valid config push" origin HEAD:refs/flowgate/config
is "the config moved" "$(git --git-dir="$R" rev-parse refs/flowgate/config)" "$(git rev-parse HEAD)"
sed -i 's/^admins: \[nobody\]/admins: [admin]/' pipeline.yaml && git commit -qam "let admin back in"
refused "the locked-out admin" "'admin' is not an admin" origin HEAD:refs/flowgate/config
echo "# break-glass: identities that may always push refs/flowgate/config
  admin  " > "$R/flowgate-admins"
accepted "break-glass via \$GIT_DIR/flowgate-admins" origin HEAD:refs/flowgate/config
rm -f "$R/flowgate-admins"
refused "deleting the config" "the config cannot be deleted" origin :refs/flowgate/config
export FLOWGATE_USER=alice
git checkout -q develop 2>/dev/null || git checkout -q -b develop origin/develop

# Hostile and odd branch names: nothing is run, every name round-trips.
cd "$T" && rm -f pwned && cd "$W"
for b in 'feat/$(touch${IFS}pwned)' 'feat/a;b' 'feat/`touch${IFS}pwned`' 'feat/x&&touch${IFS}pwned|y' 'feat/ünïcødé-分支' \
    "feat/$(printf 'x%.0s' $(seq 1 195))"; do
	git reset -q --hard origin/develop
	commit "ABC-9 on $b"
	accepted "branch '$(printf %.40s "$b")'" origin "HEAD:refs/heads/$b"
	is "branch '$(printf %.40s "$b")' exists" "$(git --git-dir="$R" rev-parse "refs/heads/$b")" "$(git rev-parse HEAD)"
	commit "bad message"
	refused "branch '$(printf %.40s "$b")' refused" "message" origin "HEAD:refs/heads/$b"
done
ok "no command ran from a branch name" test ! -e "$T/pwned" -a ! -e "$W/pwned" -a ! -e "$R/pwned"

# A branch name with a C1 control (CSI, U+009B, which git allows in a
# ref) and a subject with ESC: every line flowgate prints for the pusher
# shows '?' for them.  git's own lines may quote the name as it is.
b="feat/csi$(printf '\302\233')31m"
git reset -q --hard origin/develop
commit "$(printf 'bad \033[2J subject')"
refused "a branch with a C1 control" "message" origin "HEAD:refs/heads/$b"
flow=$(printf '%s\n' "$OUT" | grep -a '^remote: flowgate:')
is "no C1 control reaches the pusher" \
    "$(printf '%s\n' "$flow" | LC_ALL=C grep -a -c "$(printf '\302[\200-\237]')")" 0
is "no ESC reaches the pusher" \
    "$(printf '%s\n' "$flow" | LC_ALL=C grep -a -c "$(printf '\033')")" 0
like "the verdict shows the C1 control as ?" "$flow" "push to feat/csi\\?31m refused"
like "the issue shows both as ?" "$flow" 'feat/csi\?31m: message: [0-9a-f]{7} "bad \?\[2J subject"'

# Several refs in one push: a shared commit is checked once.
git reset -q --hard origin/develop
commit "shared bad"
refused "two branches sharing a bad commit" "message" origin HEAD:refs/heads/feat/one HEAD:refs/heads/feat/two
is "the shared commit is reported once" "$(printf '%s\n' "$OUT" | grep -c 'message: ')" 1
git reset -q --hard origin/develop

# 10,000 commits in one push, generated with fast-import: chain REF BAD T0
# makes REF a chain of 10,000 commits on origin/develop, the first made at
# T0, whose BADth commit (none when 0) has a message the rules refuse.
base=$(git rev-parse origin/develop)
chain() {
	i=1
	while [ $i -le 10000 ]; do
		msg="ABC-$i commit"
		[ $i -eq "$2" ] && msg="bad deep commit"
		printf 'commit %s\nmark :%d\ncommitter T <t@e> %d +0000\ndata <<EOM\n%s\nEOM\n' "$1" $i $(($3 + i)) "$msg"
		if [ $i -eq 1 ]; then printf 'from %s\n' "$base"; else printf 'from :%d\n' $((i - 1)); fi
		printf 'M 100644 inline f%d.txt\ndata <<EOM\nline %d\nEOM\n\n' $((i % 50)) $i
		i=$((i + 1))
	done | git fast-import --quiet
}
chain refs/heads/many 0 1700000000
# Its speed is tests/bench/hooks.sh's to measure, against a push with no
# hooks in the same run; a time limit here would fail on a slow machine
# and pass a regression on a fast one.  What is checked here is that every
# commit is: one bad message 2,223 commits below the tip refuses the push.
accepted "a 10,000-commit push" origin refs/heads/many:refs/heads/big/many
chain refs/heads/deep 7777 1710000000
bad=$(git rev-parse --short=7 deep~2223)
refused "a 10,000-commit push with one bad commit deep in it" \
    "big/deep: message: $bad \"bad deep commit\"" origin refs/heads/deep:refs/heads/big/deep
is "the bad commit is the only one reported" "$(printf '%s\n' "$OUT" | grep -c 'message: ')" 1
# post-receive counts a linear fast-forward by its first-parent chain; one
# longer than 1,000 commits is named by its range, not counted.
accepted "a branch 1,500 commits behind" origin refs/heads/many~1500:refs/heads/big/short
accepted "a 3-commit fast-forward" origin refs/heads/many~1497:refs/heads/big/short
like "post-receive counts 3 commits" "$OUT" "remote: flowgate: big/short: 3 commits accepted, queued"
accepted "a 1,497-commit fast-forward" origin refs/heads/many:refs/heads/big/short
like "post-receive names a long fast-forward by its range" "$OUT" \
    "remote: flowgate: big/short: $(git rev-parse many~1497 | cut -c1-7)\\.\\.$(git rev-parse many | cut -c1-7) accepted, queued as event [0-9a-f]{7}"

# flowgate init links no update hook unless asked (--update-hook); the
# update hook alone (servers that run only update) gives the same verdict.
ok "no update hook by default" test ! -e "$R/hooks/update"
ok "init --update-hook links update" "$FG" init --update-hook "$R"
ok "the update hook is flowgate-hook" test "$(readlink -f "$R/hooks/update")" = "$(readlink -f "$FG_HOOK")"
rm "$R/hooks/pre-receive"
commit "no ticket"
refused "update hook alone" "remote: flowgate: develop: message: " origin HEAD:develop
git reset -q --hard origin/develop
ln -s "$(readlink -f "$FG_HOOK")" "$R/hooks/pre-receive"
commit "ABC-10 both hooks"
accepted "with both hooks, one verdict" origin HEAD:develop
is "one verdict line, not two" "$(printf '%s\n' "$OUT" | grep -c 'remote: flowgate: push to')" 1

# Stage gates: a push into a stage's branch faces the gates a promotion
# would.  The hook inherits the pusher's environment on a local push, so
# FLOWGATE_NOW fixes its clock.  Saturday noon in Berlin is outside a
# weekday 09:00-16:00 window; Monday 10:00 Berlin (09:00 UTC) is inside.
git reset -q --hard origin/develop
FLOWGATE_NOW=2026-11-21T11:00:00Z refused "a push to staging outside its window" \
    "staging: window: [0-9a-f]{7} \"ABC-10 both hooks\": .*" origin HEAD:staging
like "the window refusal says when it opens" "$OUT" "window"
FLOWGATE_NOW=2026-11-23T09:00:00Z accepted "a push to staging inside its window" origin HEAD:staging

# A gate without its facts fails and says which; with them it passes.
refused "a push to hotfix without a ci/build status" "hotfix: status: [0-9a-f]{7} .*ci/build" origin HEAD:hotfix
git --git-dir="$R" notes --ref=flowgate add -f -m '{"statuses": {"ci/build": {"state": "success"}}}' "$(git rev-parse HEAD)"
accepted "a push to hotfix once ci/build succeeded" origin HEAD:hotfix
n=$(git --git-dir="$R" notes --ref=flowgate show "$(git rev-parse HEAD)" | jq -c '[.statuses["ci/build"].state, [.pushes[].ref]]')
is "the pushes note joins the facts already noted" "$n" '["success",["refs/heads/hotfix"]]'

# A config that no longer loads (written behind flowgate's back) refuses
# every branch push until an admin, here through break-glass, fixes it.
git reset -q --hard origin/develop
good=$(git --git-dir="$R" rev-parse refs/flowgate/config)
blob=$(printf 'version: 1\ntemplate: nope\n' | git --git-dir="$R" hash-object -w --stdin)
tree=$(printf '100644 blob %s\tpipeline.yaml\n' "$blob" | git --git-dir="$R" mktree)
broken=$(git --git-dir="$R" commit-tree -p "$good" -m "broken behind our back" "$tree")
# The hooks keep the ids of the last config that passed the schemas in
# $GIT_DIR/flowgate-config.ok and skip that check while they match; a
# config changed behind their back does not match, and is checked.
goodblob=$(git --git-dir="$R" rev-parse "$good:pipeline.yaml")
like "the validated-config cache names the current config" "$(cat "$R/flowgate-config.ok")" "^checks-1 [0-9a-f]{40} [0-9a-f]{40} $goodblob [0-9a-f]{40}\$"
git --git-dir="$R" update-ref refs/flowgate/config "$broken"
commit "ABC-11 while broken"
refused "a push while the config does not load" "develop: config: the current config on 'refs/flowgate/config' does not load" origin HEAD:develop
like "a config that fails is not cached" "$(cat "$R/flowgate-config.ok")" " $goodblob "
git fetch -q origin refs/flowgate/config:refs/remotes/origin/config
git checkout -q -b fix origin/config
git checkout -q "$good" -- .
git commit -q -m "restore the config"
FLOWGATE_USER=admin refused "the fix by an admin of a config that does not load" "'admin' is not an admin" origin HEAD:refs/flowgate/config
echo admin > "$R/flowgate-admins"
FLOWGATE_USER=admin accepted "the fix through break-glass" origin HEAD:refs/flowgate/config
rm -f "$R/flowgate-admins"
git checkout -q develop
accepted "pushes work again" origin HEAD:develop

# The pushes notes go in post-receive's one pack with the inbox event.
commit "ABC-12 two branches at once"
packs=$(ls "$R"/objects/pack/*.pack | wc -l)
accepted "one commit pushed to two branches" origin HEAD:develop HEAD:feat/two
is "post-receive wrote one pack for the events and the note" "$(ls "$R"/objects/pack/*.pack | wc -l)" $((packs + 2))
n=$(git --git-dir="$R" notes --ref=flowgate show "$(git rev-parse HEAD)" | jq -c '[.pushes[].ref]')
is "one note on the commit names both pushes" "$n" '["refs/heads/develop","refs/heads/feat/two"]'
evs=$(git --git-dir="$R" log -2 --format=%H refs/flowgate/inbox | sort | tr '\n' ' ')
is "the note's entries name the two queued events" \
    "$(git --git-dir="$R" notes --ref=flowgate show "$(git rev-parse HEAD)" | jq -r '.pushes[].event' | sort | tr '\n' ' ')" "$evs"
ok "the notes and events are readable: fsck is clean" git --git-dir="$R" fsck --no-progress --strict
accepted "the same commit to a third branch" origin HEAD:feat/three
n=$(git --git-dir="$R" notes --ref=flowgate show "$(git rev-parse HEAD)" | jq -c '[.pushes[].ref]')
is "a later push adds to the note" "$n" '["refs/heads/develop","refs/heads/feat/two","refs/heads/feat/three"]'

# A tip whose note is not JSON: the push is queued all the same and the
# pusher is told that the note could not be written.
git --git-dir="$R" notes --ref=flowgate add -f -m 'not json' "$(git rev-parse HEAD)"
inbox=$(git --git-dir="$R" rev-list --count refs/flowgate/inbox)
accepted "a tip with a note that is not JSON" origin HEAD:feat/four
like "the pusher reads that the note was not written" "$OUT" "remote: flowgate: store: the notes were not written: the note on [0-9a-f]{40} in refs/notes/flowgate is not a JSON object"
like "the push is queued all the same" "$OUT" "queued as event [0-9a-f]{7}"
is "the event is in the inbox" "$(git --git-dir="$R" rev-list --count refs/flowgate/inbox)" $((inbox + 1))
is "the note is left as it was" "$(git --git-dir="$R" notes --ref=flowgate show "$(git rev-parse HEAD)")" "not json"

# A notes tree that git fanned out into subtrees: written the way libgit2
# writes notes, and the fanned-out note stays.
ntip=$(git --git-dir="$R" rev-parse refs/notes/flowgate)
fblob=$(echo '{"fanned": true}' | git --git-dir="$R" hash-object -w --stdin)
sub=$(printf '100644 blob %s\t%s\n' "$fblob" 23456789012345678901234567890123456789 | git --git-dir="$R" mktree)
ftree=$( (git --git-dir="$R" ls-tree "$ntip"; printf '040000 tree %s\t01\n' "$sub") | git --git-dir="$R" mktree)
git --git-dir="$R" update-ref refs/notes/flowgate "$(git --git-dir="$R" commit-tree -p "$ntip" -m fanned "$ftree")"
commit "ABC-13 into a fanned-out notes tree"
accepted "a push while the notes tree is fanned out" origin HEAD:develop
like "the pushed tip has its pushes note" "$(git --git-dir="$R" notes --ref=flowgate show "$(git rev-parse HEAD)" | jq -c '[.pushes[].ref]')" 'refs/heads/develop'
is "the fanned-out note is still there" "$(git --git-dir="$R" notes --ref=flowgate list | grep -c ' 0123456789012345678901234567890123456789$')" 1

# Progressive: production takes promotions only.
P=$T/p.git
"$FG" init --template progressive "$P" >/dev/null 2>&1
git push -q "$P" HEAD:main 2>/dev/null
_before=$(git --git-dir="$P" for-each-ref --format='%(refname) %(objectname)' | grep -v '^refs/flowgate/activity ')
OUT=$(git push "$P" HEAD:production 2>&1); _rc=$?
is "progressive: a direct push to production fails" "$_rc" 1
like "progressive: the pusher is told to promote" "$OUT" "remote: flowgate: production: direct-push: the progressive template takes changes into production by promotion only; promote the change instead"
is "progressive: production was not created" "$(git --git-dir="$P" for-each-ref --format='%(refname) %(objectname)' | grep -v '^refs/flowgate/activity ')" "$_before"

done_testing
