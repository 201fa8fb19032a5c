#!/bin/sh
# webhookd.sh - flowgate-webhookd against adnanh/webhook and a bare
# libevent server, with wrk on 127.0.0.1 and signed ~9 KB GitHub
# pull_request deliveries (each with its own delivery id and body).
#
#   flowgate-webhookd   every delivery verified, normalized and on disk in
#                       refs/flowgate/inbox before 202 (group commit,
#                       synced through the repository's journal)
#   flowgate-burst      the same with limits.backlog 100000: the intake
#                       alone, without the engine's backpressure
#   webhook /bin/true   adnanh/webhook verifying the same signature and
#                       running /bin/true (its default: answer at once)
#   webhook no command  the same hook without a command
#   bare202 HMAC        libevent answering 202 after the HMAC check
#
# flowgate-webhookd, webhook /bin/true and webhook with no command take
# turns, ROUNDS times (3): on a shared machine whose speed drifts over
# minutes, one run of each compared the moments more than the servers
# (1.3x to 2.1x in runs of the same build, and 0.82x to 1.26x against
# webhook with no command when it ran once after the rounds).  Each ratio
# printed is the median of the rounds' ratios.
#
# Prints requests/s and p50/p99 latency of each, flowgate's peak RSS
# (sampled every 0.2 s, and the kernel's high-water mark VmHWM), and
# the ratios; then an overload run (256 connections, a small queue) that
# must answer 503 rather than grow.  The machine's load average is printed
# before and after: the servers share the CPU with wrk and with whatever
# else runs, so compare ratios from one run, and rerun when the load is
# high.  Not part of 'make check'.
#
#   DURATION=10 CONNS=32 ROUNDS=3 sh tests/bench/webhookd.sh
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
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
mkdir -p "$T/repos/Codertocat"
git init -q --bare "$T/repos/Codertocat/Hello-World.git"

# Each request carries a fresh delivery id and a body of its own: flowgate
# answers a repeated id, or a signed body it has seen before under any id,
# 200 duplicate without writing it.  The body is the payload with a
# "bench" member added at the end, signed in the script: the payload (its
# closing brace dropped, padded with spaces to a multiple of SHA-256's 64
# byte block) is hashed once per thread, and each request hashes only its
# own short tail, two SHA-256 blocks in all, so wrk's load barely grows.
body=$(cat "$T/pr.json")
printf '%s' "${body%\}}" > "$T/prefix"
pad=$(( (64 - $(wc -c < "$T/prefix") % 64) % 64 ))
head -c "$pad" /dev/zero | tr '\0' ' ' >> "$T/prefix"
cat > "$T/post.lua" <<EOF
local bit = require("bit")
local band, bxor, bnot, rshift, ror, tobit, tohex = bit.band, bit.bxor,
    bit.bnot, bit.rshift, bit.ror, bit.tobit, bit.tohex
local byte, char, rep = string.byte, string.char, string.rep
local K = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2 }
for i = 1, 64 do K[i] = tobit(K[i]) end
local IV = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f,
	0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
for i = 1, 8 do IV[i] = tobit(IV[i]) end
local W = {}

local function compress(H, s, o)
	for i = 0, 15 do
		local a, b, c, d = byte(s, o + 4 * i + 1, o + 4 * i + 4)
		W[i] = tobit(a * 16777216 + b * 65536 + c * 256 + d)
	end
	for i = 16, 63 do
		local x, y = W[i - 15], W[i - 2]
		W[i] = tobit(W[i - 16] + bxor(ror(x, 7), ror(x, 18), rshift(x, 3)) +
		    W[i - 7] + bxor(ror(y, 17), ror(y, 19), rshift(y, 10)))
	end
	local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6],
	    H[7], H[8]
	for i = 0, 63 do
		local t1 = tobit(h + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) +
		    bxor(band(e, f), band(bnot(e), g)) + K[i + 1] + W[i])
		local t2 = tobit(bxor(ror(a, 2), ror(a, 13), ror(a, 22)) +
		    bxor(band(a, b), band(a, c), band(b, c)))
		h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a,
		    tobit(t1 + t2)
	end
	H[1] = tobit(H[1] + a); H[2] = tobit(H[2] + b)
	H[3] = tobit(H[3] + c); H[4] = tobit(H[4] + d)
	H[5] = tobit(H[5] + e); H[6] = tobit(H[6] + f)
	H[7] = tobit(H[7] + g); H[8] = tobit(H[8] + h)
end

local function be32(x)
	return char(band(rshift(x, 24), 255), band(rshift(x, 16), 255),
	    band(rshift(x, 8), 255), band(x, 255))
end

-- Hash the rest of a message (tail) into H; total: its whole length.
local function finish(H, tail, total)
	local bits = total * 8
	local m = tail .. char(128) .. rep(char(0), (55 - total) % 64) ..
	    be32(math.floor(bits / 4294967296)) .. be32(bits % 4294967296)
	for o = 0, #m - 1, 64 do compress(H, m, o) end
	local d = ""
	for i = 1, 8 do d = d .. be32(H[i]) end
	return d
end

local function copy(H) return { H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8] } end

local f = io.open("$T/prefix", "rb")
local prefix = f:read("*a")
f:close()
local key = "$KEY"
key = key .. rep(char(0), 64 - #key)
local ipad, opad = {}, {}
for i = 1, 64 do
	ipad[i] = char(bxor(byte(key, i), 0x36))
	opad[i] = char(bxor(byte(key, i), 0x5c))
end
local inner0, outer0 = copy(IV), copy(IV)
compress(inner0, table.concat(ipad), 0)
for o = 0, #prefix - 1, 64 do compress(inner0, prefix, o) end
compress(outer0, table.concat(opad), 0)

local function sign(tail)
	local d = finish(copy(inner0), tail, 64 + #prefix + #tail)
	local H = copy(outer0)
	finish(H, d, 64 + 32)
	local hex = ""
	for i = 1, 8 do hex = hex .. tohex(H[i], 8) end
	return hex
end

local n = 0
local counter = 1
local stamp = os.time()
-- setup() runs in the main state; "id" becomes a global of the thread's.
function setup(thread)
	thread:set("id", counter)
	counter = counter + 1
end
function request()
	n = n + 1
	local tag = "bench-" .. id .. "-" .. n .. "-" .. stamp
	local tail = ',"bench":"' .. tag .. '"}'
	return wrk.format("POST", nil, {
		["Content-Type"] = "application/json",
		["X-GitHub-Event"] = "pull_request",
		["X-GitHub-Delivery"] = tag,
		["X-Hub-Signature-256"] = "sha256=" .. sign(tail),
	}, prefix .. tail)
end
function done(summary, latency, requests)
	io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n",
	    summary.requests / (summary.duration / 1e6),
	    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
	    summary.errors.status, summary.requests))
end
EOF

# A port below the kernel's ephemeral range, where wrk's and curl's own
# sockets never get theirs (see tests/integration/whd.sh).
low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
[ -n "$low" ] && [ "$low" -gt 12000 ] || low=32768
port() {
	echo $(( 10000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (low - 10000) ))
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
		    [ "$(curl -s "http://127.0.0.1:$P/healthz")" = \
		    '{"status":"ok"}' ] && kill -0 "$fpid" 2>/dev/null; then
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
: > "$T/rounds"
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)

# adnanh/webhook, with /bin/true and with no command.  A fresh one for
# each run, stopped after it: answering at once, it runs /bin/true in the
# background, and goes on starting them for many seconds after wrk stops,
# which would weigh on whatever ran next.
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
start_webhook() {
	WP=$(port)
	webhook -hooks "$T/hooks.json" -ip 127.0.0.1 -port "$WP" \
	    >/dev/null 2>&1 &
	wpid=$!
	pids="$pids $wpid"
	wait_up "http://127.0.0.1:$WP/" ||
	    { echo "bench: webhook did not start" >&2; exit 1; }
}
stop_webhook() {
	kill "$wpid"; wait "$wpid" 2>/dev/null
	# Its /bin/true children still running.
	while pgrep -x true >/dev/null 2>&1; do sleep 0.1; done
}

# Rounds: flowgate-webhookd (a fresh repository each time), webhook running
# /bin/true and webhook with no command take turns, ROUNDS times, so that
# the machine getting faster or slower over the minutes of the run weighs
# on all three alike; each ratio is the median of the rounds' ratios.
r=1
while [ "$r" -le "$ROUNDS" ]; do
	rm -rf "$T/repos"
	mkdir -p "$T/repos/Codertocat"
	git init -q --bare "$T/repos/Codertocat/Hello-World.git"
	start_whd --root "$T/repos"
	bench "flowgate#$r" "http://127.0.0.1:$P/hooks/github" "$fpid"
	m=$(curl -s "http://127.0.0.1:$P/metrics")
	# The kernel's high-water mark: the sampling (every 0.2 s) misses
	# peaks that last a few milliseconds.
	echo "$r $(echo "$m" | sed -n 's/^flowgate_inbox_deliveries_total //p') \
$(echo "$m" | sed -n 's/^flowgate_inbox_commits_total //p') \
$(echo "$m" | sed -n 's/^flowgate_inbox_backlog //p') \
$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' /proc/"$fpid"/status)" \
	    >> "$T/rounds"
	kill "$fpid"; wait "$fpid" 2>/dev/null
	start_webhook
	bench "webhook-true#$r" "http://127.0.0.1:$WP/hooks/github"
	stop_webhook
	start_webhook
	bench "webhook-nocmd#$r" "http://127.0.0.1:$WP/hooks/nocmd"
	stop_webhook
	r=$((r + 1))
done

# The same with room for 100,000 unprocessed deliveries: the intake alone,
# as a burst meets it.  With the default limit (10,000) a sustained load
# faster than the engine drains the inbox gets 503s once the backlog is
# full, and the rows above count only what was accepted.
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

# bare libevent, HMAC checked.
P=$(port)
"$top/tests/bench/bare202" --listen "127.0.0.1:$P" --secret "$KEY" &
bpid=$!
pids="$pids $bpid"
wait_up "http://127.0.0.1:$P/" || { echo "bench: bare202 did not start" >&2; exit 1; }
bench bare202 "http://127.0.0.1:$P/hooks/github"
kill "$bpid"; wait "$bpid" 2>/dev/null

echo "wrk: $THREADS threads, $CONNS connections, ${DURATION}s each; body about $(( $(wc -c < "$T/prefix") + 40 )) bytes; $ROUNDS rounds"
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
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR > 0) print v[int((NR + 1) / 2)] }'
}
while read -r r dels commits backlog hwm; do
	echo "flowgate#$r: $dels deliveries in $commits group commits (synced), $backlog still to process, resident at most $hwm MB (VmHWM)"
done < "$T/rounds"
# rounds OTHER: flowgate's 2xx/s over OTHER's, round by round, and
# their median.
rounds() {
	r=1 each=""
	: > "$T/ratios"
	while [ "$r" -le "$ROUNDS" ]; do
		x=$(awk -v f="$(ok_rate "flowgate#$r")" \
		    -v o="$(ok_rate "$1#$r")" \
		    'BEGIN { if (o > 0) printf "%.2f", f / o }')
		each="$each ${x}x"
		echo "$x" >> "$T/ratios"
		r=$((r + 1))
	done
	printf 'flowgate / %-14s round by round:%s; median %sx (2xx/s)\n' \
	    "$1" "$each" "$(median < "$T/ratios")"
}
rounds webhook-true
rounds webhook-nocmd
: > "$T/frates"
: > "$T/nrates"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	ok_rate "flowgate#$r" >> "$T/frates"
	echo >> "$T/frates"
	ok_rate "webhook-nocmd#$r" >> "$T/nrates"
	echo >> "$T/nrates"
	r=$((r + 1))
done
f=$(median < "$T/frates")
fb=$(ok_rate flowgate-burst)
n=$(median < "$T/nrates")
awk -v fb="$fb" -v n="$n" 'BEGIN { if (n > 0) printf "flowgate-burst / webhook-nocmd %.2fx (the rounds\047 median) (2xx/s)\n", fb / n }'
o=$(ok_rate bare202)
awk -v f="$f" -v fb="$fb" -v o="$o" 'BEGIN {
    if (o > 0) printf "flowgate / bare202        %.2fx (median round), burst %.2fx (2xx/s)\n",
    f / o, fb / o }'

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
