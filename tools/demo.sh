#!/bin/sh
# demo.sh - 'make run': create the demo repository if it is missing and
# serve var/repos with flowgate-webhookd in the foreground.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
root=var/repos
repo=$root/demo/app.git
listen=${FLOWGATE_LISTEN:-127.0.0.1:8686}
# One webhook secret for every repository; the demo's own when none is set.
FLOWGATE_WEBHOOK_SECRET=${FLOWGATE_WEBHOOK_SECRET:-demo-secret}
export FLOWGATE_WEBHOOK_SECRET

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

A signed webhook for demo/app:

  body='{"version":1,"source":"generic","kind":"ping","repo":"demo/app","time":0}'
  sig=\$(printf %s "\$body" | openssl dgst -sha256 -hmac "$FLOWGATE_WEBHOOK_SECRET" | sed 's/.*= //')
  curl -H 'Content-Type: application/json' -H "X-Flowgate-Signature-256: sha256=\$sig" \\
      -H 'X-Flowgate-Delivery: demo-1' -d "\$body" http://$listen/hooks/generic
  git --git-dir=$top/$repo log --format='%h %s' refs/flowgate/activity

Serving $root on http://$listen (Ctrl-C stops).
MSG
exec webhookd/flowgate-webhookd --root "$root" --listen "$listen"
