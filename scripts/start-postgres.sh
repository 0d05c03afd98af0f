#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for the tests and print its SQLAlchemy URL.
# Installs the server with apt-get when the machine has none (CI runs as root).
set -euo pipefail
port=${APIFLAG_TEST_PG_PORT:-54329}
dir=${APIFLAG_TEST_PG_DIR:-/tmp/apiflag-pg-$port}
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
bin=$(find_bin || true)
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
  echo "installing PostgreSQL server with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
  bin=$(find_bin)
fi
run() { if [[ $(id -u) -eq 0 ]]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
if ! "$bin/pg_isready" -h 127.0.0.1 -p "$port" -q 2>/dev/null; then
  rm -rf "$dir"; mkdir -p "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres "$dir"
  run "'$bin/initdb' -D '$dir/data' -U postgres -A trust >/dev/null"
  run "'$bin/pg_ctl' -D '$dir/data' -o '-p $port -k $dir -c listen_addresses=127.0.0.1' -l '$dir/log' -w start >/dev/null"
fi
echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
