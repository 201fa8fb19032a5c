#!/bin/sh
# t_config_corpus.sh - every file in tests/config/invalid/ is refused by
# 'flowgate config check' with exit 1 and the lines its "# expect:"
# comments give (each as a whole line, after the file name), and every
# valid config is accepted.  Also a 10 MB file, made here.
. "$(dirname "$0")/lib.sh"

for f in "$TOP"/tests/config/invalid/*.yaml; do
	name=${f#"$TOP"/}
	out=$(cd "$TOP" && "$FG" config check "$name" 2>&1)
	rc=$?
	is "$name: exit 1" "$rc" 1
	expects=$(grep -a '^# expect: ' "$f" | sed 's/^# expect: //')
	if [ -z "$expects" ]; then
		_report 1 "$name: has an expect line" "$out"
		continue
	fi
	printf '%s\n' "$expects" | while IFS= read -r e; do
		printf '%s\n' "$out" | grep -qxF -- "$name$e" || {
			echo "missing: $name$e"; echo "got: $out"; exit 1; }
	done
	_report $? "$name: prints its expected lines" "$out"
done

for f in "$TOP"/tests/config/valid/*.yaml "$TOP"/templates/*.yaml; do
	out=$("$FG" config check "$f" 2>&1)
	is "$(basename "$f"): accepted" "$?" 0
done

head -c 10485760 /dev/zero | tr '\0' 'a' > "$T/big.yaml"
out=$("$FG" config check "$T/big.yaml" 2>&1); is "10 MB file: exit 1" "$?" 1
like "10 MB file: says it is too large" "$out" "big.yaml: larger than the limit of 1048576 bytes"
out=$("$FG" config check "$T/absent.yaml" 2>&1); is "missing file: exit 1" "$?" 1
like "missing file: says so" "$out" "cannot open '$T/absent.yaml'"

done_testing
