#!/usr/bin/env bash
# integration_smoke.sh - runs tests/smoke.sh (the deployment smoke test) against a fresh lossd.
#
#   LOSSD=build/lossd bash tests/integration_smoke.sh
set -u
# shellcheck source=tests/lib.sh
. tests/lib.sh smoke

start_server smoke
bash tests/smoke.sh "$URL" || fail "tests/smoke.sh against $URL"
