#!/usr/bin/env bash
# build.sh - the one build script shared by CI and the Dockerfile's build stage.
#
#   .ci/build.sh                    install missing build packages, then `make`
#   .ci/build.sh build/lossd        ... then `make build/lossd`
#   .ci/build.sh OPT=-O2 test       any make variables and targets pass through
#   EXTRA_DEB_PKGS=python3 .ci/build.sh test   also install packages not in DEB_PKGS
#
# The Debian package list is read from DEB_PKGS in the Makefile so the two
# never drift apart; `make deps` is not called directly because a fresh
# debian:bookworm-slim has no `make` yet. Packages are installed only when
# missing, with a single `apt-get update`. Must run as root when something
# is missing (CI and `docker build` both are). No -march=native: the SIMD
# kernel is chosen at run time, so the binary must run on any CPU of the arch.
set -euo pipefail

cd "$(dirname "$0")/.."

# DEB_PKGS spans several lines joined by backslashes in the Makefile.
pkgs=$(awk '
    /^DEB_PKGS[ \t]*:?=/ { grab = 1; sub(/^DEB_PKGS[ \t]*:?=/, "") }
    grab { cont = sub(/\\[ \t]*$/, ""); printf "%s ", $0; if (!cont) exit }
' Makefile)
if [ -z "$(echo "$pkgs" | tr -d ' \t')" ]; then
    echo "build.sh: no DEB_PKGS in Makefile; using the built-in list" >&2
    pkgs="gcc make pkg-config libc6-dev libmicrohttpd-dev libcjson-dev libuv1-dev zlib1g-dev check curl"
fi

# EXTRA_DEB_PKGS: packages a caller needs beyond the Makefile's list.
pkgs="$pkgs ${EXTRA_DEB_PKGS:-}"

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $p"
done

if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "build.sh: missing Debian packages:$missing (run as root)" >&2
        exit 1
    fi
    echo "build.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086  # word splitting of the package list is wanted
    apt-get install -y -qq --no-install-recommends $missing
fi

# Now that make exists, let the Makefile confirm its own list is satisfied.
make deps

# Compile in parallel, but run test and bench targets serially: `make test`
# re-invokes make on unit, fuzz-replay and integration, and -j would run
# those suites side by side and make timing-sensitive tests flaky. So for
# those targets everything is first compiled with -j, then the targets run
# with -j1. JOBS=N overrides the compile parallelism.
jobs=${JOBS:-$(nproc 2>/dev/null || echo 1)}
vars=() serial=""
for arg in "$@"; do
    case $arg in
        *=*) vars+=("$arg") ;;
        test | unit | fuzz-replay | integration | bench) serial=1 ;;
    esac
done
if [ -n "$serial" ]; then
    echo "build.sh: make -j$jobs ${vars[*]} all"
    make -j"$jobs" "${vars[@]}" all
    jobs=1
fi
echo "build.sh: make -j$jobs $*"
exec make -j"$jobs" "$@"
