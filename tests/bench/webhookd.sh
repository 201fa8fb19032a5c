#!/bin/sh
# webhookd.sh - flowgate-webhookd against adnanh/webhook and a bare
# libevent server, with wrk on 127.0.0.1 and signed ~9 KB GitHub
# pull_request deliveries (each with its own delivery id).
#
#   flowgate-webhookd   every delivery verified, normalized and fsync'd
#                       into refs/flowgate/inbox (group commit) before 202
#   flowgate-burst      the same with limits.backlog 100000: the intake
#                       alone, without the engine's backpressure
#   webhook /bin/true   adnanh/webhook verifying the same signature and
#                       running /bin/true (its default: answer at once)
#   webhook no command  the same hook without a command
#   bare202 HMAC        libevent answering 202 after the HMAC check
#
# Prints requests/s and p50/p99 latency of each, flowgate's peak RSS
# (sampled every 0.2 s, and the kernel's high-water mark VmHWM), and
# the ratios; then an overload run (256 connections, a small queue) that
# must answer 503 rather than grow.  The machine's load average is printed
# before and after: the servers share the CPU with wrk and with whatever
# else runs, so compare ratios from one run, and rerun when the load is
# high.  Not part of 'make check'.
#
#   DURATION=10 CONNS=32 sh tests/bench/webhookd.sh
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
KEY=bench-secret
CORPUS=${FLOWGATE_SHARED:-$top/../shared}/corpus/webhooks

for p in wrk webhook jq; do
	if ! command -v $p >/dev/null 2>&1; then
		if [ "$(id -u)" -eq 0 ]; then
			apt-get install -y -qq $p >/dev/null 2>&1 ||
			    { apt-get update -qq && apt-get install -y -qq $p; } >/dev/null 2>&1
		fi
		command -v $p >/dev/null 2>&1 || { echo "bench: needs $p" >&2; exit 1; }
	fi
done
[ -x "$top/tests/bench/bare202" ] || make -C "$top" tests/bench/bare202 >/dev/null
T=$(mktemp -d "${TMPDIR:-/tmp}/fg-bench-XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

jq -c '{action, number, pull_request: (.pull_request |
    del(.head.repo, .base.repo, ._links)), repository: {id: .repository.id,
    full_name: .repository.full_name, name: .repository.name,
    owner: .repository.owner}, sender}' \
    "$CORPUS/github/pull_request.opened.json" > "$T/pr.json"
SIG=$(openssl dgst -sha256 -hmac "$KEY" < "$T/pr.json" | sed 's/^.*= //')
mkdir -p "$T/repos/Codertocat"
git init -q --bare "$T/repos/Codertocat/Hello-World.git"

# Each request carries a fresh delivery id: flowgate would answer a
# repeated one 200 duplicate without writing it.
cat > "$T/post.lua" <<EOF
local f = io.open("$T/pr.json", "rb")
local body = f:read("*a")
f:close()
local n = 0
local counter = 1
-- setup() runs in the main state; "id" becomes a global of the thread's.
function setup(thread)
	thread:set("id", counter)
	counter = counter + 1
end
function request()
	n = n + 1
	return wrk.format("POST", nil, {
		["Content-Type"] = "application/json",
		["X-GitHub-Event"] = "pull_request",
		["X-GitHub-Delivery"] = "bench-" .. id .. "-" .. n .. "-" .. os.time(),
		["X-Hub-Signature-256"] = "sha256=$SIG",
	}, body)
end
function done(summary, latency, requests)
	io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n",
	    summary.requests / (summary.duration / 1e6),
	    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
	    summary.errors.status, summary.requests))
end
EOF

port() {
	echo $(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000 ))
}

wait_up() {
	i=0
	while [ $i -lt 100 ]; do
		curl -s -o /dev/null "$1" && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

# start_whd ARGS...: flowgate-webhookd on a free port (a port taken by
# someone else makes it exit: try another); sets P and fpid.  Its log
# goes to /dev/null, as the other servers' do.
start_whd() {
	tries=0
	while [ $tries -lt 5 ]; do
		P=$(port)
		FLOWGATE_WEBHOOK_SECRET=$KEY "$top/webhookd/flowgate-webhookd" \
		    "$@" --listen "127.0.0.1:$P" 2>/dev/null &
		fpid=$!
		if wait_up "http://127.0.0.1:$P/healthz" &&
		    kill -0 "$fpid" 2>/dev/null; then
			pids="$pids $fpid"
			return 0
		fi
		kill "$fpid" 2>/dev/null
		wait "$fpid" 2>/dev/null
		tries=$((tries + 1))
	done
	echo "bench: webhookd did not start ($*)" >&2
	exit 1
}

# bench NAME URL [PID]: run wrk; record "NAME rps p50 p99 non2xx rss".
bench() {
	rss=0
	if [ -n "${3:-}" ]; then
		( while kill -0 "$3" 2>/dev/null; do
			grep VmRSS /proc/"$3"/status 2>/dev/null | awk '{print $2}'
			sleep 0.2
		done ) > "$T/rss.$1" &
		sampler=$!
	fi
	wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -s "$T/post.lua" "$2" \
	    > "$T/wrk.$1" 2>&1
	res=$(grep '^RESULT' "$T/wrk.$1" | cut -d' ' -f2-)
	if [ -n "${3:-}" ]; then
		kill "$sampler" 2>/dev/null
		wait "$sampler" 2>/dev/null
		rss=$(sort -n "$T/rss.$1" | tail -n 1)
	fi
	echo "$1 $res ${rss:-0}" >> "$T/results"
}

: > "$T/results"
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)

# flowgate-webhookd
start_whd --root "$T/repos"
bench flowgate "http://127.0.0.1:$P/hooks/github" "$fpid"
commits=$(curl -s "http://127.0.0.1:$P/metrics" | sed -n 's/^flowgate_inbox_commits_total //p')
dels=$(curl -s "http://127.0.0.1:$P/metrics" | sed -n 's/^flowgate_inbox_deliveries_total //p')
backlog=$(curl -s "http://127.0.0.1:$P/metrics" | sed -n 's/^flowgate_inbox_backlog //p')
# The kernel's high-water mark: the sampling (every 0.2 s) misses peaks
# that last a few milliseconds.
hwm=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' /proc/"$fpid"/status)
kill "$fpid"; wait "$fpid" 2>/dev/null

# The same with room for 100,000 unprocessed deliveries: the intake alone,
# as a burst meets it.  With the default limit (10,000) a sustained load
# faster than the engine drains the inbox gets 503s once the backlog is
# full, and the row above counts only what was accepted.
cat > "$T/burst.yaml" <<EOF
version: 1
root: $T/repos2
secret: {env: FLOWGATE_WEBHOOK_SECRET}
limits: {backlog: 100000}
EOF
mkdir -p "$T/repos2/Codertocat"
git init -q --bare "$T/repos2/Codertocat/Hello-World.git"
start_whd --config "$T/burst.yaml"
bench flowgate-burst "http://127.0.0.1:$P/hooks/github" "$fpid"
kill "$fpid"; wait "$fpid" 2>/dev/null

# adnanh/webhook, with /bin/true and with no command.
cat > "$T/hooks.json" <<EOF
[
  { "id": "github", "execute-command": "/bin/true",
    "command-working-directory": "$T",
    "trigger-rule": { "match": { "type": "payload-hmac-sha256",
      "secret": "$KEY",
      "parameter": { "source": "header", "name": "X-Hub-Signature-256" } } } },
  { "id": "nocmd", "execute-command": "",
    "trigger-rule": { "match": { "type": "payload-hmac-sha256",
      "secret": "$KEY",
      "parameter": { "source": "header", "name": "X-Hub-Signature-256" } } } }
]
EOF
P=$(port)
webhook -hooks "$T/hooks.json" -ip 127.0.0.1 -port "$P" >/dev/null 2>&1 &
wpid=$!
pids="$pids $wpid"
wait_up "http://127.0.0.1:$P/" || { echo "bench: webhook did not start" >&2; exit 1; }
bench webhook-true "http://127.0.0.1:$P/hooks/github"
bench webhook-nocmd "http://127.0.0.1:$P/hooks/nocmd"
kill "$wpid"; wait "$wpid" 2>/dev/null

# bare libevent, HMAC checked.
P=$(port)
"$top/tests/bench/bare202" --listen "127.0.0.1:$P" --secret "$KEY" &
bpid=$!
pids="$pids $bpid"
wait_up "http://127.0.0.1:$P/" || { echo "bench: bare202 did not start" >&2; exit 1; }
bench bare202 "http://127.0.0.1:$P/hooks/github"
kill "$bpid"; wait "$bpid" 2>/dev/null

echo "wrk: $THREADS threads, $CONNS connections, ${DURATION}s each; body $(wc -c < "$T/pr.json" | tr -d ' ') bytes"
echo "load average: $load0 before, $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) after; $(nproc) CPUs"
# 2xx/s counts only what was answered 2xx: a server shedding load with
# 503s answers fast, and its req/s says nothing about what it accepted.
# The ratios compare 2xx/s.
printf '%-16s %9s %9s %9s %9s %9s %9s\n' server 'req/s' '2xx/s' 'p50 ms' \
    'p99 ms' 'non-2xx' 'RSS MB'
while read -r name rps p50 p99 bad total rss; do
	printf '%-16s %9s %9s %9s %9s %9s %9s\n' "$name" "$rps" \
	    "$(awk -v r="$rps" -v b="$bad" -v t="$total" \
	    'BEGIN { printf "%.0f", (t > 0 ? r * (t - b) / t : 0) }')" \
	    "$p50" "$p99" "$bad" \
	    "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
done < "$T/results"
ok_rate() {
	awk -v n="$1" '$1 == n && $6 > 0 { printf "%.0f", $2 * ($6 - $5) / $6 }' \
	    "$T/results"
}
f=$(ok_rate flowgate)
echo "flowgate: $dels deliveries in $commits group commits (fsync'd), $backlog still to process"
echo "flowgate: resident at most ${hwm:-?} MB (VmHWM, from start to the end of the run)"
fb=$(ok_rate flowgate-burst)
for other in webhook-true webhook-nocmd bare202; do
	o=$(ok_rate $other)
	awk -v f="$f" -v fb="$fb" -v o="$o" -v n="$other" 'BEGIN {
	    if (o > 0) printf "flowgate / %-14s %.2fx, burst %.2fx (2xx/s)\n",
	    n, f / o, fb / o }'
done

# Overload: many connections, a small queue; 503s, and RSS stays bounded.
cat > "$T/small.yaml" <<EOF
version: 1
root: $T/repos
secret: {env: FLOWGATE_WEBHOOK_SECRET}
limits: {queue: 1MB, backlog: 2000}
EOF
start_whd --config "$T/small.yaml"
CONNS=256 bench overload "http://127.0.0.1:$P/hooks/github" "$fpid"
kill "$fpid"; wait "$fpid" 2>/dev/null
awk '$1 == "overload" { printf "overload (256 connections, queue 1 MB, backlog 2000): %s req/s, %s non-2xx (503), peak RSS %.1f MB\n", $2, $5, $7 / 1024 }' "$T/results"
