#!/usr/bin/env bash
# check_layers.sh - the file-level dependency graph of core/, proto/ and server/, read from
# their object files: no loop between files, and dependencies only server -> proto -> core.
#
#   tests/check_layers.sh [-v] [BUILD]     BUILD: the build directory ($BUILD, else build)
#
# A file depends on another when its object leaves a symbol undefined that
# the other's object defines (`nm`): a call or a table, whatever the
# source spells it; what a file inlines from a header is its own code. It
# fails, naming the files and the symbols, when
#   - files depend on each other in a loop, directly or through others;
#   - a dependency points up: core/ on proto/ or server/, proto/ on server/;
#   - core/ uses libmicrohttpd, libuv or cJSON (it is pure computation).
# The objects are those of the current sources, so a stale object of a
# deleted file counts for nothing; one missing is an error (make all first).
# -v lists every dependency with its symbols.
set -euo pipefail
cd "$(dirname "$0")/.."

verbose=0
if [ "${1:-}" = -v ]; then
    verbose=1
    shift
fi
build=${1:-${BUILD:-build}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# "source type symbol" for every external symbol of every object, and
# "source - -" so that a file without any still counts.
for src in core/*.c proto/*.c server/*.c; do
    obj=$build/${src%.c}.o
    if [ ! -f "$obj" ]; then
        echo "check_layers: $obj is missing: build first (make all)" >&2
        exit 2
    fi
    echo "$src - -"
    nm -P -g "$obj" | awk -v f="$src" '{ print f, $2, $1 }'
done >"$tmp/symbols"

# Undefined symbols (U, or w: weak) resolved to the file that defines them.
awk -v verbose="$verbose" '
    function layer(f) { return f ~ /^core\// ? 0 : f ~ /^proto\// ? 1 : 2 }
    {
        if (!($1 in files)) { files[$1] = 1; file[++nfiles] = $1 }
        if ($2 == "-")
            next
        if ($2 == "U" || $2 == "w") { need[++n] = $1 " " $3 } else { def[$3] = $1 }
    }
    END {
        names[0] = "core"; names[1] = "proto"; names[2] = "server"
        for (i = 1; i <= n; i++) {
            split(need[i], a, " ")
            from = a[1]; sym = a[2]; to = def[sym]
            if (from ~ /^core\// && sym ~ /^(MHD_|uv_|cJSON_)/)
                bad[++nbad] = from " uses " sym ": core/ is pure computation"
            if (to == "" || to == from)
                continue
            if (!((from, to) in syms)) { edge[++nedges] = from SUBSEP to; syms[from, to] = sym }
            else syms[from, to] = syms[from, to] ", " sym
            reach[from, to] = 1
        }
        for (k = 1; k <= nedges; k++) {
            split(edge[k], a, SUBSEP)
            kind[names[layer(a[1])] " -> " names[layer(a[2])]]++
            if (layer(a[2]) > layer(a[1]))
                bad[++nbad] = a[1] " -> " a[2] " (" syms[a[1], a[2]] "): points up;" \
                              " only server -> proto -> core"
            if (verbose)
                printf "  %s -> %s: %s\n", a[1], a[2], syms[a[1], a[2]]
        }
        # Transitive closure (Warshall): two files are in one loop when
        # each reaches the other.
        for (k = 1; k <= nfiles; k++)
            for (i = 1; i <= nfiles; i++)
                if ((file[i], file[k]) in reach)
                    for (j = 1; j <= nfiles; j++)
                        if ((file[k], file[j]) in reach)
                            reach[file[i], file[j]] = 1
        for (i = 1; i <= nfiles; i++) {
            if (!((file[i], file[i]) in reach) || (file[i] in looped))
                continue
            members = ""
            for (j = 1; j <= nfiles; j++)
                if ((file[i], file[j]) in reach && (file[j], file[i]) in reach) {
                    looped[file[j]] = 1
                    members = members " " file[j]
                }
            msg = "files that depend on each other in a loop:" members
            for (k = 1; k <= nedges; k++) {
                split(edge[k], a, SUBSEP)
                if ((file[i], a[1]) in reach && (a[1], file[i]) in reach &&
                    (file[i], a[2]) in reach && (a[2], file[i]) in reach)
                    msg = msg "\n    " a[1] " -> " a[2] ": " syms[a[1], a[2]]
            }
            bad[++nbad] = msg
        }
        for (i = 1; i <= nfiles; i++)
            count[names[layer(file[i])]]++
        printf "check_layers: %d files (core %d, proto %d, server %d), %d dependencies between files:",
               nfiles, count["core"], count["proto"], count["server"], nedges
        sep = " "
        for (x = 2; x >= 0; x--)
            for (y = 2; y >= 0; y--)
                if ((names[x] " -> " names[y]) in kind) {
                    printf "%s%s %d", sep, names[x] " -> " names[y], kind[names[x] " -> " names[y]]
                    sep = ", "
                }
        printf "\n"
        for (i = 1; i <= nbad; i++)
            print "check_layers: FAIL " bad[i]
        if (nbad == 0)
            print "check_layers: ok: no loop between files; none points up" \
                  " (server -> proto -> core); core/ uses no libmicrohttpd, libuv or cJSON symbol"
        exit nbad > 0
    }
' "$tmp/symbols"
