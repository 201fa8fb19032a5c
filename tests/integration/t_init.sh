#!/bin/sh
# t_init.sh - flowgate init: the hooks it links (pre-receive and
# post-receive; update only with --update-hook), running it again, a
# foreign hook left alone, and a real push through what it installed.
. "$(dirname "$0")/lib.sh"

R=$T/app.git
HOOK=$(readlink -f "$FG_HOOK")

out=$("$FG" init --help 2>&1)
is "init --help exits 0" "$?" 0
like "init --help names --update-hook" "$out" "--update-hook +link the update hook too"

out=$("$FG" init "$R" 2>&1)
is "init exits 0" "$?" 0
like "init says which hooks it linked" "$out" \
    "^installed hooks pre-receive, post-receive -> $HOOK\$"
is "pre-receive is flowgate-hook" "$(readlink "$R/hooks/pre-receive")" "$HOOK"
is "post-receive is flowgate-hook" "$(readlink "$R/hooks/post-receive")" "$HOOK"
ok "no update hook" test ! -e "$R/hooks/update"

out=$("$FG" init "$R" 2>&1)
like "init again changes nothing" "$out" "is already set up; nothing changed"

out=$("$FG" init --update-hook "$R" 2>&1)
is "init --update-hook exits 0" "$?" 0
like "init --update-hook says update too" "$out" \
    "^installed hooks pre-receive, update, post-receive -> $HOOK\$"
is "update is flowgate-hook" "$(readlink "$R/hooks/update")" "$HOOK"
out=$("$FG" init --update-hook "$R" 2>&1)
like "init --update-hook again changes nothing" "$out" "nothing changed"

# Without the flag, flowgate's own update link goes (it only repeated
# pre-receive's verdict); somebody else's update hook stays.
out=$("$FG" init "$R" 2>&1)
like "init without the flag says it changed the hooks" "$out" \
    "^installed hooks pre-receive, post-receive"
ok "flowgate's update hook is removed" test ! -e "$R/hooks/update"
printf '#!/bin/sh\nexit 0\n' > "$R/hooks/update"
chmod +x "$R/hooks/update"
out=$("$FG" init "$R" 2>&1)
like "a foreign update hook: nothing changed" "$out" "nothing changed"
ok "a foreign update hook is left alone" grep -q 'exit 0' "$R/hooks/update"
out=$("$FG" init --update-hook "$R" 2>&1); rc=$?
fails "init --update-hook over a foreign update hook fails" test "$rc" -eq 0
like "and names it" "$out" "hooks/update' exists and is not flowgate's hook; move it away first"
ok "the foreign hook is still there" grep -q 'exit 0' "$R/hooks/update"
rm "$R/hooks/update"

# A real push through the default hook set: pre-receive judges it, git
# runs no update hook, post-receive queues it.
cat > "$T/rules.yaml" <<'YAML'
version: 1
template: release
admins: [admin]
stages:
  developer: {pool: sandboxes}
  integration: {branch: develop, environments: [qa]}
  staging: {branch: staging, environments: [uat]}
  production: {branch: main, environments: [prod]}
  hotfix: {branch: hotfix, environments: [prod]}
environments:
  qa:   {deploy: {command: [echo, qa]}}
  uat:  {deploy: {command: [echo, uat]}}
  prod: {deploy: {command: [echo, prod]}}
pools:
  sandboxes: {environments: [sb-1], deploy: {command: [echo, sb]}}
push:
  - branches: [develop]
    rules: [{message: '^[A-Z]+-[0-9]+ '}]
YAML
ok "a rules config applies" env FLOWGATE_USER=admin "$FG" --repo "$R" config apply "$T/rules.yaml"
git init -q "$T/w"
cd "$T/w" || exit 1
echo a > a.txt && git add a.txt && git commit -qm "no ticket"
out=$(FLOWGATE_USER=alice git push "$R" HEAD:develop 2>&1); rc=$?
is "a bad message is refused" "$rc" 1
like "by pre-receive" "$out" "remote: flowgate: develop: message: "
is "one verdict line" "$(printf '%s\n' "$out" | grep -c 'remote: flowgate: push to')" 1
git commit -q --amend -m "ABC-1 with a ticket"
out=$(FLOWGATE_USER=alice git push "$R" HEAD:develop 2>&1); rc=$?
is "a good push is accepted" "$rc" 0
like "post-receive queued it" "$out" "remote: flowgate: integration: created at [0-9a-f]{7}, queued as event [0-9a-f]{7}"
is "one verdict line again" "$(printf '%s\n' "$out" | grep -c 'remote: flowgate: push to')" 1

done_testing
