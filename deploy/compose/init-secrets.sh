#!/bin/bash
# Creates ./secrets/ for docker-compose.yml: one file per secret, holding the value alone (no newline).
#   ./init-secrets.sh            (from deploy/compose/; a file that exists already is kept)
#
# Generates the passwords, the pseudonym key and the API token (48 random hex digits each) and writes the
# ClickHouse URLs from those passwords, so the users in clickhouse/users.d/serambi.xml and the roles' URLs agree.
# The platforms' webhook secrets and Alertmanager's SMTP password and webhook token are created empty: write into
# them what the platforms and your mail and ticketing systems gave you.
#
# The folder is 0700 (only you, on the host); the files are 0444 because the containers read them as their own
# users (10001, 101, 472, 65534), through bind mounts that keep the host's modes.
set -euo pipefail

dir="${1:-$(dirname "$0")/secrets}"
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

random() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

put() {  # name value: write the file unless it exists
    local file="$dir/$1"
    if [ -e "$file" ]; then
        echo "kept    $file"
        return
    fi
    printf '%s' "$2" > "$file"
    chmod 0444 "$file"
    echo "created $file"
}

generate() {  # name: a random value unless the file exists; prints the file's value
    put "$1" "$(random)" >&2
    cat "$dir/$1"
}

admin="$(generate clickhouse_admin_password)"
writer="$(generate clickhouse_writer_password)"
reader="$(generate grafana_clickhouse_password)"
generate grafana_admin_password > /dev/null
generate pseudonym_key > /dev/null
generate api_token > /dev/null

# The URL each role reads ClickHouse with (SERAMBI_CLICKHOUSE_URL): migrate as the admin user, the workers as the
# writer, the board as the read-only user serambi_grafana (created by migrate) on the second replica.
put clickhouse_migrate_url "http://serambi:${admin}@clickhouse-1:8123"
put clickhouse_writer_url "http://serambi_writer:${writer}@clickhouse-1:8123"
put clickhouse_reader_url "http://serambi_grafana:${reader}@clickhouse-2:8123"

for name in meta_app_secret meta_verify_token x_consumer_secret mastodon_webhook_secret \
            alertmanager_smtp_password alertmanager_webhook_token; do
    put "$name" ""
done

echo "keep a copy of $dir/pseudonym_key: another key gives every citizen new pseudonyms"
