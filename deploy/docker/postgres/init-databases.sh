#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume
# (/docker-entrypoint-initdb.d). Creates:
#   - role and database `doudi`: the application database; each service creates its own schema
#     in it through its own migrations at start-up;
#   - role `temporal` and databases `temporal` and `temporal_visibility` for the Temporal server.
# Changing a password later means ALTER ROLE by hand: this script does not run again.
set -eu

: "${DOUDI_DB_PASSWORD:?DOUDI_DB_PASSWORD is required}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD is required}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v doudi_password="$DOUDI_DB_PASSWORD" \
  -v temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
CREATE ROLE doudi LOGIN PASSWORD :'doudi_password';
CREATE DATABASE doudi OWNER doudi;
REVOKE ALL ON DATABASE doudi FROM PUBLIC;

CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal FROM PUBLIC;
REVOKE ALL ON DATABASE temporal_visibility FROM PUBLIC;
SQL
