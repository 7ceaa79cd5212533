#!/bin/sh
# Runs once, when the postgres volume is first initialised: the read-only role BI tools connect with.
# It may read every table the pipeline creates in the Pipedrive schema (now and later: default privileges of the
# pipeline's role), and nothing else: no writes, no new tables. Roles not granted CONNECT (Metabase's own) may
# not connect to the analytics database at all. The schema is created here, owned by the pipeline's role, so
# the default privileges have a schema to apply to.
# For your own PostgreSQL, the same statements are in the README ("A read-only role for BI tools").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner="$POSTGRES_USER" -v schema="${PIPEBOARD_SCHEMA:-pipedrive}" -v database="$POSTGRES_DB" \
  -v role="${BI_READONLY_USER:-pipeboard_reader}" -v password="$BI_READONLY_PASSWORD" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE SCHEMA IF NOT EXISTS :"schema" AUTHORIZATION :"owner";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"role";
GRANT USAGE ON SCHEMA :"schema" TO :"role";
GRANT SELECT ON ALL TABLES IN SCHEMA :"schema" TO :"role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema" GRANT SELECT ON TABLES TO :"role";
-- Its queries (Grafana's "Pipedrive sales" dashboard) name tables without a schema.
ALTER ROLE :"role" SET search_path = :"schema", public;
SQL
