#!/usr/bin/env bash
# Kills a real server (SIGKILL) in the middle of a test clock's advance, then
# restarts it on the same database: the advance resumes where it was and
# nothing is run twice (each account billed once a month, the clock's
# numbers gapless, one invoice.finalized event per invoice).
#
#   tests/test_clock_kill.sh                      SQLite (a temporary file)
#   tests/test_clock_kill.sh postgres://.../db    PostgreSQL (the database is emptied)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/debug/comptoir
ACCOUNTS=${ACCOUNTS:-12}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
db=${1:-sqlite://$work/kill.db}
if [[ $db == postgres* ]]; then
    admin_url=${db%/*}/postgres
    name=${db##*/}
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
    sql() { psql -qtA "$db" -c "$1"; }
else
    sql() { sqlite3 "${db#sqlite://}" "$1"; }
fi
export DATABASE_URL=$db COMPTOIR_ADDR=127.0.0.1:$port COMPTOIR_DATA_DIR=$work/data RUST_LOG=${RUST_LOG:-warn}
export COMPTOIR_VIES_URL=http://127.0.0.1:1 COMPTOIR_VIES_TIMEOUT=1
# A short lease: the restarted server takes the dead one's advance over soon.
export COMPTOIR_TEST_CLOCK_LEASE=2s
COMPTOIR_DATA_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
export COMPTOIR_DATA_KEY
server=
start() {
    $BIN serve >> "$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -sf "$base/healthz" > /dev/null && return; sleep 0.2; done
    echo "the server did not start"; tail -30 "$work/server.log"; exit 1
}
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
TOKEN=$($BIN token --role support --ttl 1h)
api() { # METHOD PATH [BODY]
    curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' "$base$2" ${3:+-d "$3"}
}
fail() { echo "FAIL: $*" >&2; tail -30 "$work/server.log" >&2; exit 1; }

echo "== a server killed during an advance ($db)"
start
CLOCK=$(api POST /v1/test-clocks '{"name": "kill", "frozen_time": "2026-01-20T10:00:00Z"}' | jq -r .id)
accounts=()
for i in $(seq 1 "$ACCOUNTS"); do
    a=$(api POST /v1/accounts "{\"name\": \"Client $i\", \"test_clock_id\": \"$CLOCK\"}" | jq -r .id)
    api POST "/v1/accounts/$a/payment-methods/card" \
        '{"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "Claire Martin"}' > /dev/null
    addr=$(api POST "/v1/accounts/$a/billing-addresses" \
        "{\"company_name\": \"Client $i SAS\", \"line1\": \"1 rue de la Paix\", \"postal_code\": \"75002\", \"city\": \"Paris\", \"country\": \"FR\"}" | jq -r .id)
    api POST "/v1/accounts/$a/billing-addresses/$addr/verify" '{}' > /dev/null
    api POST "/v1/accounts/$a/licenses" '{"plan": "ADVANCED", "quantity": 1}' > /dev/null
    accounts+=("$a")
done
# Two month starts (February and March): 2 invoices per account.
api POST "/v1/test-clocks/$CLOCK/advance" '{"to": "2026-03-20T10:00:00Z"}' > /dev/null
# Killed once the first invoices are issued, while the rest are not.
for _ in $(seq 1 600); do
    [ "$(sql "SELECT COUNT(*) FROM invoices")" -gt 0 ] && break
    sleep 0.02
done
kill -9 "$server"
wait "$server" 2>/dev/null || true
issued=$(sql "SELECT COUNT(*) FROM invoices")
status=$(sql "SELECT status FROM test_clocks WHERE id = '$CLOCK'")
frozen=$(sql "SELECT frozen_time FROM test_clocks WHERE id = '$CLOCK'")
expected=$((2 * ACCOUNTS))
echo "killed with $issued of $expected invoices issued, the clock $status at $frozen"
[ "$status" = advancing ] && [ "$issued" -lt "$expected" ] || fail "the advance was not caught in the middle"

start
for _ in $(seq 1 300); do
    [ "$(api GET "/v1/test-clocks/$CLOCK" | jq -r .status)" = ready ] && break
    sleep 0.2
done
clock=$(api GET "/v1/test-clocks/$CLOCK")
[ "$(jq -r .status <<< "$clock")" = ready ] || fail "the restarted server did not finish the advance: $clock"
[ "$(jq -r .frozen_time <<< "$clock")" = 2026-03-20T10:00:00Z ] || fail "the clock stopped at $(jq -r .frozen_time <<< "$clock")"
numbers=()
for a in "${accounts[@]}"; do
    dates=$(api GET "/v1/accounts/$a/invoices?limit=100" | jq -r '[.data[].issue_date] | join(" ")')
    [ "$dates" = "2026-02-01 2026-03-01" ] || fail "$a has invoices of $dates"
    events=$(api GET "/v1/accounts/$a/events?type=invoice.finalized&limit=100" | jq '.data | length')
    [ "$events" = 2 ] || fail "$a has $events invoice.finalized events"
    while read -r n; do numbers+=("$n"); done < <(api GET "/v1/accounts/$a/invoices?limit=100" | jq -r '.data[].number')
done
want=$(for i in $(seq 1 "$expected"); do printf 'TEST-F-2026-%06d\n' "$i"; done)
got=$(printf '%s\n' "${numbers[@]}" | sort)
[ "$got" = "$want" ] || fail "the numbers are not TEST-F-2026-000001..$expected without gap: $(echo $got)"
echo "resumed: $expected invoices, each account billed once a month, numbers 1 to $expected without gap, one event each"
