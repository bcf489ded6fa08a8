#!/usr/bin/env bash
# HTTP load on the main read routes with wrk (64 connections, 2 threads,
# BENCH_SECONDS per route, default 10), against the release server holding the
# demo account grown to 50 licenses; /healthz in the same run is the
# framework's ceiling. Prints one table row per route.
#
#   benches/http.sh                      SQLite (a temporary file)
#   benches/http.sh postgres://.../db    PostgreSQL (the database is emptied)
#
# Needs target/release/comptoir and wrk (make bench installs neither: `apt-get
# install wrk`). Client and server share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/release/comptoir
SECONDS_PER_ROUTE=${BENCH_SECONDS:-10}
command -v wrk > /dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
db=${1:-sqlite://$work/bench.db}
backend=SQLite
if [[ $db == postgres* ]]; then
    backend=PostgreSQL
    psql -q "${db%/*}/postgres" -c "DROP DATABASE IF EXISTS ${db##*/}" -c "CREATE DATABASE ${db##*/}"
fi
export DATABASE_URL=$db COMPTOIR_ADDR=127.0.0.1:$port COMPTOIR_DATA_DIR=$work/data
export COMPTOIR_NOW=2026-04-09T10:00:00Z RUST_LOG=error
$BIN serve --demo > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf "$base/healthz" > /dev/null && break; sleep 0.2; done

ADMIN=$($BIN token --role admin --account acc_demo --ttl 1h)
# The demo has 10 licenses: 40 more make the list 50 long.
curl -sf -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d '{"plan": "ADVANCED", "quantity": 40}' "$base/v1/accounts/acc_demo/licenses" > /dev/null
count=$(curl -sf -H "Authorization: Bearer $ADMIN" "$base/v1/accounts/acc_demo/licenses?limit=100" |
    python3 -c 'import json, sys; print(len(json.load(sys.stdin)["data"]))')
[[ $count == 50 ]] || { echo "expected 50 licenses, found $count"; exit 1; }

# wrk's Lua sets the bearer header; the summary prints requests/s and p99 in ms.
cat > "$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
    io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
            + summary.errors.write + summary.errors.timeout))
end
LUA

ceiling=
run() { # name path [token]
    local header=()
    [[ -n ${3:-} ]] && header=(-H "Authorization: Bearer $3")
    local out
    out=$(wrk -t2 -c64 -d"${SECONDS_PER_ROUTE}s" "${header[@]}" -s "$work/report.lua" "$base$2" | grep '^RESULT')
    read -r _ rps p50 p99 total errors <<< "$out"
    ceiling=${ceiling:-$rps}
    share=$(python3 -c "print(f'{100 * $rps / $ceiling:.1f} %')")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$backend" "$1" "$rps" "$share" "$p50" "$p99" "$total" "$errors"
}

# /healthz first: the share column is relative to it. /readyz runs one
# `SELECT 1` and nothing else (no token, no JSON): what one trip to the
# database costs, the ceiling of any route that reads.
run "GET /healthz" /healthz
run "GET /readyz" /readyz
run "GET /v1/plans" /v1/plans "$ADMIN"
run "GET /v1/accounts/{a}" /v1/accounts/acc_demo "$ADMIN"
run "GET /v1/accounts/{a}/licenses (50)" "/v1/accounts/acc_demo/licenses?limit=50" "$ADMIN"
run "GET /v1/accounts/{a}/invoices" /v1/accounts/acc_demo/invoices "$ADMIN"
run "GET /v1/accounts/{a}/audit-events" /v1/accounts/acc_demo/audit-events "$ADMIN"
