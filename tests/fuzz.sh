#!/usr/bin/env bash
# Spec-driven fuzzing: schemathesis, with all its checks, against the real
# server holding the demo account, once per role (viewer, integration,
# support, admin: the destructive ones last). Path parameters are the demo's
# own ids, so operations reach real resources instead of 404s. The stateful
# phase is off: it chains a created resource into the next call, and the
# fixed ids above override the created ones (404 "created resource not found").
#
#   tests/fuzz.sh                      SQLite (a temporary file)
#   tests/fuzz.sh postgres://.../db    PostgreSQL (the database is emptied)
#
# Needs target/debug/comptoir and schemathesis (make test-fuzz provides both).
# One worker: CPython 3.11's ast.parse is not thread-safe, and hypothesis
# parses lambdas while generating ("AST constructor recursion depth mismatch").
set -euo pipefail
cd "$(dirname "$0")/.."

ST=${SCHEMATHESIS:-.venv/bin/schemathesis}
BIN=target/debug/comptoir
EXAMPLES=${FUZZ_EXAMPLES:-10}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

db=${1:-sqlite://$work/fuzz.db}
if [[ $db == postgres* ]]; then
    admin_url=${db%/*}/postgres
    name=${db##*/}
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
fi

export DATABASE_URL=$db COMPTOIR_ADDR=127.0.0.1:$port COMPTOIR_DATA_DIR=$work/data
export COMPTOIR_NOW=2026-04-09T10:00:00Z RUST_LOG=${RUST_LOG:-warn}
# The fuzzer never reaches the EU's VIES: nothing listens on port 1 (a check is `unavailable`).
export COMPTOIR_VIES_URL=http://127.0.0.1:1 COMPTOIR_VIES_TIMEOUT=1
$BIN serve --demo > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf "$base/healthz" > /dev/null && break; sleep 0.2; done

token() { $BIN token --role "$1" ${2:+--account "$2"} --ttl 1h; }
ADMIN=$(token admin acc_demo)
first_id() {
    curl -sf -H "Authorization: Bearer $ADMIN" "$base/v1/accounts/acc_demo/$1" |
        python3 -c 'import json, sys; d = json.load(sys.stdin)["data"]; print(d[0]["id"] if d else "none")'
}
# The demo has no one-off charge (its invoices are the help page's): one for the charge routes.
curl -sf -X POST -H "Authorization: Bearer $(token support)" -H 'Content-Type: application/json' \
    -d '{"description": "Frais de portage", "unit_amount": "15.00", "quantity": 2}' \
    "$base/v1/accounts/acc_demo/charges" > /dev/null
# And a credit note of a cent of the first invoice's first line (paid: the
# cent goes to the customer balance, so the refund route has something to refund).
first_invoice=$(first_id invoices)
first_line=$(curl -sf -H "Authorization: Bearer $ADMIN" "$base/v1/accounts/acc_demo/invoices/$first_invoice" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["lines"][0]["id"])')
curl -sf -X POST -H "Authorization: Bearer $(token support)" -H 'Content-Type: application/json' \
    -d "{\"reason\": \"Geste commercial\", \"lines\": [{\"invoice_line\": \"$first_line\", \"amount\": \"0.01\"}]}" \
    "$base/v1/accounts/acc_demo/invoices/$first_invoice/credit-notes" > /dev/null
# A test clock, for the test clock routes.
test_clock=$(curl -sf -X POST -H "Authorization: Bearer $(token support)" -H 'Content-Type: application/json' \
    -d '{"name": "fuzz", "frozen_time": "2026-04-09T10:00:00Z"}' "$base/v1/test-clocks" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
cat > "$work/schemathesis.toml" <<TOML
[parameters]
account_id = "acc_demo"
code = "ADVANCED"
charge_id = "$(first_id charges)"
contact_id = "$(first_id contacts)"
credit_note_id = "$(first_id credit-notes)"
address_id = "$(first_id billing-addresses)"
document_id = "$(first_id documents)"
invoice_id = "$(first_id invoices)"
license_id = "$(first_id licenses)"
method_id = "$(first_id payment-methods)"
number_id = "$(first_id phone-numbers)"
recipient_id = "$(first_id invoice-recipients)"
team_id = "$(first_id teams)"
user_id = "$(first_id users)"
top_up_id = "$(first_id credits/top-ups)"
test_clock_id = "$test_clock"

TOML
cat tests/schemathesis.toml >> "$work/schemathesis.toml"

status=0
for role in viewer integration support admin; do
    case $role in support) t=$(token support) ;; *) t=$(token $role acc_demo) ;; esac
    echo "== schemathesis as $role ($db)"
    "$ST" --config-file "$work/schemathesis.toml" run openapi/openapi.json \
        --url "$base" -H "Authorization: Bearer $t" \
        --checks all --max-examples "$EXAMPLES" --workers 1 \
        --phases examples,coverage,fuzzing \
        --warnings off --seed 20261126 || status=1
done
if ! kill -0 $server 2>/dev/null; then
    echo "the server died:"; tail -50 "$work/server.log"; status=1
fi
exit $status
