#!/bin/sh
# demo.sh - 'make run': create the demo repository if it is missing and
# serve var/repos with flowgate-webhookd in the foreground.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
root=var/repos
repo=$root/demo/app.git
listen=${FLOWGATE_LISTEN:-127.0.0.1:8686}

mkdir -p "$root/demo"
if [ ! -d "$repo" ]; then
	cli/flowgate init --template release "$repo"
fi
cat <<MSG

flowgate demo: $top/$repo (release template)

  git clone $top/$repo app && cd app
  git commit --allow-empty -m 'first change' && git push origin HEAD:develop
  git --git-dir=$top/$repo log --format='%h %s' refs/flowgate/config
  cli/flowgate --repo $top/$repo pipeline show
  curl http://$listen/healthz

Serving $root on http://$listen (Ctrl-C stops).
MSG
exec webhookd/flowgate-webhookd --root "$root" --listen "$listen"
