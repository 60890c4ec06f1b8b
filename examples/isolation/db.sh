# db.sh migrate | test AREA | unit: a stand-in for a database server, one folder per database.
root="$(dirname "$PTEST_LOG")/databases"
case "$1" in
migrate)
  rm -rf "$root"
  mkdir -p "$root"
  w=0
  while [ "$w" -lt "$PTEST_WORKERS" ]; do
    mkdir "$root/app_test_$w"
    echo "schema v3" > "$root/app_test_$w/schema"
    echo "migrated app_test_$w"
    w=$((w + 1))
  done
  ;;
test)
  db="$root/$DB_NAME"
  if [ ! -f "$db/schema" ]; then
    echo "$2: database $DB_NAME was never migrated" >&2
    exit 1
  fi
  # mkdir is atomic: it fails if another suite holds this database right now.
  if ! mkdir "$db/in-use" 2>/dev/null; then
    echo "$2: database $DB_NAME is in use by $(cat "$db/in-use/by" 2>/dev/null)" >&2
    exit 1
  fi
  echo "$PTEST_SUITE" > "$db/in-use/by"
  echo "$2: using $DB_NAME on worker $PTEST_WORKER"
  sleep 0.3
  rm -r "$db/in-use"
  echo "$2: ok"
  ;;
unit)
  echo "$PTEST_SUITE: no database needed"
  sleep 0.2
  ;;
esac
