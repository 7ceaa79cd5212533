#!/bin/sh
# Runs once, when the postgres volume is first initialised: Metabase's own role, owning Metabase's application
# database and nothing else (Metabase never connects as the superuser). psql quotes the values (:'var', :"var"),
# so a password may hold any character.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v role="${METABASE_DB_USER:-metabase}" -v password="$METABASE_DB_PASSWORD" \
  -v database="${METABASE_DB_NAME:-metabase}" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
SQL
