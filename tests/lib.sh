# Shared by the test scripts that run the gatehouse binary (tests/{sdk,fuzz,crash}/run.sh).
# Source it from the repository root.

# fresh_database PREFIX: sets DB_URL to a new SQLite file in $work (when DB_URL is empty) or to a
# fresh schema named PREFIX_… of the PostgreSQL in DB_URL; sets backend, and schema/base_url for
# drop_database. Needs $work.
fresh_database() {
  schema=""
  case "$DB_URL" in
    postgres://* | postgresql://*)
      schema="$1_$(date +%s)_$$"
      psql -q "$DB_URL" -c "CREATE SCHEMA $schema"
      base_url="$DB_URL"
      local sep='?'; case "$DB_URL" in *\?*) sep='&' ;; esac
      DB_URL="${DB_URL}${sep}options=-c%20search_path%3D$schema"
      backend=postgres
      ;;
    "") DB_URL="$work/gatehouse.db"; backend=sqlite ;;
  esac
}

# drop_database: drops the schema fresh_database made, if any.
drop_database() {
  [ -z "$schema" ] || psql -q "$base_url" -c "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true
}

# free_port: a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
