#!/bin/bash
# Reads the passwords of the XML-defined users from their secret files into the variables users.d/serambi.xml
# substitutes (from_env), then runs the image's own entrypoint. Compose's `environment:` never holds them.
set -euo pipefail

read_secret() {  # file -> stdout; refuses a missing or empty file (a user with an empty password)
    local value
    value="$(cat "$1" 2>/dev/null)" || { echo "cannot read $1: create it (deploy/compose/README.md)" >&2; exit 1; }
    [ -n "$value" ] || { echo "$1 is empty: write the password into it (deploy/compose/README.md)" >&2; exit 1; }
    printf '%s' "$value"
}

SERAMBI_CLICKHOUSE_ADMIN_PASSWORD="$(read_secret /run/secrets/clickhouse_admin_password)"
SERAMBI_CLICKHOUSE_WRITER_PASSWORD="$(read_secret /run/secrets/clickhouse_writer_password)"
export SERAMBI_CLICKHOUSE_ADMIN_PASSWORD SERAMBI_CLICKHOUSE_WRITER_PASSWORD
exec /entrypoint.sh "$@"
