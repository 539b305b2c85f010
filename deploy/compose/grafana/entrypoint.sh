#!/bin/sh
# Reads the password of the read-only ClickHouse user serambi_grafana from its secret file into the variable the
# provisioning substitutes (deploy/grafana/provisioning/datasources/serambi.yaml), then runs Grafana's own
# entrypoint. Compose's `environment:` never holds it.
set -eu
secret=/run/secrets/SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD
SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD="$(cat "$secret")" || { echo "cannot read $secret (deploy/compose/README.md)" >&2; exit 1; }
[ -n "$SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD" ] || { echo "$secret is empty (deploy/compose/README.md)" >&2; exit 1; }
export SERAMBI_GRAFANA_CLICKHOUSE_PASSWORD
exec /run.sh "$@"
