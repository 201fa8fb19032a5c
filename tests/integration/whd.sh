# whd.sh - sourced by the t_whd_*.sh and t_flows_*.sh scripts after lib.sh:
# start and stop flowgate-webhookd on a random free port, sign and post
# deliveries, wait for flow runs.
#
#   whd_start [ARGS...]     start the daemon (stderr to $T/whd.log), wait
#                           for /healthz; sets $WHD_PID, $PORT, $URL
#   whd_stop                SIGTERM, wait; sets $WHD_RC
#   sign KEY FILE           hex HMAC-SHA256 of FILE under KEY
#   post PATH FILE [curl args...]
#                           POST FILE as JSON; prints "CODE BODY"
#   gh EVENT FILE DELIVERY [KEY]
#                           a signed GitHub delivery to /hooks/github
#   wait_processed GITDIR   until inbox-done reaches inbox (60 s at most)
#   compact_pr              the corpus's GitHub pull_request.opened, its
#                           repository copies dropped (about 9 KB), one line
#   runs FLOW               the subjects of FLOW's run records in $R
#   wait_runs FLOW N        until N runs of FLOW in $R have ended

WHD_KEY=${WHD_KEY:-it-secret}

# The daemon's port is drawn below the kernel's ephemeral range (32768 and
# up here), where the receivers and clients of the tests get theirs: a
# receiver that happened to hold the drawn port answered /healthz, the
# daemon could not listen, and the test went on talking to the receiver.
# Another program may still hold the port, so only the daemon's own answer,
# from a daemon still running, counts as started.
whd_start() {
	_tries=0
	_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	[ -n "$_low" ] && [ "$_low" -gt 12000 ] || _low=32768
	while [ $_tries -lt 20 ]; do
		_tries=$((_tries + 1))
		PORT=$(( 10000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (_low - 10000) ))
		URL=http://127.0.0.1:$PORT
		"$FG_WHD" --listen "127.0.0.1:$PORT" "$@" 2>>"$T/whd.log" &
		WHD_PID=$!
		echo "$WHD_PID" >> "$T/.pids"
		_i=0
		while [ $_i -lt 200 ]; do
			if [ "$(curl -s "$URL/healthz" 2>/dev/null)" = '{"status":"ok"}' ] &&
			    kill -0 "$WHD_PID" 2>/dev/null; then
				return 0
			fi
			kill -0 "$WHD_PID" 2>/dev/null || break
			sleep 0.05
			_i=$((_i + 1))
		done
		kill "$WHD_PID" 2>/dev/null
		wait "$WHD_PID" 2>/dev/null
		# Port taken (bind failed)?  Try another; anything else is fatal.
		grep -q "cannot listen" "$T/whd.log" || break
	done
	echo "# flowgate-webhookd did not start:" >&2
	tail -n 20 "$T/whd.log" >&2
	return 1
}

whd_stop() {
	kill -TERM "$WHD_PID" 2>/dev/null
	wait "$WHD_PID"
	WHD_RC=$?
}

sign() {
	openssl dgst -sha256 -hmac "$1" < "$2" | sed 's/^.*= //'
}

post() {
	_path=$1 _file=$2; shift 2
	curl -s -o "$T/.body" -w '%{http_code}' -X POST \
	    -H 'Content-Type: application/json' --data-binary "@$_file" \
	    "$@" "$URL$_path" > "$T/.code"
	echo "$(cat "$T/.code") $(cat "$T/.body")"
}

gh() {
	post /hooks/github "$2" -H "X-GitHub-Event: $1" \
	    -H "X-GitHub-Delivery: $3" \
	    -H "X-Hub-Signature-256: sha256=$(sign "${4:-$WHD_KEY}" "$2")"
}

wait_processed() {
	_i=0
	while [ $_i -lt 600 ]; do
		_a=$(git --git-dir="$1" rev-parse -q --verify refs/flowgate/inbox)
		_b=$(git --git-dir="$1" rev-parse -q --verify refs/flowgate/inbox-done)
		[ -n "$_a" ] && [ "$_a" = "$_b" ] && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}

compact_pr() {
	jq -c '{action, number, pull_request: (.pull_request |
	    del(.head.repo, .base.repo, ._links)), repository: {id: .repository.id,
	    full_name: .repository.full_name, name: .repository.name,
	    owner: .repository.owner}, sender}' \
	    "$CORPUS/github/pull_request.opened.json"
}

# runs FLOW: the subjects of FLOW's records in $R, newest first.
runs() {
	git --git-dir="$R" log --format='%s' "refs/flowgate/runs/$1" 2>/dev/null
}

# wait_runs FLOW N: until N runs of FLOW in $R have ended (30 s at most).
wait_runs() {
	_i=0
	while [ $_i -lt 300 ]; do
		[ "$(runs "$1" | grep -cE "^flow $1: run .* (succeeded|failed)$")" -ge "$2" ] && return 0
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}
