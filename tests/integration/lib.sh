# lib.sh - sourced by every tests/integration/t_*.sh.
#
# Gives each script a fresh temporary directory ($T, removed at exit unless
# FLOWGATE_KEEP_TMP is set), the built programs ($FG, $FG_HOOK, $FG_WHD),
# and assertions that print "ok N - what" or "not ok N - what" with the
# evidence.  The script ends with 'done_testing', which prints the closing
# "fg-test: NAME P passed, F failed" line and sets the exit status.
set -u
TOP=${FLOWGATE_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
SHARED=${FLOWGATE_SHARED:-$TOP/../shared}
CORPUS=$SHARED/corpus/webhooks
FG=$TOP/cli/flowgate
FG_HOOK=$TOP/hooks/flowgate-hook
FG_WHD=$TOP/webhookd/flowgate-webhookd
T=$(mktemp -d "${TMPDIR:-/tmp}/fg-it-XXXXXX")
_n=0 _pass=0 _fail=0
_name=$(basename "$0" .sh)
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
git config --global user.name "Test Person"
git config --global user.email "test@example.com"
git config --global init.defaultBranch main
git config --global advice.detachedHead false
_cleanup() {
	for p in $(cat "$T/.pids" 2>/dev/null); do kill "$p" 2>/dev/null; done
	[ -n "${FLOWGATE_KEEP_TMP:-}" ] || rm -rf "$T"
}
trap _cleanup EXIT

_report() {
	_n=$((_n + 1))
	if [ "$1" -eq 0 ]; then
		_pass=$((_pass + 1)); echo "ok $_n - $2"
	else
		_fail=$((_fail + 1)); echo "not ok $_n - $2"
		[ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /' | head -n 40
	fi
	return 0
}

# ok "what" cmd...: passes when cmd exits 0.
ok() {
	_what=$1; shift
	_out=$("$@" 2>&1); _rc=$?
	_report $_rc "$_what" "exit $_rc: $_out"
}

# fails "what" cmd...: passes when cmd exits non-zero, but not 97 (a
# sanitizer's report, see tests/run.sh) nor 126 and up (crashes).
fails() {
	_what=$1; shift
	_out=$("$@" 2>&1); _rc=$?
	if [ $_rc -ne 0 ] && [ $_rc -ne 97 ] && [ $_rc -lt 126 ]; then
		_r=0
	else
		_r=1
	fi
	_report $_r "$_what" "exit $_rc: $_out"
}

# is "what" GOT WANT
is() {
	if [ "$2" = "$3" ]; then _r=0; else _r=1; fi
	_report $_r "$1" "got:  '$2'
want: '$3'"
}

# like "what" TEXT PATTERN (grep -E on the text)
like() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then _r=0; else _r=1; fi
	_report $_r "$1" "pattern: $3
text: $2"
}

# unlike "what" TEXT PATTERN
unlike() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then _r=1; else _r=0; fi
	_report $_r "$1" "pattern must not match: $3
text: $2"
}

# bare_repo NAME: a bare repository with flowgate init'ed (release template).
# work_clone BARE DIR: a clone with one commit on main pushed.

done_testing() {
	echo "fg-test: $_name $_pass passed, $_fail failed"
	[ "$_fail" -eq 0 ]
	exit $?
}
