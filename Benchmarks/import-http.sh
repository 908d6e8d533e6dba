#!/usr/bin/env bash
# The bulk-import benchmark (issue 17): `datarights import` of DATASETS datasets and about 1.5 derivations
# a dataset (a DAG, some lines deliberately bad: Benchmarks/import-generate.py) from a CSV file into
# `datarights serve` on an embedded PostgreSQL, release build, over loopback, as a department.
#
# Two runs, each into a fresh registry:
#   1. the whole file in one go: total time, lines/s, refusals by reason;
#   2. the same file, the importer killed with SIGKILL once about half of it is in (by its journal), then
#      run again to the end: each line imported once, checked by SQL (datasets, derivations, duplicate
#      titles, idempotency keys) against run 1's counts.
#
# Usage, from anywhere:  bash Benchmarks/import-http.sh
#   DATASETS     datasets in the file (100000)
#   CONCURRENCY  the importer's requests in flight (16)
#   PORT         (18097)
#   EDGE_LIMITS  the server's edge limits; by default the per-key rates of Benchmarks/lib/demo-server.sh
#                (far above what one machine sends), so that the run measures the server, not the 200
#                requests a second a key gets by default (docs/SECURITY.md; the importer waits out every 429)
#
# On success, failure or a signal the script stops what it started and removes its work directory.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DATASETS=${DATASETS:-100000}
CONCURRENCY=${CONCURRENCY:-16}
PORT=${PORT:-18097}
PG_BIN=/usr/lib/postgresql/15/bin
PG_USER=datarights
PG_DATABASE=datarights

say() { printf '%s\n' "$*" >&2; }
die() { say "import-http: $*"; exit 1; }
exec 3>&1 4>&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/import-http.XXXXXX")
chmod 0755 "$WORK"
SERVER_PID=""
IMPORT_PID=""
DATA_DIR=$WORK/data-none  # each run sets its own (fresh_server)
source Benchmarks/lib/demo-server.sh

cleanup() {
    local status=$?
    set +e
    exec 1>&3 2>&4
    [[ -n $IMPORT_PID ]] && kill -KILL "$IMPORT_PID" 2>/dev/null
    stop_demo_server
    report_leftovers
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

say "Building the release binary"
swift build -c release --product datarights >&2
FILE=$WORK/import.csv
say "Generating $FILE"
python3 Benchmarks/import-generate.py "$FILE" "$DATASETS" >"$WORK/generated.txt"
LINES=$(($(wc -l <"$FILE") - 1))
say "  $LINES lines: $(cat "$WORK/generated.txt")"

sql() { "$PG_BIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h "$(readlink -f "$DATA_DIR/postgres").run" -U "$PG_USER" "$PG_DATABASE" -c "$1"; }
counts() {
    sql "SELECT (SELECT count(*) FROM dataset WHERE title LIKE 'Dataset %, batch %') || ' datasets, '
        || (SELECT count(*) FROM derivation d JOIN dataset t ON t.id = d.target_id WHERE t.title LIKE 'Dataset %, batch %') || ' derivations, '
        || (SELECT count(*) FROM (SELECT title FROM dataset GROUP BY title HAVING count(*) > 1) x) || ' duplicated titles, '
        || (SELECT count(*) FROM idempotency_key) || ' idempotency keys'"
}
seconds_since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(date +%s.%N)"; }

# $1: run name. Starts a demo server of 50 datasets (for its department's key) in a fresh data directory.
fresh_server() {
    stop_demo_server
    DATA_DIR=$WORK/data-$1
    start_demo_server "$PORT" 50 600
    KEY=$(demo_key department)
    [[ -n $KEY ]] || die "no department key in the demo output"
}

import() {
    .build/release/datarights import "$FILE" --url "http://127.0.0.1:$PORT" --key "$KEY" --concurrency "$CONCURRENCY" "$@"
}

say "=== Run 1: the whole file"
fresh_server one
rm -f "$FILE.import-journal" "$FILE.refused.csv"
started=$(date +%s.%N)
status=0
import >"$WORK/run1.out" 2>"$WORK/run1.err" || status=$?
elapsed=$(seconds_since "$started")
cat "$WORK/run1.out" | tail -n 8 >&2
say "exit status $status; $elapsed s; $(python3 -c "print(f'{$LINES / $elapsed:.0f}')") lines/s"
say "refusals by reason:"
python3 - "$FILE.refused.csv" >&2 <<'PY'
import csv, sys, collections
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
reasons = collections.Counter(f"{r['status'] or 'not sent'} {r['field']}: {r['title']}" for r in rows)
for reason, n in reasons.most_common():
    print(f"  {n:6d}  {reason}")
PY
ONE=$(counts)
say "in PostgreSQL: $ONE"

say "=== Run 2: killed with SIGKILL at about half, then resumed"
fresh_server two
rm -f "$FILE.import-journal" "$FILE.refused.csv"
started=$(date +%s.%N)
# The importer itself in the background (not a function's subshell: $! must be the process killed).
.build/release/datarights import "$FILE" --url "http://127.0.0.1:$PORT" --key "$KEY" --concurrency "$CONCURRENCY" \
    >"$WORK/run2a.out" 2>"$WORK/run2a.err" &
IMPORT_PID=$!
until (($(wc -l 2>/dev/null <"$FILE.import-journal" || echo 0) > LINES / 2)); do
    kill -0 "$IMPORT_PID" 2>/dev/null || die "the importer ended before half the file"
    sleep 0.2
done
kill -KILL "$IMPORT_PID"
wait "$IMPORT_PID" 2>/dev/null || true
IMPORT_PID=""
pgrep -f -- "import $FILE" >/dev/null && die "an importer still runs after the kill"
say "killed after $(seconds_since "$started") s with $(($(wc -l <"$FILE.import-journal") - 1)) lines in the journal; in PostgreSQL: $(counts)"
resumed=$(date +%s.%N)
status=0
import >"$WORK/run2b.out" 2>"$WORK/run2b.err" || status=$?
tail -n 8 "$WORK/run2b.out" >&2
say "resumed run: exit status $status, $(seconds_since "$resumed") s; both parts: $(seconds_since "$started") s"
TWO=$(counts)
say "in PostgreSQL: $TWO"
if [[ $ONE == "$TWO" ]]; then
    say "each line imported once: the same counts as the uninterrupted run"
else
    die "counts differ from the uninterrupted run: $ONE vs $TWO"
fi
