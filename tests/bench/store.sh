#!/bin/sh
# store.sh - benchmark the state store (make bench; not a timed test).
#
# Prints one table: single appends per second at 1k, 10k and 100k records
# (the rate of the 1000 appends ending there, packing they trigger
# included), batches of 100, four concurrent writers, the plain libgit2
# loop, and the same appends done with git plumbing (hash-object -w, mktree,
# commit-tree, update-ref REF NEW OLD) measured in the same run, with ratios
# to that baseline; then how long git log takes over the last 100,000
# records.  Runs on disk under $TMPDIR.  STORE_BENCH_N (default 100000) and
# STORE_BENCH_PLUMBING (default 300) change the sizes.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
SB=$top/tests/bench/store_bench
N=${STORE_BENCH_N:-100000}
PLUMB=${STORE_BENCH_PLUMBING:-300}
[ -x "$SB" ] || { echo "store.sh: build tests/bench/store_bench first" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/fg-bench-store-XXXXXX")
trap 'rm -rf "$dir"' EXIT
export GIT_CONFIG_NOSYSTEM=1 HOME="$dir"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
newrepo() { git init -q --bare "$dir/$1"; echo "$dir/$1"; }

# The baseline: what a shell script around git plumbing does per record.
plumbing() {
	export GIT_DIR="$1" GIT_AUTHOR_NAME=alice GIT_AUTHOR_EMAIL=a@x \
	    GIT_COMMITTER_NAME=flowgate GIT_COMMITTER_EMAIL=flowgate@localhost
	old=0000000000000000000000000000000000000000
	i=0
	while [ "$i" -lt "$2" ]; do
		i=$((i + 1))
		b=$(printf '{"version":1,"kind":"deploy","seq":%d}\n' "$i" |
		    git hash-object -w --stdin)
		t=$(printf '100644 blob %s\trecord.json\n' "$b" | git mktree)
		if [ "$old" = 0000000000000000000000000000000000000000 ]; then
			c=$(printf 'deploy prod: %d\n\nFlowgate-Kind: deploy\n' \
			    "$i" | git commit-tree "$t")
		else
			c=$(printf 'deploy prod: %d\n\nFlowgate-Kind: deploy\n' \
			    "$i" | git commit-tree "$t" -p "$old")
		fi
		git update-ref refs/flowgate/activity "$c" "$old"
		old=$c
	done
	unset GIT_DIR
}

echo "flowgate store benchmark: $(git --version), libgit2 $(pkg-config \
    --modversion libgit2 2>/dev/null), $(nproc) cpus, $(df -T "$dir" |
    awk 'NR == 2 { print $2 }') under $dir, load $(cut -d' ' -f1 \
    /proc/loadavg 2>/dev/null)"
# On ext4 without a journal, every file creation scans past the inodes
# freed in the last minute or more (recently_deleted() in the kernel): any
# mass deletion on the disk, ours (the cleanup of an earlier run) or
# anyone's, slows creation down for a while.  The store deletes nothing
# while appending; this says when the disk is of that kind.
dev=$(df -P "$dir" | awk 'NR == 2 { sub("^/dev/", "", $1); print $1 }')
if [ "$(cat /sys/fs/ext4/"$dev"/journal_task 2>/dev/null)" = "<none>" ]; then
	echo "note: $dev is ext4 without a journal: file creation is slow for a"
	echo "      while after many deletions anywhere on it (numbers are noisy)"
fi

r=$(newrepo plumbing.git)
t0=$(now)
plumbing "$r" "$PLUMB"
base=$(awk -v n="$PLUMB" -v s="$(since "$t0")" 'BEGIN { printf "%.0f", n / s }')

r=$(newrepo single.git)
single=$("$SB" single "$r" "$N" 1000 10000 "$N") || exit 1
w1=$(echo "$single" | awk '$1 == "single" && $2 == 1000 { print $3; exit }')
w10=$(echo "$single" | awk '$1 == "single" && $2 == 10000 { print $3; exit }')
wn=$(echo "$single" | awk -v n="$N" '$1 == "single" && $2 == n { print $3; exit }')
cum=$(echo "$single" | awk -v n="$N" '$1 == "single" && $2 == n { print $4; exit }')
stats=$(echo "$single" | awk '$1 == "single-stats" { print $2, "loose objects packed,", $4, "packs written,", $6, "merged" }')
packs=$(ls "$r/objects/pack" | grep -c '\.idx$')
loose=$(git -C "$r" count-objects -v | sed -n 's/^count: //p')
t0=$(now)
git -C "$r" log --format='%an %s' -n 100000 refs/flowgate/activity >/dev/null
logt=$(since "$t0")
t0=$(now)
git -C "$r" log --format='%(trailers:key=Flowgate-Status,valueonly)' \
    -n 100000 refs/flowgate/activity >/dev/null
logtr=$(since "$t0")

r=$(newrepo batch.git)
batch=$("$SB" batch "$r" "$N" 100 | awk '{ print $4 }') || exit 1
bpacks=$(ls "$r/objects/pack" | grep -c '\.idx$')

r=$(newrepo conc1.git)
one=$("$SB" concurrent "$r" 1 10000 | awk '{ print $4 }')
r=$(newrepo conc4.git)
four=$("$SB" concurrent "$r" 4 2500) || exit 1
fourr=$(echo "$four" | awk '{ print $4 }')
retries=$(echo "$four" | awk '{ print $5 }')
count=$(git -C "$r" rev-list --count refs/flowgate/activity)

r=$(newrepo libgit2.git)
lg=$("$SB" libgit2 "$r" 10000)
lg1=$(echo "$lg" | awk '{ print $3 }')
lgn=$(echo "$lg" | awk '{ print $4 }')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }
row() { printf '%-46s %9s  %s\n' "$1" "$2" "$3"; }
echo
row "" "records/s" "vs git plumbing"
row "git plumbing, $PLUMB single appends" "$base" "1.0x"
row "store, single appends 1-1000" "$w1" "$(ratio "$w1" "$base")"
row "store, single appends 9001-10000" "$w10" "$(ratio "$w10" "$base")"
row "store, single appends $((N - 999))-$N" "$wn" "$(ratio "$wn" "$base")"
row "store, single appends 1-$N on average" "$cum" "$(ratio "$cum" "$base")"
row "store, batches of 100, $N records" "$batch" "$(ratio "$batch" "$base")"
row "store, 1 writer x 10000" "$one" "$(ratio "$one" "$base")"
row "store, 4 writers x 2500 together" "$fourr" "$(ratio "$fourr" "$base")"
row "plain libgit2 loop, appends 1-1000" "$lg1" "$(ratio "$lg1" "$base")"
row "plain libgit2 loop, appends 9001-10000" "$lgn" "$(ratio "$lgn" "$base")"
echo
echo "time per append at $N vs at 1000: $(awk -v a="$w1" -v b="$wn" \
    'BEGIN { printf "%.2fx", a / b }') (target <= 1.2x)"
echo "4 writers vs 1: $(ratio "$fourr" "$one") (target >= 1.0x), \
$retries retries per append, $count of 10000 commits"
echo "single-append run: $stats; left $packs packs, $loose loose objects"
echo "batch run: $bpacks packs left"
echo "git log over the last 100000 records: ${logt}s (%an %s), \
${logtr}s (%(trailers)) (target < 1 s)"
