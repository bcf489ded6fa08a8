#!/usr/bin/env bash
# Runs examples/test_clock.sh (the README's CI recipe) against a real server
# on the real time, on a fresh database:
#
#   tests/test_clock_example.sh                      SQLite (a temporary file)
#   tests/test_clock_example.sh postgres://.../db    PostgreSQL (the database is emptied)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/debug/comptoir
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
db=${1:-sqlite://$work/example.db}
if [[ $db == postgres* ]]; then
    admin_url=${db%/*}/postgres
    name=${db##*/}
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
fi
export DATABASE_URL=$db COMPTOIR_ADDR=127.0.0.1:$port COMPTOIR_DATA_DIR=$work/data RUST_LOG=${RUST_LOG:-warn}
export COMPTOIR_VIES_URL=http://127.0.0.1:1 COMPTOIR_VIES_TIMEOUT=1
# Cards need a data key; a fresh one.
COMPTOIR_DATA_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
export COMPTOIR_DATA_KEY
$BIN serve > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.2; done

echo "== examples/test_clock.sh ($db)"
BASE="http://127.0.0.1:$port" TOKEN=$($BIN token --role support --ttl 1h) examples/test_clock.sh || {
    echo "server log:"; tail -30 "$work/server.log"; exit 1
}
