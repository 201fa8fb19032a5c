#!/bin/sh
# t_pools.sh - 'flowgate pool list|lease|release|expire' on a real bare
# repository: environments leased in config order, a full pool that
# queues and hands the next freed environment to the head of its queue,
# the reset command run on release with the facts in its environment and
# recorded, leases that expire (FLOWGATE_NOW moves the clock), processes
# leasing at once that never share an environment, bad input that gets a
# clear error and writes nothing, and the history in
# 'git log refs/flowgate/pools/<pool>', checked against its schema.
. "$(dirname "$0")/lib.sh"

say() { printf "%s\n" "$1"; }
R=$T/r.git
OUT=$T/out
mkdir -p "$OUT"
"$FG" init --template release "$R" >/dev/null 2>&1 || { echo "init failed"; exit 1; }
export FLOWGATE_USER=alice
cat > "$T/p.yaml" <<EOF
version: 1
template: release
stages:
  integration: {branch: develop, environments: [qa]}
  staging: {branch: staging, environments: [uat]}
  production: {branch: main, environments: [prod]}
  developer: {pool: sandboxes}
environments:
  qa:   {deploy: {command: ['true']}}
  uat:  {deploy: {command: ['true']}}
  prod: {deploy: {command: ['true']}}
pools:
  sandboxes:
    environments: [sb-1, sb-2]
    lease_minutes: 30
    deploy: {command: ['true']}
    reset: [sh, -c, 'echo "\$FLOWGATE_POOL \$FLOWGATE_ENV \$FLOWGATE_HOLDER \$FLOWGATE_ACTOR" >> $OUT/resets; echo wiped']
  big: {environments: [b-1, b-2, b-3]}
  flaky: {environments: [f-1], reset: [sh, -c, 'echo cannot wipe; exit 5']}
EOF
"$FG" --repo "$R" config apply "$T/p.yaml" >/dev/null 2>&1
is "the config with pools applies" "$?" 0
pool() { "$FG" --repo "$R" pool "$@"; }
schema_ok() {	# schema_ok POOL: leases.json at the tip is valid
	git --git-dir="$R" show "refs/flowgate/pools/$1:leases.json" > "$T/l.json" &&
	jq -e '.version == 1 and (.leases | type) == "array" and (.queue | type) == "array"' "$T/l.json" >/dev/null
}

# --help and usage.
out=$("$FG" pool --help); is "pool --help exits 0" "$?" 0
like "it prints the usage" "$out" "^usage: flowgate pool list"
like "it explains release's reset" "$out" "--no-reset"
out=$("$FG" pool lease --help); is "pool lease --help exits 0" "$?" 0
like "and prints the usage" "$out" "flowgate pool lease \[--repo DIR\] \[--json\] POOL HOLDER"
"$FG" pool >/dev/null 2>&1; is "pool without a subcommand exits 2" "$?" 2
out=$(pool frobnicate 2>&1); is "an unknown subcommand exits 2" "$?" 2
like "and is named" "$out" "unknown pool subcommand 'frobnicate'"
pool lease sandboxes >/dev/null 2>&1; is "lease without HOLDER exits 2" "$?" 2
pool list --no-reset >/dev/null 2>&1; is "--no-reset outside release exits 2" "$?" 2

# An untouched pool is all free.
out=$(pool list); is "pool list exits 0" "$?" 0
like "it lists the pool" "$out" "^sandboxes: 2 environments, 2 free, 0 waiting, leases last 30 min, reset on release$"
like "with its free environments" "$out" "^  sb-1 +free$"
is "pool list --json lists every pool" "$(pool list --json | jq -c '[.[] | .pool]')" '["sandboxes","big","flaky"]'

# Bad input: a clear error, nothing written.
out=$(pool lease nope pull/1 2>&1); is "an unknown pool exits 1" "$?" 1
is "and says so" "$out" "flowgate: no pool 'nope' in the config"
out=$(pool lease sandboxes 'pull/1;rm -rf' 2>&1); is "a bad holder exits 1" "$?" 1
like "and says what a holder may be" "$out" "^flowgate: bad holder 'pull/1;rm -rf': use 1 to 128 letters"
out=$(pool lease sandboxes '../../x' 2>&1); is "a holder starting with '.' exits 1" "$?" 1
out=$(pool release sandboxes pull/9 2>&1); is "releasing what nobody holds exits 1" "$?" 1
is "and says so" "$out" "flowgate: 'pull/9' holds no environment of pool 'sandboxes' and is not waiting for one"
is "nothing was written" "$(git --git-dir="$R" for-each-ref refs/flowgate/pools/)" ""

# Leasing in config order; a full pool queues.
out=$(pool lease sandboxes pull/1); is "lease exits 0" "$?" 0
like "pull/1 gets sb-1" "$out" "^pool sandboxes: sb-1 leased to pull/1 until [0-9T:-]+Z$"
out=$(FLOWGATE_USER=bob pool lease --json sandboxes pull/2)
is "pull/2 gets sb-2 (--json)" "$(say "$out" | jq -r '.outcome + " " + .env + " " + .holder')" "leased sb-2 pull/2"
out=$(pool lease sandboxes pull/1); is "asking again exits 0" "$?" 0
like "and says it is already held" "$out" "^pool sandboxes: sb-1 is already held by pull/1"
n0=$(git --git-dir="$R" rev-list --count refs/flowgate/pools/sandboxes)
is "one commit per lease, none for asking again" "$n0" 2
out=$(FLOWGATE_USER=carol pool lease sandboxes pull/3); is "leasing from a full pool exits 0" "$?" 0
is "and queues" "$out" "pool sandboxes: no environment free; pull/3 waits, number 1 in line"
out=$(FLOWGATE_USER=dave pool lease --json sandboxes pull/4)
is "the next one is second in line" "$(say "$out" | jq -c '[.outcome, .position]')" '["queued",2]'
out=$(pool list)
like "list shows who holds sb-1" "$out" "^  sb-1 +pull/1 \(alice\) until "
like "and the queue in order" "$out" "^  waiting 1: pull/3 \(carol\) since "
like "second in line" "$out" "^  waiting 2: pull/4 \(dave\) since "
ok "leases.json is well formed" schema_ok sandboxes

# Release: reset runs, the queue's head gets the environment.
out=$(pool release sandboxes pull/1 2>&1); is "release exits 0" "$?" 0
like "it hands sb-1 to pull/3" "$out" "^pool sandboxes: sb-1 released by pull/1; now leased to pull/3"
like "and reports the reset" "$out" "^pool sandboxes: sb-1 reset$"
is "the reset got the facts" "$(cat "$OUT/resets")" "sandboxes sb-1 pull/1 alice"
act=$(git --git-dir="$R" log -1 --format='%s|%(trailers:key=Flowgate-Kind,valueonly,separator=)|%(trailers:key=Flowgate-Status,valueonly,separator=)' refs/flowgate/activity)
is "the reset is in the activity log" "$act" "pool sandboxes: reset sb-1 after pull/1 succeeded|pool.reset|succeeded"
is "with its output" "$(git --git-dir="$R" show refs/flowgate/activity:log)" "wiped"
j=$(pool list --json | jq -c '.[0] | [.leases[] | .env + "=" + .holder], [.queue[].holder]')
is "pull/3 holds sb-1, pull/4 still waits" "$(say "$j" | tr '\n' ' ')" '["sb-1=pull/3","sb-2=pull/2"] ["pull/4"] '
sub=$(git --git-dir="$R" log -1 --format='%s|%an|%(trailers:key=Flowgate-Kind,valueonly,separator=)|%(trailers:key=Flowgate-Holder,valueonly,separator=)' refs/flowgate/pools/sandboxes)
is "the pool's git log says it" "$sub" "pool sandboxes: sb-1 released by pull/1, leased to pull/3|alice|pool.release|pull/1"
out=$(pool release --json --no-reset sandboxes pull/4)
is "a waiter leaves the line (--json)" "$(say "$out" | jq -c '[.holder, .env, .next]')" '["pull/4",null,null]'
out=$(pool release --no-reset sandboxes pull/2); is "release --no-reset exits 0" "$?" 0
is "sb-2 is free again" "$out" "pool sandboxes: sb-2 released by pull/2"
is "and no reset ran" "$(wc -l < "$OUT/resets" | tr -d ' ')" 1
ok "leases.json is still well formed" schema_ok sandboxes

# A failing reset: the release stands, the failure is reported and recorded.
pool lease flaky pull/7 >/dev/null
out=$(pool release flaky pull/7 2>&1); is "a failing reset exits 1" "$?" 1
like "and says why" "$out" "^flowgate: pool flaky: reset of f-1 failed: exit 5$"
is "the lease is released all the same" "$(pool list --json | jq -r '.[2].free[0]')" f-1
is "the failure is recorded" "$(git --git-dir="$R" log -1 --format=%s refs/flowgate/activity)" \
    "pool flaky: reset f-1 after pull/7 failed: exit 5"

# Expiry: leases last lease_minutes (30) from when they were taken.
pool release --no-reset sandboxes pull/3 >/dev/null
FLOWGATE_NOW=2030-01-01T10:00:00Z pool lease sandboxes pull/20 >/dev/null
FLOWGATE_NOW=2030-01-01T10:05:00Z pool lease sandboxes pull/21 >/dev/null
out=$(FLOWGATE_NOW=2030-01-01T10:29:00Z pool expire); is "expire exits 0" "$?" 0
like "nothing expires early" "$out" "^no lease has expired$"
out=$(FLOWGATE_NOW=2030-01-01T10:30:00Z pool expire); is "expire at the time exits 0" "$?" 0
like "pull/20's lease (sb-1) expires" "$out" "^pool sandboxes: sb-1 expired by pull/20$"
unlike "pull/21's lease does not" "$out" "pull/21"
like "its reset ran" "$(tail -n 1 "$OUT/resets")" "^sandboxes sb-1 pull/20 "
is "the pool's log says expired" "$(git --git-dir="$R" log -1 --format='%s|%an|%(trailers:key=Flowgate-Kind,valueonly,separator=)' refs/flowgate/pools/sandboxes)" \
    "pool sandboxes: sb-1 expired by pull/20|flowgate|pool.expire"
out=$(FLOWGATE_NOW=2030-01-02T00:00:00Z pool expire --json)
is "expire --json lists what expired" "$(say "$out" | jq -c '[.[] | .env + "=" + .holder]')" '["sb-2=pull/21"]'
is "the pool is empty again" "$(pool list --json | jq -c '.[0].free')" '["sb-1","sb-2"]'

# Processes leasing at once never get the same environment.
i=0
while [ $i -lt 8 ]; do
	pool lease --json big "race/$i" > "$T/race.$i" 2>&1 &
	i=$((i + 1))
done
wait
leased=$(cat "$T"/race.* | jq -r 'select(.outcome == "leased") | .env' | sort)
is "three racers got an environment each" "$(say "$leased" | tr '\n' ' ')" "b-1 b-2 b-3 "
is "five were queued" "$(cat "$T"/race.* | jq -r 'select(.outcome == "queued") | .position' | sort -n | tr '\n' ' ')" "1 2 3 4 5 "
is "the state agrees" "$(pool list --json | jq -c '.[1] | [(.leases | length), (.queue | length), (.free | length)]')" "[3,5,0]"
is "one commit per racer: none lost" "$(git --git-dir="$R" rev-list --count refs/flowgate/pools/big)" 8
ok "leases.json of the raced pool is well formed" schema_ok big
# Releasing all three lets the first three waiters in, in order.
first=$(pool list --json | jq -r '.[1].queue[0].holder')
holder=$(pool list --json | jq -r '.[1].leases[0].holder')
out=$(pool release big "$holder")
like "a release hands over to the first waiter" "$out" "now leased to $first "

# Nothing outside flowgate may write the pools' refs.
git clone -q "$R" "$T/w" 2>/dev/null
(cd "$T/w" && git commit -q --allow-empty -m x && git push origin HEAD:refs/flowgate/pools/big) >/dev/null 2>&1
isnt_pushed=$?
is "a push to refs/flowgate/pools/ is refused" "$isnt_pushed" 1

# The same through the REST API, on the real daemon.
. "$(dirname "$0")/whd.sh"
ROOT=$T/repos
APP=$ROOT/acme/app.git
mkdir -p "$ROOT/acme"
"$FG" init --template release "$APP" >/dev/null 2>&1
"$FG" --repo "$APP" config apply "$T/p.yaml" >/dev/null 2>&1
is "the API's repository has the pools" "$?" 0
export FLOWGATE_WEBHOOK_SECRET=$WHD_KEY
READ=$(echo "read-token-1" | "$FG_WHD" --hash-token)
OPER=$(echo "operate-token-2" | "$FG_WHD" --hash-token)
cat > "$T/whd.yaml" <<EOF
version: 1
root: $ROOT
secret: {env: FLOWGATE_WEBHOOK_SECRET}
tokens:
  - {name: reader, hash: '$READ', role: read}
  - {name: ci, hash: '$OPER', role: operate}
EOF
whd_start --config "$T/whd.yaml" || done_testing
A=/api/v1/repos/acme/app
get() {
	_c=$(curl -s -o "$T/.body" -w '%{http_code}' ${2:+-H "Authorization: Bearer $2"} "$URL$1")
	echo "$_c $(cat "$T/.body")"
}
send() { post "$1" "$3" ${2:+-H "Authorization: Bearer $2"}; }
body() { printf '%s' "$1" > "$T/b.json"; echo "$T/b.json"; }
# The holder of a real pull request delivery.
PR=$(jq -r '"pull/" + (.number | tostring)' "$CORPUS/github/pull_request.opened.json")

r=$(get "$A/pools")
is "no token is 401" "$r" '401 {"error":"missing bearer token"}'
r=$(get "$A/pools" read-token-1)
like "GET pools lists every pool" "$r" '^200 \[\{"pool":"sandboxes","environments":\["sb-1","sb-2"\],"lease_minutes":30,"reset":true,"leases":\[\],"queue":\[\],"free":\["sb-1","sb-2"\]\}'
r=$(get "$A/pools/big" read-token-1)
like "GET pools/big is one pool" "$r" '^200 \{"pool":"big",'
r=$(get "$A/pools/nope" read-token-1)
is "an unknown pool is 404" "$r" "404 {\"error\":\"no pool 'nope' in the config\"}"
r=$(get "$A/pools/Bad%20Name" read-token-1)
is "a bad pool name is 404" "$r" '404 {"error":"no such route"}'
r=$(send "$A/pools/sandboxes/lease" read-token-1 "$(body "{\"holder\":\"$PR\"}")")
is "a read token may not lease: 403" "$r" "403 {\"error\":\"token 'reader' may only read: leasing needs the operate role\"}"
r=$(get "$A/pools/sandboxes/lease" operate-token-2)
like "GET on lease is 405" "$r" '^405 '
r=$(send "$A/pools/sandboxes/lease" operate-token-2 "$(body '{"holder":"pull/1;x"}')")
like "a bad holder is 400" "$r" '^400 \{"error":"body: holder: must be 1 to 128 letters'
r=$(send "$A/pools/sandboxes/lease" operate-token-2 "$(body '{}')")
like "a missing holder is 400" "$r" "^400 \\{\"error\":\"body: missing required field 'holder'"
r=$(send "$A/pools/sandboxes/lease" operate-token-2 "$(body '{"holder":')")
like "truncated JSON is 400" "$r" '^400 '
is "nothing was written by refused requests" "$(git --git-dir="$APP" for-each-ref refs/flowgate/pools/)" ""
r=$(send "$A/pools/sandboxes/lease" operate-token-2 "$(body "{\"holder\":\"$PR\"}")")
is "POST lease leases sb-1" "$(say "$r" | cut -d' ' -f2- | jq -c '[.outcome, .env, .holder]')" "[\"leased\",\"sb-1\",\"$PR\"]"
like "with 200" "$r" '^200 '
is "the token is the actor" "$(git --git-dir="$APP" log -1 --format=%an refs/flowgate/pools/sandboxes)" ci
send "$A/pools/sandboxes/lease" operate-token-2 "$(body '{"holder":"pull/900"}')" >/dev/null
r=$(send "$A/pools/sandboxes/lease" operate-token-2 "$(body '{"holder":"pull/901"}')")
is "a full pool queues" "$(say "$r" | cut -d' ' -f2- | jq -c '[.outcome, .position]')" '["queued",1]'
r=$(send "$A/pools/sandboxes/release" operate-token-2 "$(body "{\"holder\":\"$PR\"}")")
is "POST release frees sb-1, resets it, hands it on" \
    "$(say "$r" | cut -d' ' -f2- | jq -c '[.env, .holder, .reset, .reset_ok, .next.holder]')" "[\"sb-1\",\"$PR\",true,true,\"pull/901\"]"
like "the reset ran for the API too" "$(tail -n 1 "$OUT/resets")" "^sandboxes sb-1 $PR ci$"
r=$(send "$A/pools/sandboxes/release" operate-token-2 "$(body '{"holder":"pull/900","reset":false}')")
is "reset false skips the reset" "$(say "$r" | cut -d' ' -f2- | jq -c '[.env, .reset, .next]')" '["sb-2",false,null]'
r=$(send "$A/pools/sandboxes/release" operate-token-2 "$(body '{"holder":"pull/900"}')")
is "releasing what is not held is 404" "$r" "404 {\"error\":\"'pull/900' holds no environment of pool 'sandboxes' and is not waiting for one\"}"
r=$(get "$A/pools/sandboxes" read-token-1)
is "GET shows the state" "$(say "$r" | cut -d' ' -f2- | jq -c '[[.leases[] | .env + "=" + .holder], .free]')" '[["sb-1=pull/901"],["sb-2"]]'
r=$(get "$A/pools/sandboxes/frob" read-token-1)
is "an unknown pool route is 404" "$r" '404 {"error":"no such route"}'
whd_stop
is "the daemon stops cleanly" "$WHD_RC" 0

done_testing
