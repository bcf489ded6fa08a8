#!/usr/bin/env bash
# Generates the TypeScript types a frontend would (openapi-typescript) from the
# committed spec and checks that a client can switch on a problem's `code` and
# on an invoice's `status`: both must come out as unions of string literals.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npx -y openapi-typescript@7.13.0 openapi/openapi.json -o "$out/api.d.ts" >/dev/null
check() {
    grep -Eq "$1" "$out/api.d.ts" || { echo "openapi-ts: $2"; exit 1; }
}
check '^ +Code: "invalid_query" \| .*"internal_error";$' 'Code is not a union of the error codes'
check '^ +code: components\["schemas"\]\["Code"\];$' 'Problem.code does not use Code'
check '^ +InvoiceStatus: "draft" \| "issued" \| "paid" \| "void" \| "credited";$' 'InvoiceStatus is not a union'
check '^ +status: components\["schemas"\]\["InvoiceStatus"\];$' 'an invoice status does not use InvoiceStatus'
echo "openapi-ts: codes and statuses are unions a client can switch on"
