#!/bin/sh
# t_promote.sh - flowgate promote, approve, status set and rollback on real
# bare repositories with the hooks installed: the release template end to
# end (refusals that name the missing approval and status, both staging
# environments deployed and the branch moved, production's window and soak,
# a failing deployment that leaves production's branch alone, rollback, a
# hotfix and up-to-date), merge commits and conflicts, progressive's manual
# approval, two promotions racing for one stage, and hostile names reaching
# the deploy command only as inert values.  Deploy commands write what they
# received to a file.
. "$(dirname "$0")/lib.sh"

R=$T/r.git
W=$T/w
OUT=$T/deployed
"$FG" init --template release "$R" >/dev/null 2>&1 || { echo "init failed"; exit 1; }

# The deploy command: one line per deployment with what it was given;
# fails when $T/fail.<env> exists, sleeps while $T/slow exists.
cat > "$T/deploy" <<EOF
#!/bin/sh
PATH=/usr/bin:/bin
echo "start \$1" >> "$T/starts"
[ -e "$T/slow" ] && sleep 1
[ -e "$T/fail.\$1" ] && { echo "cannot reach \$1" >&2; exit 3; }
printf '%s|%s|%s|%s|%s|%s\n' "\$1" "\$FLOWGATE_COMMIT" "\$FLOWGATE_STAGE" \
    "\$FLOWGATE_REF" "\$FLOWGATE_ACTOR" "\$(pwd)" >> "$OUT"
echo "end \$1" >> "$T/starts"
EOF
chmod +x "$T/deploy"

config() {
	cat > "$T/p.yaml" <<EOF
version: 1
template: release
admins: [admin]
stages:
  developer: {pool: sandboxes}
  integration: {branch: develop, environments: [qa]}
  staging:
    branch: staging
    environments: [uat, uat2]
    gates: [{approvals: 1}, {status: [ci/build, ci/test]}]
  production:
    branch: main
    environments: [prod]
    gates:
$1
  hotfix: {branch: hotfix, environments: [hfx]}
environments:
  qa:   {deploy: {command: [$T/deploy, qa]}}
  uat:  {deploy: {command: [$T/deploy, uat]}}
  uat2: {deploy: {command: [$T/deploy, uat2]}}
  prod: {deploy: {command: [$T/deploy, prod]}}
  hfx:  {deploy: {command: [$T/deploy, hfx]}}
pools:
  sandboxes: {environments: [sb-1], deploy: {command: [$T/deploy, sb]}}
EOF
	FLOWGATE_USER=admin "$FG" --repo "$R" config apply "$T/p.yaml" >/dev/null
}

# A first commit on main and develop, before any gate exists.
git init -q "$W"
(cd "$W" && echo one > a.txt && git add a.txt && git commit -qm "ABC-1 first" &&
    git remote add origin "$R")
git --git-dir="$R" fetch -q "$W" HEAD:refs/heads/main HEAD:refs/heads/develop
config '      - window: {days: [mon, tue, wed, thu, fri], hours: "09:00-16:00", tz: Europe/Berlin}
      - soak: {minutes: 60}
      - up-to-date'
is "the release config applies" "$?" 0
cd "$W" || exit 1
export FLOWGATE_USER=alice

# Each command has --help.
for c in promote rollback approve status; do
	out=$("$FG" "$c" --help 2>&1); rc=$?
	is "$c --help exits 0" "$rc" 0
	like "$c --help shows its usage" "$out" "^usage: flowgate $c"
done
fails "promote without CHANGE is a usage error" "$FG" --repo "$R" promote
is "and exits 2" "$("$FG" --repo "$R" promote >/dev/null 2>&1; echo $?)" 2
is "an unknown option exits 2" "$("$FG" --repo "$R" promote develop --frob >/dev/null 2>&1; echo $?)" 2

# A change on develop, pushed for real.
echo two >> a.txt && git commit -qam "ABC-2 second"
git push -q origin HEAD:develop 2>/dev/null
C2=$(git rev-parse HEAD)
S2=$(git rev-parse --short=7 HEAD)

# pull N HEAD BASE AUTHOR [REVIEWER STATE]: refs/flowgate/pulls/N as the
# daemon writes it from forge events (t_promote_api.sh delivers real ones).
pull() {
	_rev=
	[ -n "${5:-}" ] && _rev=$(printf '{"user":"%s","state":"%s","commit":"%s"}' "$5" "${6:-approved}" "$2")
	printf '{"version":1,"number":%s,"forge":"github","title":"%s","author":"%s","head":{"ref":"refs/heads/feature","sha":"%s"},"base":{"ref":"refs/heads/%s"},"state":"open","reviews":[%s]}\n' \
	    "$1" "${PULL_TITLE:-a change}" "$4" "$2" "$3" "$_rev" > "$T/pull.json"
	_b=$(git --git-dir="$R" hash-object -w "$T/pull.json")
	_t=$(printf '100644 blob %s\tpull.json\n' "$_b" | git --git-dir="$R" mktree)
	_c=$(git --git-dir="$R" commit-tree -m "pull #$1" "$_t")
	git --git-dir="$R" update-ref "refs/flowgate/pulls/$1" "$_c"
}
activity() {
	git --git-dir="$R" log --format='%s' refs/flowgate/activity
}
tip() {
	git --git-dir="$R" rev-parse -q --verify "refs/heads/$1" || echo none
}

# Staging: refused without the approval and the statuses, by name.
export FLOWGATE_NOW=2026-11-23T08:00:00Z
out=$("$FG" --repo "$R" promote develop --to staging --dry-run 2>&1); rc=$?
is "a dry run with gates failing exits 1" "$rc" 1
like "the dry run explains the approvals gate" "$out" "approvals: FAIL: no pull request brings $S2 into staging"
like "and the status gate" "$out" "status: FAIL: no status 'ci/build' for $S2; no status 'ci/test'"
n0=$(activity | wc -l)
is "a dry run records nothing" "$(activity | wc -l)" "$n0"
out=$("$FG" --repo "$R" promote develop --to staging 2>&1); rc=$?
is "promote develop --to staging is refused" "$rc" 1
like "the summary names the missing approval" "$out" "approvals: $S2 'ABC-2 second': no pull request brings $S2 into staging; fix: open a pull request"
like "and the missing statuses" "$out" "status: $S2 'ABC-2 second': no status 'ci/build'"
is "staging was not created" "$(tip staging)" none
is "nothing was deployed" "$(cat "$OUT" 2>/dev/null)" ""
like "the log says who was refused and why" "$(activity | head -1)" "^promote $S2 to staging by alice: refused, 2 issues$"
like "steps 1 to 3 and 5 are recorded" "$(activity | head -4 | tr '\n' '#')" \
    "^promote $S2 to staging by alice: refused, 2 issues#promote $S2 to staging by alice: refused, 2 issues#promote $S2 to staging: from integration, branch staging, environments uat, uat2#promote develop: change is $S2 \(branch develop\)#$"
like "with the step and the run as trailers" \
    "$(git --git-dir="$R" log -1 --format='%(trailers:key=Flowgate-Step,key=Flowgate-Kind,key=Flowgate-Status,key=Flowgate-Stage)' refs/flowgate/activity)" \
    "Flowgate-Kind: promote
Flowgate-Stage: staging
Flowgate-Status: refused
Flowgate-Step: summary"
j=$("$FG" --repo "$R" promote develop --to staging --dry-run --json)
is "--json gives the outcome" "$(printf '%s' "$j" | jq -r .outcome)" refused
is "--json lists each issue's gate" "$(printf '%s' "$j" | jq -r '[.verdict.issues[].gate] | join(",")')" "approvals,status"
is "--json names the commit" "$(printf '%s' "$j" | jq -r .commit)" "$C2"

# Statuses and the approval: a pull request whose author approves himself
# does not count; another reviewer does.
ok "status set ci/build" "$FG" --repo "$R" status set "$C2" ci/build success
fails "status set with a bad state" "$FG" --repo "$R" status set "$C2" ci/test greenish
like "says which states exist" "$("$FG" --repo "$R" status set "$C2" ci/test greenish 2>&1)" "unknown state 'greenish' \(use success, failure, pending or error\)"
fails "status set on a commit that does not exist" "$FG" --repo "$R" status set 0123456789abcdef0123456789abcdef01234567 ci/test success
ok "status set ci/test by a short id" "$FG" --repo "$R" status set "$S2" ci/test success --description "all green"
is "the status is in the commit's note" "$(git --git-dir="$R" notes --ref=flowgate show "$C2" | jq -r '.statuses["ci/test"].state + " " + .statuses["ci/test"].description')" "success all green"
pull 5 "$C2" staging alice alice approved
out=$("$FG" --repo "$R" promote develop --to staging --dry-run 2>&1)
like "the author's own approval does not count" "$out" "approvals: FAIL"
pull 5 "$C2" staging alice bob approved
out=$("$FG" --repo "$R" promote develop --to staging --dry-run 2>&1); rc=$?
is "the dry run passes now" "$rc" 0
like "and explains why" "$out" "approvals: pass: .*bob"
out=$("$FG" --repo "$R" promote develop --to staging 2>&1); rc=$?
is "promote develop --to staging succeeds" "$rc" 0
like "it says what happened" "$out" "promoted $S2 \(branch develop\) to staging: uat, uat2 deployed; staging at $S2"
is "staging is at the change" "$(tip staging)" "$C2"
is "both staging environments got it, in order, with the facts" "$(cut -d'|' -f1-5 "$OUT")" \
    "uat|$C2|staging|refs/heads/develop|alice
uat2|$C2|staging|refs/heads/develop|alice"
unlike "deploy commands ran in a checkout, not the repository" "$(cut -d'|' -f6 "$OUT")" "$R"
like "the log reads as the five steps" "$(activity | grep -E "^promote (develop|$S2)" | head -5 | tr '\n' '#')" \
    "^promote $S2 to staging: promoted#promote $S2 to staging: deployed uat, uat2; staging at $S2#promote $S2 to staging by alice: gates passed#promote $S2 to staging: from integration, branch staging, environments uat, uat2#promote develop: change is $S2 \(branch develop\)#"
run=$(git --git-dir="$R" log -1 --format='%(trailers:key=Flowgate-Run,valueonly)' refs/flowgate/activity)
is "one run id ties the five steps and each deployment's start and end together" "$(git --git-dir="$R" log --format='%(trailers:key=Flowgate-Run,valueonly)' refs/flowgate/activity | grep -c "^$run$")" 9
is "the verdict is in the note" "$(git --git-dir="$R" notes --ref=flowgate show "$C2" | jq -r .gates.staging.verdict)" passed
is "the deployment is in the note" "$(git --git-dir="$R" notes --ref=flowgate show "$C2" | jq -r .deployments.uat.status)" succeeded
ok "git fsck is clean" git --git-dir="$R" fsck --no-progress

# Production: its window, its soak, a failing deployment.
: > "$OUT"
FLOWGATE_NOW=2026-11-23T08:30:00Z
out=$("$FG" --repo "$R" promote staging 2>&1); rc=$?
is "production is refused before its soak time" "$rc" 1
like "the summary says how long it soaked" "$out" "soak: $S2 'ABC-2 second': .*60 minutes"
unlike "inside the window, the window passes" "$out" "window:"
FLOWGATE_NOW=2026-11-28T10:00:00Z
out=$("$FG" --repo "$R" promote staging 2>&1); rc=$?
is "production is refused outside its window (a Saturday)" "$rc" 1
like "the summary names the window" "$out" "window: $S2 'ABC-2 second': "
unlike "the soak has passed by then" "$out" "soak:"
FLOWGATE_NOW=2026-11-23T10:00:00Z
main0=$(tip main)
touch "$T/fail.prod"
out=$("$FG" --repo "$R" promote staging 2>&1); rc=$?
is "a failing deployment fails the promotion" "$rc" 1
like "the summary names the deployment and why" "$out" "deploy: $S2: deployment to prod failed: .*exit"
is "production's branch stays where it was" "$(tip main)" "$main0"
like "the log says so" "$(activity | grep "^promote $S2 to production:" | head -2 | tr '\n' '#')" \
    "promote $S2 to production: deploy prod failed: .*; main stays at $(git rev-parse --short=7 "$main0")"
rm -f "$T/fail.prod"
out=$("$FG" --repo "$R" promote staging 2>&1); rc=$?
is "once the deployment works, production is promoted" "$rc" 0
is "main is at the change (a fast-forward)" "$(tip main)" "$C2"
is "prod got it" "$(tail -n 1 "$OUT" | cut -d'|' -f1-3)" "prod|$C2|production"

# A second release, then rollback.
echo three >> a.txt && git commit -qam "ABC-3 third" && git push -q origin HEAD:develop 2>/dev/null
C3=$(git rev-parse HEAD)
"$FG" --repo "$R" status set "$C3" ci/build success >/dev/null
"$FG" --repo "$R" status set "$C3" ci/test success >/dev/null
pull 6 "$C3" staging alice bob approved
FLOWGATE_NOW=2026-11-23T08:00:00Z
ok "the second release reaches staging" "$FG" --repo "$R" promote develop --to staging
FLOWGATE_NOW=2026-11-23T10:00:00Z
ok "and production" "$FG" --repo "$R" promote staging
is "main is at the second release" "$(tip main)" "$C3"
FLOWGATE_NOW=2026-11-28T10:00:00Z
out=$("$FG" --repo "$R" rollback prod 2>&1); rc=$?
is "rollback faces production's window" "$rc" 1
like "and says so" "$out" "window: "
out=$("$FG" --repo "$R" rollback prod --force 2>&1); rc=$?
is "--force is for admins" "$rc" 1
like "says who may" "$out" "'alice' is not an admin"
out=$("$FG" --repo "$R" rollback prod --force --actor admin 2>&1); rc=$?
is "an admin rolls back with --force outside the window" "$rc" 0
is "prod runs the previous release again" "$(tail -n 1 "$OUT" | cut -d'|' -f1-2)" "prod|$C2"
is "no branch moved" "$(tip main)" "$C3"
like "the log says rollback" "$(activity | head -3 | tr '\n' '#')" "^rollback ${C2%"${C2#???????}"} to production: done#"
FLOWGATE_NOW=2026-11-23T10:00:00Z
ok "rollback --to the second release, inside the window" "$FG" --repo "$R" rollback prod --to "$C3"
is "prod runs it" "$(tail -n 1 "$OUT" | cut -d'|' -f1-2)" "prod|$C3"
fails "rollback of an unknown environment" "$FG" --repo "$R" rollback nowhere
like "names it" "$("$FG" --repo "$R" rollback nowhere 2>&1)" "no environment 'nowhere'"

# Bad requests: clear errors, nothing recorded beyond the refusal.
fails "an unknown change" "$FG" --repo "$R" promote no-such-thing
like "is named" "$("$FG" --repo "$R" promote no-such-thing 2>&1)" "no branch, commit or pull request 'no-such-thing'"
like "a promotion goes up" "$("$FG" --repo "$R" promote main --to staging 2>&1)" "'staging' is not above 'production'"
like "production is the end" "$("$FG" --repo "$R" promote main 2>&1)" "production is the last stage"
like "an unknown pull request" "$("$FG" --repo "$R" promote '#99' 2>&1)" "no pull request #99"

# Hotfix: straight into production (the admin drops production's soak for
# it: a hotfix cannot wait an hour), then staging is refused by up-to-date.
config '      - window: {days: [mon, tue, wed, thu, fri], hours: "09:00-16:00", tz: Europe/Berlin}
      - up-to-date'
git checkout -q -b hf "$C3"
echo fix > fix.txt && git add fix.txt && git commit -qm "ABC-4 hotfix"
git push -q origin HEAD:hotfix 2>/dev/null
CH=$(git rev-parse HEAD)
out=$("$FG" --repo "$R" promote hotfix 2>&1); rc=$?
is "a hotfix is promoted straight into production" "$rc" 0
like "from hotfix" "$out" "promoted .* \(branch hotfix\) to production"
is "main has the hotfix" "$(tip main)" "$CH"
git checkout -q develop 2>/dev/null || git checkout -q -b develop "$C3"
git reset -q --hard "$C3"
echo four >> a.txt && git commit -qam "ABC-5 fourth" && git push -q origin HEAD:develop 2>/dev/null
C5=$(git rev-parse HEAD)
"$FG" --repo "$R" status set "$C5" ci/build success >/dev/null
"$FG" --repo "$R" status set "$C5" ci/test success >/dev/null
pull 7 "$C5" staging alice bob approved
ok "a change without the hotfix reaches staging" "$FG" --repo "$R" promote develop --to staging
out=$("$FG" --repo "$R" promote staging 2>&1); rc=$?
is "staging without the hotfix is refused for production" "$rc" 1
like "by up-to-date" "$out" "up-to-date: .*"
is "main still has the hotfix" "$(tip main)" "$CH"
git merge -q --no-edit "$CH" -m "ABC-6 take the hotfix"
git push -q origin HEAD:develop 2>/dev/null
C6=$(git rev-parse HEAD)
"$FG" --repo "$R" status set "$C6" ci/build success >/dev/null
"$FG" --repo "$R" status set "$C6" ci/test success >/dev/null
pull 8 "$C6" staging alice bob approved
ok "develop with the hotfix reaches staging" "$FG" --repo "$R" promote develop --to staging
ok "and then production" "$FG" --repo "$R" promote staging
is "main is at it, the hotfix kept" "$(tip main)" "$C6"

# A stage without up-to-date gets a merge commit flowgate writes; a
# conflict is an issue naming the files, and nothing moves.
git checkout -q -b side "$C6~1" 2>/dev/null
echo other > other.txt && git add other.txt && git commit -qm "ABC-7 beside"
git push -q origin HEAD:side 2>/dev/null
CS=$(git rev-parse HEAD)
"$FG" --repo "$R" status set "$CS" ci/build success >/dev/null
"$FG" --repo "$R" status set "$CS" ci/test success >/dev/null
pull 9 "$CS" staging alice bob approved
: > "$OUT"
out=$("$FG" --repo "$R" promote "$CS" --to staging 2>&1); rc=$?
is "a change beside staging's tip is promoted" "$rc" 0
like "with a merge commit" "$out" "staging at [0-9a-f]{7} \(a merge commit\)"
M=$(tip staging)
is "the merge has staging's old tip and the change as parents" "$(git --git-dir="$R" rev-list --parents -1 "$M" | cut -d' ' -f2-)" "$C6 $CS"
is "the merge commit is what was deployed" "$(cut -d'|' -f1-2 "$OUT" | tr '\n' ' ')" "uat|$M uat2|$M "
git checkout -q -b clash "$C3" 2>/dev/null
echo clash > a.txt && git commit -qam "ABC-8 clash"
git push -q origin HEAD:clash 2>/dev/null
CC=$(git rev-parse HEAD)
"$FG" --repo "$R" status set "$CC" ci/build success >/dev/null
"$FG" --repo "$R" status set "$CC" ci/test success >/dev/null
pull 10 "$CC" staging alice bob approved
: > "$OUT"
out=$("$FG" --repo "$R" promote clash --to staging 2>&1); rc=$?
is "a conflicting change is refused" "$rc" 1
like "the issue names the file" "$out" "merge: .*conflicts in a.txt"
is "staging did not move" "$(tip staging)" "$M"
is "nothing was deployed" "$(cat "$OUT")" ""

# Two promotions racing for one stage are serialized: one deploys, the
# other waits, then finds nothing left to do.
git checkout -q develop
echo five >> a.txt && git commit -qam "ABC-9 race" && git push -q origin HEAD:develop 2>/dev/null
CR=$(git rev-parse HEAD)
"$FG" --repo "$R" status set "$CR" ci/build success >/dev/null
"$FG" --repo "$R" status set "$CR" ci/test success >/dev/null
pull 11 "$CR" staging alice bob approved
: > "$T/starts"
touch "$T/slow"
"$FG" --repo "$R" promote develop --to staging > "$T/race1" 2>&1 &
p1=$!
"$FG" --repo "$R" promote develop --to staging > "$T/race2" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
rm -f "$T/slow"
is "exactly one of the racers promoted" "$(cat "$T/race1" "$T/race2" | grep -c '^promoted ')" 1
is "the other was refused, not failed" "$((r1 + r2))" 1
like "having found staging at the change" "$(cat "$T/race1" "$T/race2")" "branch: .*staging already contains"
is "each environment deployed once, one at a time" "$(cat "$T/starts" | tr '\n' ' ')" "start uat end uat start uat2 end uat2 "
ok "staging holds the change (merged: staging had a change beside it)" git --git-dir="$R" merge-base --is-ancestor "$CR" staging

# Hostile names reach the deploy command only as values.
: > "$OUT"
BR='x$(touch${IFS}pwned);`touch${IFS}pwned2`'
git checkout -q -b "$BR" develop
echo six >> a.txt && git commit -qam 'ABC-10 $(touch pwned3) `id` ; rm -rf /'
git push -q origin "HEAD:refs/heads/$BR" 2>/dev/null
CB=$(git rev-parse HEAD)
"$FG" --repo "$R" status set "$CB" ci/build success >/dev/null
"$FG" --repo "$R" status set "$CB" ci/test success >/dev/null
PULL_TITLE='$(touch pwned4); `touch pwned5` && echo $HOME | cat' pull 12 "$CB" staging alice bob approved
out=$(cd "$T" && "$FG" --repo "$R" promote '#12' --to staging --actor 'eve; touch pwned6' 2>&1); rc=$?
is "a pull request with a hostile title is promoted" "$rc" 0
ok "staging holds the change" git --git-dir="$R" merge-base --is-ancestor "$CB" staging
is "the deploy command got the values verbatim" "$(cut -d'|' -f1-5 "$OUT" | head -1)" "uat|$(tip staging)|staging|refs/flowgate/pulls/12|eve; touch pwned6"
is "no shell ran any of it" "$(ls "$T" "$W" "$R" 2>/dev/null | grep -c pwned)" 0
out=$("$FG" --repo "$R" promote "$BR" --to production --dry-run 2>&1)
like "a hostile branch name is a change like any other" "$out" "\(branch x\\\$\(touch"
is "still no shell" "$(ls "$T" "$W" "$R" 2>/dev/null | grep -c pwned)" 0

# Progressive: production needs a manual approval by an allowed user.
P=$T/p.git
"$FG" init --template progressive "$P" >/dev/null 2>&1
cat > "$T/prog.yaml" <<EOF
version: 1
template: progressive
admins: [admin]
stages:
  developer: {pool: sandboxes}
  staging: {branch: main, environments: [stg]}
  production:
    branch: production
    environments: [live]
    gates: [{manual: {approvers: [carol]}}]
environments:
  stg:  {deploy: {command: [$T/deploy, stg]}}
  live: {deploy: {command: [$T/deploy, live]}}
pools:
  sandboxes: {environments: [sb-1], deploy: {command: [$T/deploy, sb]}}
EOF
FLOWGATE_USER=admin "$FG" --repo "$P" config apply "$T/prog.yaml" >/dev/null
is "the progressive config applies" "$?" 0
git push -q "$P" "$C2:refs/heads/main" 2>/dev/null
out=$("$FG" --repo "$P" promote main 2>&1); rc=$?
is "progressive: production is refused without approval" "$rc" 1
like "the manual gate says who may approve" "$out" "manual: .*carol"
out=$("$FG" --repo "$P" approve main --stage production 2>&1); rc=$?
is "approve by someone not allowed fails" "$rc" 1
like "saying who may" "$out" "'alice' may not approve changes for production"
fails "approve needs --stage" "$FG" --repo "$P" approve main
out=$("$FG" --repo "$P" approve main --stage production --actor carol 2>&1); rc=$?
is "carol approves" "$rc" 0
like "approve says what" "$out" "approved ${C2%"${C2#???????}"} \(branch main\) for production by carol"
is "the approval is in the note" "$(git --git-dir="$P" notes --ref=flowgate show "$C2" | jq -r '.approvals.production.carol.user')" carol
out=$("$FG" --repo "$P" promote main 2>&1); rc=$?
is "progressive: promoted once approved" "$rc" 0
is "production is at the change" "$(git --git-dir="$P" rev-parse production)" "$C2"
ok "git fsck is clean at the end" git --git-dir="$R" fsck --no-progress

done_testing
