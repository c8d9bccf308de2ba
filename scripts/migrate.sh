#!/bin/sh
# Apply the SQL migrations of sql/ (or SQL_DIR) to DATABASE_URL, in file-name
# order, each once, each in its own transaction under an advisory lock, and
# record them in schema_migrations. Running it again changes nothing.
#
# usage: migrate.sh [SQL_DIR]      (DATABASE_URL from the environment)
set -eu

sql_dir=${1:-$(dirname "$0")/../sql}
: "${DATABASE_URL:?migrate.sh: missing required setting DATABASE_URL}"

if ! ls "$sql_dir"/*.sql >/dev/null 2>&1; then
	echo "migrate.sh: no .sql files in $sql_dir" >&2
	exit 1
fi

applied=0
for file in $(LC_ALL=C ls "$sql_dir"/*.sql); do
	name=$(basename "$file")
	out=$(psql -X -q -t -A -d "$DATABASE_URL" -v fname="$name" \
	    -v fpath="$file" <<'SQL'
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT pg_advisory_xact_lock(7210001);
CREATE TABLE IF NOT EXISTS schema_migrations (
	filename	text PRIMARY KEY,
	applied_at	timestamptz NOT NULL DEFAULT now()
);
SELECT NOT EXISTS (SELECT 1 FROM schema_migrations
    WHERE filename = :'fname') AS todo \gset
\if :todo
\i :fpath
INSERT INTO schema_migrations (filename) VALUES (:'fname');
SELECT 'applied';
\endif
COMMIT;
SQL
	) || { echo "migrate.sh: $name failed" >&2; exit 1; }
	case $out in
	*applied*) echo "migrate.sh: applied $name"; applied=$((applied + 1));;
	esac
done
echo "migrate.sh: $applied migration(s) applied, schema up to date"
