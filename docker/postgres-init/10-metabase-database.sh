#!/bin/sh
# Runs once, when the postgres volume is first initialised: creates Metabase's own application database.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE DATABASE "${METABASE_DB_NAME:-metabase}";
SQL
