#!/usr/bin/env bash
# integration_readme.sh - runs README.md's examples against a live lossd and compares outputs.
#
#   LOSSD=build/lossd bash tests/integration_readme.sh
#
# In ```sh blocks every command (a line, with its backslash or open-quote
# continuations) runs through bash with localhost:8080 pointed at a server
# started here; the `# =>` lines under it are its expected output, exact,
# or a prefix when the last one ends in "...". A ```python block runs with
# Debian's python3 (numpy, requests) and its output must equal the
# ```text block right after it. Fails on the first mismatch.
set -u

README=${README:-README.md}
PY=/usr/bin/python3
# shellcheck source=tests/lib.sh
. tests/lib.sh readme

start_server readme --threads 2

# Split the README into examples: one JSON object per line on stdout.
"$PY" - "$README" >"$TMP/examples" <<'EOF' || fail "cannot parse $README"
import json, re, sys

lines = open(sys.argv[1]).read().split("\n")
blocks, i = [], 0
while i < len(lines):
    m = re.match(r"^```(\w+)$", lines[i])
    if not m:
        i += 1
        continue
    j = i + 1
    while lines[j] != "```":
        j += 1
    blocks.append((m.group(1), lines[i + 1:j], i + 1))
    i = j + 1

for k, (lang, body, line) in enumerate(blocks):
    if lang == "python":
        nxt = blocks[k + 1] if k + 1 < len(blocks) else None
        expect = "\n".join(nxt[1]) if nxt and nxt[0] == "text" else None
        print(json.dumps({"kind": "python", "line": line, "code": "\n".join(body), "expect": expect}))
    elif lang == "sh":
        cmd, expect = [], []
        def flush():
            if cmd:
                print(json.dumps({"kind": "sh", "line": line, "code": "\n".join(cmd),
                                  "expect": "\n".join(expect)}))
        for text in body:
            if text.startswith("# => ") or text == "# =>":
                expect.append(text[5:])
            elif cmd and (cmd[-1].endswith("\\") or cmd[-1].count("'") % 2 == 1
                          or (not expect and text.startswith(" "))):
                cmd.append(text)
            else:
                flush()
                cmd, expect = [text], []
        flush()
EOF

count=0
while IFS= read -r example; do
    kind=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["kind"])' "$example")
    line=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["line"])' "$example")
    "$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); open(sys.argv[2],"w").write(d["code"].replace("localhost:8080", "127.0.0.1:" + sys.argv[3]))' \
        "$example" "$TMP/code" "$PORT"
    "$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); open(sys.argv[2],"w").write(d["expect"] or "")' \
        "$example" "$TMP/expect"
    if [ "$kind" = python ]; then
        "$PY" "$TMP/code" >"$TMP/out" 2>"$TMP/err" || fail "README line $line: python example failed: $(cat "$TMP/err")"
    else
        bash -o pipefail "$TMP/code" >"$TMP/out" 2>"$TMP/err" || fail "README line $line: '$(head -n 1 "$TMP/code")' failed: $(cat "$TMP/err")"
    fi
    "$PY" - "$TMP/out" "$TMP/expect" <<'EOF' || fail "README line $line: output differs"
import sys
out = open(sys.argv[1]).read().rstrip("\n")
want = open(sys.argv[2]).read()
if not want:
    sys.exit(0 if out or True else 1)
ok = out.startswith(want[:-3]) if want.endswith("...") else out == want
if not ok:
    print("  expected: %r\n  got:      %r" % (want, out))
sys.exit(0 if ok else 1)
EOF
    count=$((count + 1))
done <"$TMP/examples"

[ "$count" -ge 10 ] || fail "only $count README examples found"
echo "readme: $count passed, 0 failed"
