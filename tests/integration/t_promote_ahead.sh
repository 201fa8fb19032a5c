#!/bin/sh
# t_promote_ahead.sh - a promotion writes its first environment's checkout
# on a thread of its own while it checks the gates, and appends steps 1-3
# with that deployment's "started" record (lib/promote.c): what a user must
# still see.  The deploy command runs in a checkout that is exactly the
# promoted commit (files, modes, links, subdirectories, as git archive
# gives them); a refused promotion leaves no checkout behind; when the
# first environment is busy, steps 1-3 are still on record before the
# outcome, the verdict is in the note and the branch stays; a merge
# deploys the merge commit's tree, not the change's made ahead.
. "$(dirname "$0")/lib.sh"

R=$T/r.git
W=$T/w
TMP=$T/tmp
mkdir -p "$TMP"
"$FG" init --template release "$R" >/dev/null 2>&1 || { echo "init failed"; exit 1; }

# The deploy command: what its checkout holds, as a listing with the
# executable bit and link targets, and a hash of every file's bytes.
cat > "$T/deploy" <<EOF
#!/bin/sh
PATH=/usr/bin:/bin
{
	echo "\$1 \$FLOWGATE_COMMIT \$(pwd)"
	find . -mindepth 1 \( -type l -printf 'l %p -> %l\n' \) -o \
	    \( -type d -printf 'd %p\n' \) -o \( -type f -perm -u+x -printf 'x %p\n' \) -o \( -type f -printf 'f %p\n' \) | sort
	find . -type f | sort | xargs cat | md5sum
} > "$T/seen.\$1"
EOF
chmod +x "$T/deploy"
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
    gates: [{status: [ci/build]}]
  production: {branch: main, environments: [prod]}
environments:
  qa:   {deploy: {command: [$T/deploy, qa]}}
  uat:  {deploy: {command: [$T/deploy, uat]}}
  uat2: {deploy: {command: [$T/deploy, uat2]}}
  prod: {deploy: {command: [$T/deploy, prod]}}
pools:
  sandboxes: {environments: [sb-1], deploy: {command: [$T/deploy, sb]}}
EOF
FLOWGATE_USER=admin "$FG" --repo "$R" config apply "$T/p.yaml" >/dev/null
is "the config applies" "$?" 0

# A tree with subdirectories, an executable, a link and 300 files.
git init -q "$W"
(
	cd "$W" || exit 1
	mkdir -p src/deep/er bin
	i=0
	while [ $i -lt 300 ]; do echo "file $i" > "src/f$i.txt"; i=$((i + 1)); done
	echo "deep" > src/deep/er/x.txt
	printf '#!/bin/sh\necho hi\n' > bin/run && chmod +x bin/run
	ln -s src/deep/er/x.txt link
	git add -A && git commit -qm "ABC-1 first"
)
git --git-dir="$R" fetch -q "$W" HEAD:refs/heads/main
git --git-dir="$R" update-ref refs/heads/staging main
(cd "$W" && echo two >> src/f1.txt && git rm -q src/f2.txt && git commit -qam "ABC-2 second")
git --git-dir="$R" fetch -q "$W" HEAD:refs/heads/develop
C=$(git --git-dir="$R" rev-parse develop)

# expect COMMIT: the listing and hash git archive gives for COMMIT.
expect() {
	rm -rf "$T/x" && mkdir "$T/x"
	git --git-dir="$R" archive "$1" | tar -x -C "$T/x"
	(
		cd "$T/x" || exit 1
		find . -mindepth 1 \( -type l -printf 'l %p -> %l\n' \) -o \
		    \( -type d -printf 'd %p\n' \) -o \( -type f -perm -u+x -printf 'x %p\n' \) -o \( -type f -printf 'f %p\n' \) | sort
		find . -type f | sort | xargs cat | md5sum
	)
}
# leftovers: checkouts still in $TMP once the detached removals are done.
leftovers() {
	i=0
	while [ $i -lt 100 ] && [ -n "$(ls "$TMP")" ]; do sleep 0.05; i=$((i + 1)); done
	ls "$TMP"
}
activity() {
	git --git-dir="$R" log --format='%s' refs/flowgate/activity
}

# Refused (no status yet): nothing deployed, no checkout left behind.
out=$(TMPDIR=$TMP "$FG" --repo "$R" promote develop --to staging 2>&1); rc=$?
is "without its status the promotion is refused" "$rc" 1
like "saying why" "$out" "status: .*ci/build"
is "no deployment ran" "$(ls "$T" | grep -c '^seen\.')" 0
is "the checkout made ahead was removed" "$(leftovers)" ""
is "the refusal's verdict is in the note" "$(git --git-dir="$R" notes --ref=flowgate show "$C" | jq -r .gates.staging.verdict)" refused

# Promoted: each environment's checkout is the commit exactly.
"$FG" --repo "$R" status set "$C" ci/build success >/dev/null
out=$(TMPDIR=$TMP FLOWGATE_USER=alice "$FG" --repo "$R" promote develop --to staging 2>&1); rc=$?
is "with its status it is promoted" "$rc" 0
exp=$(expect "$C")
is "uat's checkout (made ahead) is the commit: files, executables, link" "$(sed 1d "$T/seen.uat")" "$exp"
is "uat2's checkout (its own) is the commit too" "$(sed 1d "$T/seen.uat2")" "$exp"
like "each ran in a checkout under TMPDIR" "$(head -1 "$T/seen.uat")" "^uat $C $TMP/flowgate-deploy-"
unlike "a fresh one each" "$(head -1 "$T/seen.uat2" | cut -d' ' -f3)" "^$(head -1 "$T/seen.uat" | cut -d' ' -f3)\$"
is "both checkouts are removed afterwards" "$(leftovers)" ""
is "the log: steps 1-3, then uat's start, its end, uat2's, steps 4-5" "$(activity | head -9 | tr '\n' '#')" \
"promote ${C%"${C#???????}"} to staging: promoted#promote ${C%"${C#???????}"} to staging: deployed uat, uat2; staging at ${C%"${C#???????}"}#deploy uat2: ${C%"${C#???????}"} succeeded in 0s#deploy uat2: ${C%"${C#???????}"} started by alice#deploy uat: ${C%"${C#???????}"} succeeded in 0s#deploy uat: ${C%"${C#???????}"} started by alice#promote ${C%"${C#???????}"} to staging by alice: gates passed#promote ${C%"${C#???????}"} to staging: from integration, branch staging, environments uat, uat2#promote develop: change is ${C%"${C#???????}"} (branch develop)#"
note=$(git --git-dir="$R" notes --ref=flowgate show "$C")
is "the verdict is in the note" "$(echo "$note" | jq -r .gates.staging.verdict)" passed
is "with both deployments" "$(echo "$note" | jq -r '[.deployments.uat.status, .deployments.uat2.status] | join(" ")')" "succeeded succeeded"
is "and the status it had" "$(echo "$note" | jq -r '.statuses["ci/build"].state')" success

# The first environment busy: the promotion fails, steps 1-3 are still on
# record ahead of the outcome, and staging stays.
(cd "$W" && echo three >> src/f3.txt && git commit -qam "ABC-3 third")
git --git-dir="$R" fetch -q "$W" HEAD:refs/heads/develop
C3=$(git --git-dir="$R" rev-parse develop)
S3=$(echo "$C3" | cut -c1-7)
"$FG" --repo "$R" status set "$C3" ci/build success >/dev/null
rm -f "$T"/seen.*
mkdir -p "$R/flowgate/locks"
flock "$R/flowgate/locks/env-uat.lock" sh -c "touch '$T/held'; sleep 3" &
holder=$!
i=0
while [ ! -e "$T/held" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
before=$(git --git-dir="$R" rev-parse staging)
out=$(TMPDIR=$TMP FLOWGATE_USER=bob "$FG" --repo "$R" promote develop --to staging --wait 0 2>&1); rc=$?
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
is "with uat busy the promotion fails" "$rc" 1
like "saying so" "$out" "deployment to uat busy: environment 'uat' is busy"
is "staging stays" "$(git --git-dir="$R" rev-parse staging)" "$before"
is "nothing was deployed" "$(ls "$T" | grep -c '^seen\.')" 0
like "the log: steps 1-3, then 4 and 5" "$(activity | head -5 | tr '\n' '#')" \
"^promote $S3 to staging by bob: failed, 1 issue#promote $S3 to staging: deploy uat busy: environment 'uat' is busy[^#]*; staging stays at ${C%"${C#???????}"}#promote $S3 to staging by bob: gates passed#promote $S3 to staging: from integration, branch staging, environments uat, uat2#promote develop: change is $S3 \\(branch develop\\)#\$"
is "the verdict is in the note" "$(git --git-dir="$R" notes --ref=flowgate show "$C3" | jq -r .gates.staging.verdict)" passed
is "the checkout made ahead was removed" "$(leftovers)" ""

# A merge: staging has a commit develop lacks, so the new tip is a merge
# commit, and that is what gets deployed, not the change made ahead.
(cd "$W" && git checkout -q -b st "$C" && echo side > side.txt && git add side.txt && git commit -qm "ABC-4 side")
git --git-dir="$R" fetch -q "$W" st:refs/heads/staging
out=$(TMPDIR=$TMP FLOWGATE_USER=bob "$FG" --repo "$R" promote develop --to staging 2>&1); rc=$?
is "the merge promotion succeeds" "$rc" 0
M=$(git --git-dir="$R" rev-parse staging)
is "staging is a merge of the change" "$(git --git-dir="$R" rev-parse "$M^2")" "$C3"
like "uat got the merge commit" "$(head -1 "$T/seen.uat")" "^uat $M "
is "and its tree, both sides" "$(sed 1d "$T/seen.uat")" "$(expect "$M")"
is "no checkout is left" "$(leftovers)" ""
ok "git fsck is clean" git --git-dir="$R" fsck --no-progress
done_testing
