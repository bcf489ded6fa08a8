#!/usr/bin/env bash
# The CI recipe of the README: the help page's April example on a test clock,
# with curl and jq. A test account lives at its clock's time; advancing the
# clock runs each month's billing run, in order, as the real one would.
#
#   BASE=http://127.0.0.1:8080 TOKEN=$(comptoir token --role support) examples/test_clock.sh
#
# KEEP=1 keeps the clock and its account (else they are deleted at the end).
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:8080}
: "${TOKEN:?a support token: comptoir token --role support}"

api() { # METHOD PATH [BODY]
    curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' "$BASE$2" ${3:+-d "$3"}
}
advance() { # TO: moves the clock and waits until everything due has run
    api POST "/v1/test-clocks/$CLOCK/advance" "{\"to\": \"$1\"}" > /dev/null
    until [ "$(api GET "/v1/test-clocks/$CLOCK" | jq -r .status)" = ready ]; do sleep 0.2; done
    echo "clock at $1"
}
licenses() { # QUANTITY of ADVANCED, activated on the clock's day
    api POST "/v1/accounts/$ACCOUNT/licenses" "{\"plan\": \"ADVANCED\", \"quantity\": $1}" |
        jq -r '"\(.licenses | length) ADVANCED added, active from \(.licenses[0].activation_date)"'
}

CLOCK=$(api POST /v1/test-clocks '{"name": "CI recipe", "frozen_time": "2026-03-31T10:00:00Z"}' | jq -r .id)
ACCOUNT=$(api POST /v1/accounts "{\"name\": \"Recette CI\", \"test_clock_id\": \"$CLOCK\"}" | jq -r .id)
echo "test clock $CLOCK, test account $ACCOUNT"
api POST "/v1/accounts/$ACCOUNT/payment-methods/card" \
    '{"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "Claire Martin"}' > /dev/null
ADDRESS=$(api POST "/v1/accounts/$ACCOUNT/billing-addresses" \
    '{"company_name": "Recette CI SAS", "line1": "1 rue de la Paix", "postal_code": "75002", "city": "Paris", "country": "FR"}' | jq -r .id)
api POST "/v1/accounts/$ACCOUNT/billing-addresses/$ADDRESS/verify" '{}' > /dev/null

# Before April: 4 ADVANCED licenses and 3 additional numbers.
licenses 4
for _ in 1 2 3; do api POST "/v1/accounts/$ACCOUNT/phone-numbers" '{"country": "FR"}' > /dev/null; done
# April: 3 licenses on the 1st, 1 on the 2nd, 2 on the 9th.
advance 2026-04-01T08:00:00Z
licenses 3
advance 2026-04-02T08:00:00Z
licenses 1
advance 2026-04-09T08:00:00Z
licenses 2
# May 1: the May invoice is issued at the clock's time.
advance 2026-05-01T08:00:00Z

invoices=$(api GET "/v1/accounts/$ACCOUNT/invoices?limit=10")
echo "$invoices" | jq -r '.data[] | "\(.number)  \(.issue_date)  \(.subtotal) + VAT \(.tax_amount) = \(.total) \(.currency)  \(.status)"'
may=$(echo "$invoices" | jq -r '.data[] | select(.issue_date == "2026-05-01") | "\(.subtotal) \(.tax_amount) \(.total)"')
if [ "$may" != "1002.73 200.55 1203.28" ]; then
    echo "the May invoice is not the help page's: $may" >&2
    exit 1
fi
echo "the May invoice is the help page's: 1002.73 + 200.55 = 1203.28 EUR"
if [ -z "${KEEP:-}" ]; then
    api DELETE "/v1/test-clocks/$CLOCK"
    echo "test clock deleted, with its account"
fi
