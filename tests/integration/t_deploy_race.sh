#!/bin/sh
# t_deploy_race.sh - deployments that overlap or lose their flowgate, on a
# real bare repository fed by real pushes:
#   - two 'flowgate deploy' of one commit to two environments, started
#     together in the background and ending together: the commit's note
#     keeps both deployments.<env> entries (the note merge is deep and
#     happens under the notes lock), several rounds;
#   - a 'flowgate deploy' killed -9 while its command sleeps: the command
#     dies with it (PR_SET_PDEATHSIG), and the next deployment to the
#     environment marks the first one interrupted.
. "$(dirname "$0")/lib.sh"

say() { printf "%s\n" "$1"; }
R=$T/r.git
W=$T/w
OUT=$T/out
mkdir -p "$OUT"
"$FG" init --template release "$R" >/dev/null 2>&1 || { echo "init failed"; exit 1; }
export FLOWGATE_USER=admin

# uat and sit each say they are ready, then wait for the other, so both
# end (and write their records and notes) at the same moment.  slow
# writes its pid, then becomes 'sleep' for as long as $OUT/secs says.
cat > "$T/p.yaml" <<EOF
version: 1
template: release
admins: [admin]
stages:
  integration: {branch: develop, environments: [qa]}
  staging: {branch: staging, environments: [uat, sit]}
  production: {branch: main, environments: [slow]}
environments:
  qa:   {deploy: {command: [/bin/true]}}
  uat:  {deploy: {command: [sh, -c, 'touch "\$1/uat.ready"; while [ ! -f "\$1/sit.ready" ]; do sleep 0.01; done', x, '$OUT'], timeout: 30}}
  sit:  {deploy: {command: [sh, -c, 'touch "\$1/sit.ready"; while [ ! -f "\$1/uat.ready" ]; do sleep 0.01; done', x, '$OUT'], timeout: 30}}
  slow: {deploy: {command: [sh, -c, 'echo \$\$ > "\$1/pid"; exec sleep "\$(cat "\$1/secs")"', x, '$OUT'], timeout: 120}}
EOF
"$FG" --repo "$R" config apply "$T/p.yaml" >/dev/null 2>&1
is "the config applies" "$?" 0

git clone -q "$R" "$W" 2>/dev/null
cd "$W" || exit 1

# Two environments, one commit, at once.
round=1
while [ $round -le 5 ]; do
	echo "round $round" > README
	git add README && git commit -q -m "round $round" &&
	    git push -q origin HEAD:develop 2>/dev/null
	c=$(git rev-parse HEAD)
	rm -f "$OUT/uat.ready" "$OUT/sit.ready"
	"$FG" --repo "$R" deploy uat "$c" > "$T/uat.out" 2>&1 &
	p1=$!
	"$FG" --repo "$R" deploy sit "$c" > "$T/sit.out" 2>&1 &
	p2=$!
	wait $p1; r1=$?
	wait $p2; r2=$?
	is "round $round: both deployments succeed" "$r1 $r2" "0 0"
	note=$(git --git-dir="$R" notes --ref=flowgate show "$c" 2>/dev/null)
	is "round $round: the note has both environments" \
	    "$(say "$note" | jq -c '.deployments | [.uat.status, .sit.status]')" \
	    '["succeeded","succeeded"]'
	is "round $round: each entry names its own record" \
	    "$(say "$note" | jq -r '.deployments | .uat.record + " " + .sit.record')" \
	    "$(git --git-dir="$R" rev-parse refs/flowgate/envs/uat) $(git --git-dir="$R" rev-parse refs/flowgate/envs/sit)"
	round=$((round + 1))
done

# The note keeps what others wrote next to the deployments.
"$FG" --repo "$R" status set "$c" ci/build success >/dev/null 2>&1
"$FG" --repo "$R" status set "$c" ci/build failure --description "tests broke" >/dev/null 2>&1
"$FG" --repo "$R" status set "$c" ci/build success >/dev/null 2>&1
note=$(git --git-dir="$R" notes --ref=flowgate show "$c" 2>/dev/null)
is "a status set after them leaves the deployments" \
    "$(say "$note" | jq -c '[.deployments.uat.status, .deployments.sit.status, .statuses."ci/build".state]')" \
    '["succeeded","succeeded","success"]'
is "a status set again says only what it says now" \
    "$(say "$note" | jq -c '.statuses."ci/build" | has("description")')" false

# A deploy whose flowgate is killed.
echo 60 > "$OUT/secs"
c=$(git rev-parse HEAD); s=$(echo "$c" | cut -c1-7)
FLOWGATE_USER=doomed "$FG" --repo "$R" deploy slow "$c" >/dev/null 2>&1 &
doomed=$!
i=0
while [ ! -s "$OUT/pid" ] && [ $i -lt 200 ]; do
	sleep 0.05; i=$((i + 1))
done
cmd=$(cat "$OUT/pid" 2>/dev/null)
like "the command started" "$cmd" '^[0-9]+$'
# The pid is sleep's once it exec'd; wait for that so we kill the right one.
i=0
while [ "$(cat /proc/"$cmd"/comm 2>/dev/null)" != sleep ] && [ $i -lt 100 ]; do
	sleep 0.02; i=$((i + 1))
done
is "it is running" "$(cat /proc/"$cmd"/comm 2>/dev/null)" sleep
kill -9 $doomed; wait $doomed 2>/dev/null
# gone PID: no such process, or a zombie waiting for init to reap it.
gone() {
	[ ! -e "/proc/$1" ] && return 0
	case "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null)" in
	Z*|X*|'') return 0 ;;
	esac
	return 1
}
i=0
while ! gone "$cmd" && [ $i -lt 100 ]; do
	sleep 0.05; i=$((i + 1))
done
ok "the command died with its flowgate" gone "$cmd"
[ -n "$cmd" ] && ! gone "$cmd" && kill -9 "$cmd" 2>/dev/null
is "the environment's tip still says started" \
    "$(git --git-dir="$R" show refs/flowgate/envs/slow:deployment.json | jq -r '.status + " " + .actor')" \
    "started doomed"
echo 0 > "$OUT/secs"
out=$("$FG" --repo "$R" deploy slow "$c" 2>&1); rc=$?
is "the next deployment runs" "$rc" 0
like "and succeeds" "$out" "^deploy slow: $s succeeded in [0-9]+s$"
is "the history says the first was interrupted" \
    "$(git --git-dir="$R" log -4 --format='%an %(trailers:key=Flowgate-Status,valueonly,separator=)' refs/flowgate/envs/slow)" \
    "admin succeeded
admin started
doomed interrupted
doomed started"
like "in words" "$(git --git-dir="$R" log -1 --skip=2 --format=%s refs/flowgate/envs/slow)" \
    "^deploy slow: $s interrupted \(started by doomed\): its process ended before it did$"

done_testing
