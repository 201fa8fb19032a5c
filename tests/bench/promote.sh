#!/bin/sh
# promote.sh - what one promotion costs.
#
# Median wall time of promoting develop to staging in a repository whose
# tree holds 1,000 files, staging deploying to one environment with
# /bin/true, behind gates status [ci/build] and up-to-date, three ways:
#   library   fg_promote_run() in a process that has the repository open
#             and the config loaded (promote_bench.c): the daemon's case
#   flowgate  'flowgate promote develop --to staging': load the config,
#             evaluate the gates (status from the note, up-to-date), lock
#             the stage, a fresh checkout of the change and /bin/true in
#             it with the facts in its environment, the deployment's start
#             and end on refs/flowgate/envs/<env> and in the activity log,
#             the branch moved by compare-and-swap, the five steps recorded
#   script    the same steps scripted with the git CLI as such release
#             scripts usually are: read the status from the note, check
#             ancestry, a checkout (git archive | tar) and /bin/true, a
#             record commit before and after (hash-object,
#             mktree, commit-tree, update-ref with the old value), the
#             branch moved with update-ref's old-value check, one record
#             per step
# Every run promotes in a fresh copy of the repository (copying is not
# timed), one that has checked its config once, as a repository in use
# has (flowgate-config.ok; a cold check adds ~2.5 ms once per config
# change).  Target: flowgate under 20 ms, and at least 5x faster than the
# script.  Most of flowgate's time is the checkout: the kernel's work
# creating 1,000 files, whoever writes them (~9 ms on one core of this
# machine in tmpfs: ~5 us to create a file, ~3 us to write its first
# page; proc.c writes the blobs itself, libgit2's checkout cost three
# times as much).  A promotion starts writing it on a thread of its own
# right after the stage lock, while it checks the gates and records, and
# its own thread writes along once it gets to the deployment (deploy.h,
# fg_deploy_prep_new()): with a second core free that hides the gates and
# the records; with the other core busy it cannot.  The rest: starting the
# program, opening the repository and loading the config (~1.3 ms), six
# ref updates and a batch (~3 ms), running /bin/true (~1 ms), and this
# harness's spawn and wait.  The checkout is removed after the answer, by
# a detached process; the script's run waits (untimed) until that is
# done, so it does not compete with it.  promote_bench's per-phase medians
# are printed after the table: "deploy: checkout" is the wait for the
# checkout made ahead, what of it the promotion's other work did not hide.
#
# Where it runs matters more than anything flowgate does: a checkout
# writes 1,000 files, which takes ~800 ms on a disk mounted with
# "discard" (this machine's /tmp) whoever writes them, and ~10 ms on
# tmpfs.  The benchmark therefore runs, checkouts included ($TMPDIR), in
# /dev/shm when it exists; BENCH_TMPDIR chooses another place.
#
#   sh tests/bench/promote.sh [RUNS]   (default 21)
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
FG=$TOP/cli/flowgate
RUNS=${1:-21}
NFILES=${BENCH_FILES:-1000}
if [ -n "${BENCH_TMPDIR:-}" ]; then
	TMPDIR=$BENCH_TMPDIR
elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
	TMPDIR=/dev/shm
fi
export TMPDIR
B=$(mktemp -d "${TMPDIR:-/tmp}/fg-bench-XXXXXX")
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf "$B"' EXIT
export HOME=$B/home GIT_CONFIG_NOSYSTEM=1 FLOWGATE_HOOK=$TOP/hooks/flowgate-hook
mkdir -p "$HOME"
git config --global user.name Bench
git config --global user.email bench@example.com
git config --global init.defaultBranch main

# t PROGRAM ARGS...: its wall time in microseconds (timing in sh would
# cost milliseconds: date and cut, twice), appended to $B/t; its status.
t() {
	"$TOP/tests/bench/promote_bench" --time "$@" >> "$B/t"
}
median() {
	sort -n | awk '{ v[NR] = $1 } END { m = v[int((NR + 1) / 2)]; printf "%.1f", m / 1000 }'
}

# The repository: main and staging at the first commit, develop one ahead.
R0=$B/r0.git
"$FG" init --template release "$R0" >/dev/null 2>&1 || { echo "init failed"; exit 1; }
W=$B/w
git init -q "$W"
(
	cd "$W" || exit 1
	i=0
	mkdir -p src
	while [ $i -lt "$NFILES" ]; do
		echo "file $i" > "src/f$i.txt"
		i=$((i + 1))
	done
	git add -A && git commit -qm "ABC-1 a thousand files"
	echo change >> src/f0.txt && git commit -qam "ABC-2 a change"
)
git --git-dir="$R0" fetch -q "$W" HEAD:refs/heads/develop
first=$(git --git-dir="$R0" rev-parse develop~1)
git --git-dir="$R0" update-ref refs/heads/main "$first"
git --git-dir="$R0" update-ref refs/heads/staging "$first"
cat > "$B/p.yaml" <<EOF
version: 1
template: release
admins: [admin]
stages:
  developer: {pool: sandboxes}
  integration: {branch: develop, environments: [qa]}
  staging:
    branch: staging
    environments: [uat]
    gates: [{status: [ci/build]}, up-to-date]
  production: {branch: main, environments: [prod]}
environments:
  qa:   {deploy: {command: [/bin/true]}}
  uat:  {deploy: {command: [/bin/true]}}
  uat2: {deploy: {command: [/bin/true]}}
  prod: {deploy: {command: [/bin/true]}}
pools:
  sandboxes: {environments: [sb-1], deploy: {command: [/bin/true]}}
EOF
FLOWGATE_USER=admin "$FG" --repo "$R0" config apply "$B/p.yaml" >/dev/null || exit 1
C=$(git --git-dir="$R0" rev-parse develop)
"$FG" --repo "$R0" status set "$C" ci/build success >/dev/null || exit 1
# A repository in use has checked its config once (flowgate-config.ok,
# lib/config.c): a dry run does that and records nothing.
FLOWGATE_USER=bench "$FG" --repo "$R0" promote develop --to staging --dry-run >/dev/null ||
    { echo "the dry run failed"; exit 1; }
git --git-dir="$R0" gc -q

# The script: the same steps with git plumbing.
cat > "$B/promote-script" <<'SH'
#!/bin/sh
set -eu
R=$1 CHANGE=$2 TARGET=$3
record() {
	blob=$(printf '{"kind":"promote","subject":"%s"}\n' "$1" | git --git-dir="$R" hash-object -w --stdin)
	tree=$(printf '100644 blob %s\trecord.json\n' "$blob" | git --git-dir="$R" mktree)
	prev=$(git --git-dir="$R" rev-parse -q --verify refs/flowgate/activity || true)
	new=$(git --git-dir="$R" commit-tree ${prev:+-p "$prev"} -m "$1

Flowgate-Kind: promote
Flowgate-Stage: staging
Flowgate-Commit: $c" "$tree")
	git --git-dir="$R" update-ref refs/flowgate/activity "$new" $prev
}
c=$(git --git-dir="$R" rev-parse --verify "refs/heads/$CHANGE^{commit}")
record "promote $CHANGE: change is $c"
record "promote $c to $TARGET: environments uat"
state=$(git --git-dir="$R" notes --ref=flowgate show "$c" 2>/dev/null |
    tr -d ' \t\n' | sed -n 's/.*"ci\/build":{"state":"\([a-z]*\)".*/\1/p')
[ "$state" = success ] || { echo "status ci/build: $state"; exit 1; }
old=$(git --git-dir="$R" rev-parse "refs/heads/$TARGET")
git --git-dir="$R" merge-base --is-ancestor "$old" "$c" || { echo "not up to date"; exit 1; }
record "promote $c to $TARGET: gates passed"
for env in uat; do
	d=$(mktemp -d)
	git --git-dir="$R" archive "$c" | tar -x -C "$d"
	record "deploy $env: $c started"
	(cd "$d" && FLOWGATE_COMMIT=$c FLOWGATE_ENV=$env /bin/true)
	record "deploy $env: $c succeeded"
	rm -rf "$d"
done
git --git-dir="$R" update-ref "refs/heads/$TARGET" "$c" "$old"
record "promote $c to $TARGET: deployed uat"
record "promote $c to $TARGET: promoted"
SH
chmod +x "$B/promote-script"

: > "$B/t.flowgate"
: > "$B/t.script"
export FLOWGATE_USER=bench
i=0
while [ $i -lt "$RUNS" ]; do
	rm -rf "$B/a.git" "$B/b.git"
	cp -r "$R0" "$B/a.git"
	cp -r "$R0" "$B/b.git"
	: > "$B/t"
	t "$FG" --repo "$B/a.git" promote develop --to staging 2>"$B/err" ||
	    { echo "flowgate promote failed:"; cat "$B/err"; exit 1; }
	# flowgate's checkout is removed in the background after it answers:
	# let that finish so it does not slow the script down.
	k=0
	while ls -d "${TMPDIR:-/tmp}"/flowgate-deploy-* >/dev/null 2>&1 && [ $k -lt 200 ]; do
		sleep 0.01; k=$((k + 1))
	done
	t "$B/promote-script" "$B/b.git" develop staging 2>"$B/err" ||
	    { echo "the script failed:"; cat "$B/err"; exit 1; }
	sed -n 1p "$B/t" >> "$B/t.flowgate"
	sed -n 2p "$B/t" >> "$B/t.script"
	i=$((i + 1))
done
[ "$(git --git-dir="$B/a.git" rev-parse staging)" = "$C" ] || { echo "flowgate did not move staging"; exit 1; }
l=$("$TOP/tests/bench/promote_bench" "$R0" develop staging "$RUNS" 2>"$B/phases") ||
    { echo "promote_bench failed:"; cat "$B/phases"; exit 1; }
[ "$(git --git-dir="$B/b.git" rev-parse staging)" = "$C" ] || { echo "the script did not move staging"; exit 1; }

f=$(median < "$B/t.flowgate")
s=$(median < "$B/t.script")
echo "promote develop to staging: $NFILES files, 1 environment, $RUNS runs (median ms, $TMPDIR)"
printf '  %-10s %8s\n' library "$l" flowgate "$f" script "$s"
awk -v l="$l" -v f="$f" -v s="$s" 'BEGIN {
	printf "  ratio      %8.1fx script / flowgate, %.1fx script / library\n", s / f, s / l
	printf "  target     flowgate < 20 ms: %s; >= 5x: %s\n",
	    (f < 20) ? "met" : "NOT met", (s / f >= 5) ? "met" : "NOT met"
}'
echo "library, by phase (median ms; parenthesized: before the promotion):"
cat "$B/phases"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
