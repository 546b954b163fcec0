#!/usr/bin/env bash
# Time generate_demo_data on a fresh SQLite file and on a throwaway PostgreSQL.
#
#   bench/generate_demo_data.sh [SQLITE_LINES] [POSTGRES_LINES]    (default 1000000 16000000)
#
# Prints the command's own summary line (rows, seconds) for each database.
set -euo pipefail
cd "$(dirname "$0")/.."
sqlite_lines=${1:-1000000}
postgres_lines=${2:-16000000}
python=${PYTHON:-.venv/bin/python}

run() {
    "$python" manage.py migrate --noinput --verbosity 0
    "$python" manage.py loaddata demo_shop --verbosity 0
    "$python" manage.py generate_demo_data --lines "$1" --seed 1 --end 2026-06-30 2>/dev/null
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== SQLite, $sqlite_lines lines =="
DATABASE_URL="sqlite:///$tmp/bench.sqlite3" run "$sqlite_lines"
echo "== PostgreSQL, $postgres_lines lines =="
python=$python scripts/with-postgres bash -c "$(declare -f run); run $postgres_lines"
