#!/usr/bin/env bash
# The usage benchmark (R26–R28, a performance target of BRIEF.md): durable, acknowledged usage events
# through the batched HTTP endpoint, against one PostgreSQL transaction per event on the same schema,
# measured in one run.
#
# What it measures, on one machine: usage events per second acknowledged by `datarights serve` on
# `POST /v1/usage` over loopback (each answer is sent only after the PostgreSQL transaction holding its
# events committed), with several model labs sending at once from CONNECTIONS concurrent clients, BATCH
# events a request; then, on the same database of the same (idle) server, pgbench writing one event per
# transaction (Benchmarks/usage-baseline.sql) with 1 and with CONNECTIONS clients. It prints both rates
# and their ratios.
#
# Targets: ≥ 200,000 events/s; ≥ 50× one transaction per event.
#
# Usage, from anywhere (it works from the repository root):
#   bash Benchmarks/usage-http.sh
#   CONNECTIONS=16 SWEEP="4 16 64" DURATION=20 bash Benchmarks/usage-http.sh
#
# Settings (environment):
#   DATASETS      datasets of the demo registry (10000; about 2 % of them carry grants to labs)
#   DURATION      seconds of each measured run, HTTP and pgbench (20)
#   WARMUP        seconds of load before the measured runs (5), once over HTTP and once with pgbench
#   BATCH         events per request (1000; the server takes up to 4096)
#   CONNECTIONS   concurrent HTTP clients of the headline run, and pgbench clients of the baseline (16)
#   SWEEP         HTTP connection counts measured ("4 16 64"; CONNECTIONS is added when missing)
#   BASELINE_CLIENTS  pgbench client counts ("1 CONNECTIONS")
#   PARTIES       model labs sending (10, the demo's labs): the operator issues each a key
#   QUIET_TIMEOUT seconds to wait for a quiet machine before each run (900): other processes using under
#                 a quarter of a core and writing under QUIET_WRITE_MIBS (4) MiB/s to storage
#   ATTEMPTS      measured runs at most while other processes disturb them (3); the least disturbed counts
#   READY_TIMEOUT seconds to wait for the demo load and readiness (3600)
#   CHECK_KEYS    1 (default) to count duplicate idempotency keys in PostgreSQL after the HTTP runs
#   ONETRIP       1 (default) to measure a second baseline as well: the same per-event transaction as one
#                 statement, one round trip an event (Benchmarks/usage-baseline-onetrip.sql)
#   PROFILE=1     profile datarights with perf under the headline load after the measured runs
#   PORT          (18090)
#   DATARIGHTS_BENCH_NO_USAGE_ROLLUPS=1  passed to the server: no usage rollups (issue 16), to measure what
#                 they cost against a run without it
#
# wrk and pgbench run on the same two cores as the server and PostgreSQL. The server runs with
# synchronous_commit on (the embedded cluster's default), and so does the baseline: acknowledged means
# durable in both. Benchmarks/usage-cpu.py samples where the CPU goes during each measured run. On
# success, failure or a signal, the script stops everything it started (the server stops its PostgreSQL)
# and removes its work directory.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DATASETS=${DATASETS:-10000}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
BATCH=${BATCH:-1000}
CONNECTIONS=${CONNECTIONS:-16}
SWEEP=${SWEEP:-4 16 64}
BASELINE_CLIENTS=${BASELINE_CLIENTS:-1 $CONNECTIONS}
PARTIES=${PARTIES:-10}
READY_TIMEOUT=${READY_TIMEOUT:-3600}
QUIET_TIMEOUT=${QUIET_TIMEOUT:-900}
ATTEMPTS=${ATTEMPTS:-3}
CHECK_KEYS=${CHECK_KEYS:-1}
ONETRIP=${ONETRIP:-1}
PORT=${PORT:-18090}
THREADS=2
# The quiet threshold: cores used by processes other than ours (server, PostgreSQL, load generator).
QUIET_CORES=0.25
# … and the quiet threshold of their writes to storage, MiB/s.
QUIET_WRITE_MIBS=${QUIET_WRITE_MIBS:-4}
# Seconds to wait after load before reading PostgreSQL's statistics: an idle backend reports its
# pending counters within 10 s (PGSTAT_IDLE_INTERVAL).
STATS_SETTLE=11
TARGET_RATE=200000
TARGET_RATIO=50
LUA=Benchmarks/usage-http.lua
BASELINE_SQL=Benchmarks/usage-baseline.sql
ONETRIP_SQL=Benchmarks/usage-baseline-onetrip.sql
CPU=Benchmarks/usage-cpu.py
PG_BIN=/usr/lib/postgresql/15/bin
PG_USER=datarights  # the superuser the embedded cluster is initialised with (EmbeddedPostgres.Configuration)
PG_DATABASE=datarights

say() { printf '%s\n' "$*" >&2; }
die() { say "usage-http: $*"; exit 1; }

if ! command -v wrk >/dev/null; then
    say "wrk is not installed: installing the Debian package wrk (apt-get install -y wrk)"
    { apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; } >&2 \
        || die "could not install wrk; install it (apt-get install wrk) and run again"
fi
for tool in curl python3 stdbuf awk; do command -v "$tool" >/dev/null || die "$tool is required"; done
for tool in psql pgbench; do [[ -x $PG_BIN/$tool ]] || die "$PG_BIN/$tool is required (the postgresql-15 package)"; done
for file in $LUA $BASELINE_SQL $ONETRIP_SQL $CPU; do [[ -f $file ]] || die "$file is missing"; done
((BATCH >= 1 && BATCH <= 4096)) || die "BATCH must be 1 to 4096"
[[ " $SWEEP " == *" $CONNECTIONS "* ]] || SWEEP="$SWEEP $CONNECTIONS"
for c in $SWEEP; do ((c >= THREADS)) || die "every SWEEP value must be at least $THREADS (wrk threads)"; done
if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"; then die "port $PORT is in use: stop what listens there, or set PORT"; fi

# The script's own stdout and stderr, kept on 3 and 4: a signal can run the cleanup while a function's
# output is redirected to a file of the work directory, which the cleanup deletes.
exec 3>&1 4>&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/usage-http.XXXXXX")
# The embedded PostgreSQL runs as an unprivileged account when we are root: it must be able to enter the
# directory, or the cluster would be relocated outside it.
chmod 0755 "$WORK"
DATA_DIR=$WORK/data
SERVER_PID=""
# Background children of this shell that the cleanup ends: wrk, pgbench, the CPU sampler.
CHILDREN=()

# wait_for_exit, start_demo_server, demo_key, stop_demo_server, report_leftovers.
source Benchmarks/lib/demo-server.sh

cleanup() {
    local status=$?
    set +e
    exec 1>&3 2>&4
    local pid
    for pid in "${CHILDREN[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            wait_for_exit "$pid" 10 || kill -KILL "$pid"
        fi
    done
    stop_demo_server
    report_leftovers
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Runs "$@" in the background (so that a signal interrupts the wait at once), waits for it, returns its
# status. Its output goes where the caller redirects this function's.
run_child() {
    local pid status=0
    "$@" &
    pid=$!
    CHILDREN+=("$pid")
    wait "$pid" || status=$?
    forget_child "$pid"
    return "$status"
}

# sleep, interruptible at once by a signal (a foreground sleep would hold the cleanup back).
pause() {
    sleep "$1" &
    local pid=$!
    CHILDREN+=("$pid")
    wait "$pid" || true
    forget_child "$pid"
}

# Takes a child that has ended (and been waited for) off the cleanup's list, so that the cleanup never
# signals a later process that happens to get the same id.
forget_child() {
    local kept=() pid
    for pid in "${CHILDREN[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
    CHILDREN=("${kept[@]}")
}

# Starts the CPU sampler (usage-cpu.py) in the background, writing to $WORK/cpu.json; SAMPLER_PID.
start_sampler() {
    python3 "$CPU" --server "$SERVER_PID" --postmaster "$POSTMASTER" --client-parent $$ >"$WORK/cpu.json" &
    SAMPLER_PID=$!
    CHILDREN+=("$SAMPLER_PID")
}
stop_sampler() {
    kill -TERM "$SAMPLER_PID"
    wait "$SAMPLER_PID" || true
    forget_child "$SAMPLER_PID"
}

# --- Build -----------------------------------------------------------------------------------------------

say "Building (release): datarights"
swift build -c release --product datarights >&2

# --- Start datarights with a demo registry -------------------------------------------------------------

start_demo_server "$PORT" "$DATASETS" "$READY_TIMEOUT"

OPERATOR_KEY=$(demo_key operator)
LAB_KEY=$(demo_key model_lab)
[[ $OPERATOR_KEY == drk_* && $LAB_KEY == drk_* ]] || die "no operator or model_lab key in the demo output (see above)"

# The embedded cluster: its directory (relocated, and linked from the data directory, when the server
# account cannot reach it), its socket directory beside it, and its postmaster.
CLUSTER=$(readlink -f "$DATA_DIR/postgres")
SOCKET_DIR=$CLUSTER.run
[[ -S $SOCKET_DIR/.s.PGSQL.5432 ]] || die "no PostgreSQL socket in $SOCKET_DIR (a data directory path too long for a socket?)"
POSTMASTER=$(head -n 1 "$CLUSTER/postmaster.pid")
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -U "$PG_USER" "$PG_DATABASE")
sql() { "${PSQL[@]}" -tA -c "$1"; }
say "PostgreSQL: $(sql "SELECT version()" | cut -d' ' -f1-2), cluster $CLUSTER, postmaster $POSTMASTER;" \
    "synchronous_commit $(sql 'SHOW synchronous_commit'), fsync $(sql 'SHOW fsync'), wal_sync_method $(sql 'SHOW wal_sync_method')," \
    "commit_delay $(sql 'SHOW commit_delay'), shared_buffers $(sql 'SHOW shared_buffers'), max_wal_size $(sql 'SHOW max_wal_size')"

# --- Senders and their grants --------------------------------------------------------------------------

# How many events the runs could ask for at most, so that no grant runs out of quota on the way: every
# planned second (warm-up, every attempt of every run) at 400,000 events/s.
sweep_count=$(wc -w <<<"$SWEEP")
planned_events=$(((WARMUP + DURATION * sweep_count * ATTEMPTS + 30) * 400000))

say "Collecting the senders: the first $PARTIES model labs, a key for each, and their active grants"
TARGETS=$WORK/targets.txt
GRANT_NUMBERS=$WORK/grant-numbers.txt
mapfile -t prepared < <(BASE="http://127.0.0.1:$PORT" OPERATOR="$OPERATOR_KEY" LAB="$LAB_KEY" PARTIES="$PARTIES" \
    PLANNED="$planned_events" OUT="$TARGETS" NUMBERS="$GRANT_NUMBERS" python3 - <<'PYTHON'
import datetime, json, os, sys, urllib.request

base, operator, lab = os.environ["BASE"], os.environ["OPERATOR"], os.environ["LAB"]
parties_wanted, planned = int(os.environ["PARTIES"]), int(os.environ["PLANNED"])

def call(path, token, method="GET", body=None):
    request = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)

def pages(path, token):
    cursor = None
    while True:
        page = call(path + ("&cursor=" + cursor if cursor else ""), token)
        yield from page["items"]
        cursor = page.get("nextCursor")
        if not cursor:
            return

def instant(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))

demo_lab = call("/v1/me", lab)
labs = list(pages("/v1/parties?limit=200&kind=model_lab", operator))
labs.sort(key=lambda party: (party["id"] != demo_lab["id"], party["id"]))
labs = labs[:parties_wanted]
now = datetime.datetime.now(datetime.timezone.utc)
senders = []
for party in labs:
    token = lab if party["id"] == demo_lab["id"] else call(f"/v1/parties/{party['id']}/keys", operator, "POST", {"label": "usage benchmark"})["token"]
    grants = [g for g in pages(f"/v1/grants?limit=200&assignee={party['id']}&state=active", token)
              if g["assignee"] == party["id"] and g["state"] == "active"
              and instant(g["validFrom"]) < now - datetime.timedelta(minutes=10)
              and instant(g["validUntil"]) > now + datetime.timedelta(hours=2)]
    if grants:
        senders.append((party, token, grants))
if not senders:
    raise SystemExit("no model lab holds an active grant: nothing would be accepted")
# Each sender gets an equal share of the requests, spread round-robin over its grants: the grant of the
# sender with the fewest grants takes the most events.
need = planned // len(senders) // min(len(grants) for _, _, grants in senders) + 1
lines, numbers, dropped, remaining_min = [], [], 0, None
for party, token, grants in senders:
    kept = []
    for grant in grants:
        usage = call(f"/v1/grants/{grant['number']}/usage", token)
        if usage["tokensRemaining"] >= need:
            kept.append(grant["number"])
            remaining_min = usage["tokensRemaining"] if remaining_min is None else min(remaining_min, usage["tokensRemaining"])
        else:
            dropped += 1
    if kept:
        lines.append(token + " " + " ".join(kept))
        numbers.extend(kept)
with open(os.environ["OUT"], "w") as file:
    file.write("\n".join(lines) + "\n")
with open(os.environ["NUMBERS"], "w") as file:
    file.write("\n".join(numbers) + "\n")
print(f"{len(lines)} labs ({', '.join(str(p['id']) for p, _, _ in senders)}) send, "
      f"{len(numbers)} active grants (smallest remaining quota {remaining_min:,} tokens; "
      f"{dropped} left out with under {need:,} remaining)")
print(len(lines))
print(len(numbers))
PYTHON
)
((${#prepared[@]} == 3)) || die "could not prepare the senders"
say "Senders: ${prepared[0]}"
SENDERS=${prepared[1]}
GRANT_COUNT=${prepared[2]}

say "Sanity: one request of 3 events by the first lab, then the same request again (R26: replayed)"
sanity_grant=$(awk 'NR == 1 { print $2 }' "$TARGETS")
sanity_body=$(python3 -c '
import datetime, json, sys
at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({"events": [{"grant": sys.argv[1], "tokens": 1, "at": at, "key": f"sanity-{i}"} for i in range(3)]}))' "$sanity_grant")
for attempt in first again; do
    answer=$(curl -s -w ' [HTTP %{http_code}]' -H "Authorization: Bearer $LAB_KEY" -H 'Content-Type: application/json' \
        --data "$sanity_body" "http://127.0.0.1:$PORT/v1/usage")
    say "  $attempt: ${answer:0:400}"
    [[ $answer == *'[HTTP 200]' ]] || die "the sanity request was not answered 200"
done
SANITY_EVENTS=3

# --- Measuring helpers --------------------------------------------------------------------------------

# Cores used over the next $1 seconds, per category (see usage-cpu.py): prints its JSON.
cpu_for() {
    python3 "$CPU" --seconds "$1" --server "$SERVER_PID" --postmaster "$POSTMASTER" --client-parent $$
}

# How much other processes disturbed a sample (usage-cpu.py's JSON in $1, or a run's JSON line with it
# under "cpu"): prints "<ratio> <words>", the ratio under 1 when they used under QUIET_CORES cores and
# wrote under QUIET_WRITE_MIBS MiB/s (another process's writes slow the fsyncs of both servers).
disturbance() {
    python3 - "$1" "$QUIET_CORES" "$QUIET_WRITE_MIBS" <<'PYTHON'
import json, sys
sample = json.loads(sys.argv[1])
sample = sample.get("cpu", sample)
cores, wrote = sample["cores"]["others"], sample["write_mib_s"]["others"]
ratio = max(cores / float(sys.argv[2]), wrote / float(sys.argv[3]))
busiest = ", ".join("%s %.2f" % (p["comm"], p["cores"]) for p in sample["top"] if p["category"] == "others")
print(f"{ratio:.2f} {cores:.2f} cores and {wrote:.1f} MiB/s of writes ({busiest or 'none'})")
PYTHON
}

# Waits (up to QUIET_TIMEOUT seconds) until other processes leave the machine quiet (see disturbance).
wait_for_quiet() {
    local waited=0 found
    while :; do
        found=$(disturbance "$(cpu_for 3)")
        awk -v d="${found%% *}" 'BEGIN { exit !(d < 1) }' && return 0
        if ((waited >= QUIET_TIMEOUT)); then
            say "WARNING: other processes still use ${found#* } after ${waited}s of waiting: measuring anyway"
            return 0
        fi
        ((waited == 0)) && say "Other processes use ${found#* }: waiting for a quiet machine"
        pause 10
        waited=$((waited + 13))
    done
}

# PostgreSQL's counters now, as one line of key=value: WAL position (bytes), the newest server batch and
# event ids, WAL writes and syncs, commits of the database.
pg_stats() {
    sql "SELECT 'wal_bytes=' || (pg_current_wal_lsn() - '0/0')::int8
              || ' batch_id=' || coalesce((SELECT max(id) FROM usage_batch WHERE id < 1000000000000), 0)
              || ' event_id=' || coalesce((SELECT last_event FROM usage_batch WHERE id < 1000000000000 AND last_event IS NOT NULL
                                           ORDER BY id DESC LIMIT 1), 0)
              || ' wal_write=' || (SELECT wal_write FROM pg_stat_wal)
              || ' wal_sync=' || (SELECT wal_sync FROM pg_stat_wal)
              || ' commits=' || (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())"
}

rss_kib() { awk '/VmRSS/ { print $2 }' "/proc/$SERVER_PID/status"; }

# Combines one measured run's pieces into a JSON line on stdout: kind, clients, the load generator's
# RESULT (key=value), the CPU sample (JSON), PostgreSQL's counters before and after, RSS before and after.
combine() {
    python3 - "$@" <<'PYTHON'
import json, sys
kind, clients, result, cpu, before, after, rss_before, rss_after, seconds = sys.argv[1:10]
def pairs(text):
    return {k: v for k, v in (field.split("=", 1) for field in text.split() if "=" in field)}
def number(value):
    try:
        return float(value)
    except ValueError:
        return value
record = {"kind": kind, "clients": int(clients), "seconds": float(seconds)}
record.update({k: number(v) for k, v in pairs(result).items()})
record["cpu"] = json.loads(cpu)
b, a = pairs(before), pairs(after)
record["pg"] = {k: float(a[k]) - float(b[k]) for k in b}
# The newest server event id before and after: the server has answered that many events so far, and
# remembers the key of every one (they are all within the 24 h retention).
record["event_id_before"], record["event_id_after"] = int(b["event_id"]), int(a["event_id"])
record["rss_kib_before"], record["rss_kib_after"] = int(rss_before), int(rss_after)
print(json.dumps(record))
PYTHON
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
HTTP_ACKED=0
wrk_command() { echo "wrk -t$THREADS -c$1 -d${2}s --timeout 30s --latency -s $LUA http://127.0.0.1:$PORT"; }

# One wrk run of $2 seconds with $1 connections (run nonce $3); its output in $WORK/wrk.out.
wrk_run() {
    local connections=$1 seconds=$2 nonce=$3
    USAGE_TARGETS=$TARGETS USAGE_BATCH=$BATCH USAGE_RUN=$nonce \
        run_child wrk -t"$THREADS" -c"$connections" -d"${seconds}s" --timeout 30s --latency -s "$LUA" "http://127.0.0.1:$PORT" \
        >"$WORK/wrk.out" 2>&1 || { cat "$WORK/wrk.out" >&2; die "wrk failed"; }
    grep -q '^RESULT ' "$WORK/wrk.out" || { cat "$WORK/wrk.out" >&2; die "wrk printed no RESULT line"; }
    local acked
    acked=$(sed -n 's/^RESULT .* events=\([0-9]*\) .*/\1/p' "$WORK/wrk.out")
    HTTP_ACKED=$((HTTP_ACKED + acked))
}

# One measured HTTP run with $1 connections: a checkpoint, a quiet machine, then wrk under the CPU
# sampler; writes its JSON line to $WORK/run.json. (Run in this shell, not in a command substitution:
# wrk must be a child of this shell, for the sampler and for the cleanup.)
measure_http() {
    local connections=$1 attempt=$2 before after rss_before rss_after
    sql "CHECKPOINT" >/dev/null
    wait_for_quiet
    before=$(pg_stats) rss_before=$(rss_kib)
    start_sampler
    wrk_run "$connections" "$DURATION" "c${connections}a${attempt}t$(date +%s)"
    stop_sampler
    rss_after=$(rss_kib)
    pause "$STATS_SETTLE"
    after=$(pg_stats)
    sed 's/^/    /' "$WORK/wrk.out" >&2
    combine http "$connections" "$(grep '^RESULT ' "$WORK/wrk.out")" "$(<"$WORK/cpu.json")" "$before" "$after" \
        "$rss_before" "$rss_after" "$DURATION" >"$WORK/run.json"
}

# Measured runs until one had the machine to itself, at most ATTEMPTS; keeps the least disturbed.
measure_best() {
    local what=$1 clients=$2 attempt line best="" best_disturbance=99 found
    for ((attempt = 1; attempt <= ATTEMPTS; attempt++)); do
        "measure_$what" "$clients" "$attempt"
        line=$(<"$WORK/run.json")
        say "  cores: $(python3 -c '
import json, sys
r = json.loads(sys.argv[1]); c = r["cpu"]["cores"]; w = r["cpu"]["write_mib_s"]
print(" ".join(f"{k} {c[k]:.2f}" for k in ("server", "postgres", "client", "sampler", "others", "irq", "machine"))
      + " | others wrote %.1f MiB/s" % w["others"]
      + " | disk busy %.0f %%" % (100 * r["cpu"]["disk_busy"])
      + " | busiest: " + ", ".join("%s(%s) %.2f" % (p["comm"], p["category"], p["cores"]) for p in r["cpu"]["top"][:6]))' "$line")"
        found=$(disturbance "$line")
        if awk -v d="${found%% *}" -v b="$best_disturbance" 'BEGIN { exit !(d < b) }'; then best=$line best_disturbance=${found%% *}; fi
        awk -v d="${found%% *}" 'BEGIN { exit !(d < 1) }' && break
        say "  other processes took ${found#* } during that run: measuring again"
    done
    printf '%s\n' "$best" >>"$RESULTS"
}

# --- HTTP ------------------------------------------------------------------------------------------------

say "Warm-up: $(wrk_command "$CONNECTIONS" "$WARMUP")"
wrk_run "$CONNECTIONS" "$WARMUP" "warm$(date +%s)"
grep '^RESULT ' "$WORK/wrk.out" | sed 's/^/    /' >&2
pause "$STATS_SETTLE"

for connections in $SWEEP; do
    say "HTTP, $connections connections: $(wrk_command "$connections" "$DURATION")  [$BATCH events a request, $SENDERS labs, $GRANT_COUNT grants]"
    measure_best http "$connections"
done
HTTP_RSS_KIB=$(rss_kib)

say "PostgreSQL after the HTTP runs (events acknowledged over HTTP, sanity requests included: $((HTTP_ACKED + SANITY_EVENTS)))"
POSTGRES_CHECK=$(sql "SELECT count(*) || ' events, ' || count(*) FILTER (WHERE accepted) || ' accepted, '
                            || count(*) FILTER (WHERE NOT accepted) || ' denied; '
                            || (SELECT count(*) FROM usage_batch) || ' group commits, '
                            || (SELECT round(avg(events)) FROM usage_batch) || ' events a commit on average, at most '
                            || (SELECT max(events) FROM usage_batch)
                       FROM usage_event")
say "  $POSTGRES_CHECK"
POSTGRES_EVENTS=$(sql "SELECT count(*) FROM usage_event")
DENIALS=$(sql "SELECT coalesce(string_agg(rule || coalesce('/' || quota, '') || ' ' || n, ', '), 'none') FROM (
                 SELECT rule, quota, count(*) AS n FROM usage_event WHERE NOT accepted GROUP BY 1, 2 ORDER BY 3 DESC) AS d")
say "  denials by rule/quota: $DENIALS"
if [[ $CHECK_KEYS == 1 ]]; then
    DUPLICATES=$(sql "SELECT count(*) - count(DISTINCT (assignee_id, idempotency_key)) FROM usage_event")
    say "  events sharing an (assignee, key) with another: $DUPLICATES"
else
    DUPLICATES="not checked"
fi
LEDGER=$(curl -s -H "Authorization: Bearer $OPERATOR_KEY" "http://127.0.0.1:$PORT/v1/ledger/balance")
say "  GET /v1/ledger/balance: $LEDGER"
SERVER_LOG_LINES=$(wc -l <"$WORK/datarights.err")
if ((SERVER_LOG_LINES > 0)); then
    say "  datarights logged $SERVER_LOG_LINES lines at warning or above; the last ones:"
    tail -n 10 "$WORK/datarights.err" | cut -c1-400 | sed 's/^/    /' >&2
fi

# --- Baseline: one transaction per event, on the same database -----------------------------------------

say "Baseline: scratch schema usage_bench with the same $GRANT_COUNT grants (ids moved by 10^12), one batch row"
"${PSQL[@]}" -v numbers="$(paste -sd, "$GRANT_NUMBERS")" <<'SQL'
CREATE SCHEMA usage_bench;
CREATE TABLE usage_bench.target (
    n int4 PRIMARY KEY, grant_id int8 NOT NULL, dataset_id int8 NOT NULL, assignee_id int8 NOT NULL, payee_id int8 NOT NULL,
    price int8 NOT NULL);
INSERT INTO usage_bench.target
    SELECT row_number() OVER (ORDER BY id), id + 1000000000000, dataset_id + 1000000000000, assignee_id + 1000000000000,
           grantor_id + 1000000000000, price_per_million_tokens
    FROM "grant" WHERE number = ANY (string_to_array(:'numbers', ','));
CREATE SEQUENCE usage_bench.event_id START 1000000000000;
CREATE SEQUENCE usage_bench.transfer_id START 1000000000000;
INSERT INTO usage_batch (id, committed_at, events, accepted, tokens, amount, events_digest, audit_seq)
    -- Any entry no batch refers to (schema 0013: one batch per entry): the newest command's.
    SELECT 1000000000000, now(), 1, 1, 0, 0, '\x00', max(seq) FROM audit_event
    WHERE NOT EXISTS (SELECT 1 FROM usage_batch WHERE audit_seq = audit_event.seq);
ANALYZE usage_bench.target;
SQL
BASELINE_GRANTS=$(sql "SELECT count(*) FROM usage_bench.target")
((BASELINE_GRANTS == GRANT_COUNT)) || die "the scratch table holds $BASELINE_GRANTS grants, not $GRANT_COUNT"

# The pgbench script of the baseline being measured: BASELINE_SQL, or ONETRIP_SQL.
BASELINE_FILE=$BASELINE_SQL
pgbench_command() {
    local clients=$1 seconds=$2 jobs=$(($1 < 2 ? 1 : 2))
    echo "pgbench -n -M prepared -r -c $clients -j $jobs -T $seconds -D grants=$BASELINE_GRANTS -f $BASELINE_FILE"
}
# One pgbench run; its output in $WORK/pgbench.out.
pgbench_run() {
    local clients=$1 seconds=$2 jobs=$(($1 < 2 ? 1 : 2))
    run_child "$PG_BIN/pgbench" -n -M prepared -r -c "$clients" -j "$jobs" -T "$seconds" -D grants="$BASELINE_GRANTS" \
        -f "$BASELINE_FILE" -h "$SOCKET_DIR" -U "$PG_USER" "$PG_DATABASE" >"$WORK/pgbench.out" 2>&1 \
        || { cat "$WORK/pgbench.out" >&2; die "pgbench failed"; }
}

# One measured pgbench run with $1 clients, as measure_http: its JSON line in $WORK/run.json.
measure_baseline() {
    local clients=$1 attempt=$2 before after rss_before rss_after result
    sql "CHECKPOINT" >/dev/null
    wait_for_quiet
    before=$(pg_stats) rss_before=$(rss_kib)
    start_sampler
    pgbench_run "$clients" "$DURATION"
    stop_sampler
    rss_after=$(rss_kib)
    pause 1  # pgbench's sessions have ended: they reported their counters on the way out
    after=$(pg_stats)
    sed -n '/^number of clients/,$p' "$WORK/pgbench.out" | sed 's/^/    /' | cut -c1-150 >&2
    result="script=$(basename "$BASELINE_FILE" .sql) "$(awk '
        /^number of transactions actually processed:/ { split($0, a, ": "); split(a[2], b, "/"); printf "transactions=%d ", b[1] }
        /^number of failed transactions:/ { printf "failed=%d ", $5 }
        /^latency average =/ { printf "latency_ms=%s ", $4 }
        /^tps =/ { printf "tps=%s ", $3 }' "$WORK/pgbench.out")
    [[ $result == *tps=* ]] || { cat "$WORK/pgbench.out" >&2; die "no tps in pgbench's output"; }
    combine baseline "$clients" "$result" "$(<"$WORK/cpu.json")" "$before" "$after" "$rss_before" "$rss_after" "$DURATION" \
        >"$WORK/run.json"
}

BASELINE_FILES=$BASELINE_SQL
[[ $ONETRIP == 1 ]] && BASELINE_FILES="$BASELINE_SQL $ONETRIP_SQL"
for BASELINE_FILE in $BASELINE_FILES; do
    say "Baseline warm-up: $(pgbench_command "$CONNECTIONS" "$WARMUP")"
    pgbench_run "$CONNECTIONS" "$WARMUP"
    grep '^tps' "$WORK/pgbench.out" | sed 's/^/    /' >&2
    for clients in $BASELINE_CLIENTS; do
        say "Baseline, $clients clients: $(pgbench_command "$clients" "$DURATION")  (the server idle beside it)"
        measure_best baseline "$clients"
    done
done
BASELINE_FILE=$BASELINE_SQL
BASELINE_ROWS=$(sql "SELECT count(*) || ' events, ' || (SELECT count(*) FROM ledger_transfer WHERE id >= 1000000000000) || ' transfers'
                     FROM usage_event WHERE id >= 1000000000000")
say "Baseline rows in PostgreSQL (warm-up included): $BASELINE_ROWS"

# --- PROFILE=1: where datarights spends its time under the headline load --------------------------------

if [[ ${PROFILE:-0} == 1 ]]; then
    command -v perf >/dev/null || die "PROFILE=1 needs perf"
    say "Profiling datarights for 10 s under $(wrk_command "$CONNECTIONS" 14)," \
        "from $(sql "SELECT max(id) FROM usage_event WHERE id < 1000000000000") remembered keys (the key table doubles at" \
        "3/4 of a power of two: 12.6M, 25.2M…; a profile across one shows the copy)"
    USAGE_TARGETS=$TARGETS USAGE_BATCH=$BATCH USAGE_RUN="prof$(date +%s)" \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d14s --timeout 30s -s "$LUA" "http://127.0.0.1:$PORT" >"$WORK/profile-wrk.out" 2>&1 &
    profile_load=$!
    CHILDREN+=("$profile_load")
    sleep 2
    perf record -g -F 999 -p "$SERVER_PID" -o "$WORK/perf.data" -- sleep 10 2>/dev/null >&2
    wait "$profile_load" || true
    forget_child "$profile_load"
    demangle() { if command -v swift-demangle >/dev/null; then swift-demangle --simplified; else swift demangle --simplified; fi; }
    for view in no-children children; do
        say "--- perf report --$view --sort symbol (top 40)"
        perf report -i "$WORK/perf.data" --"$view" --sort symbol --stdio -g none 2>/dev/null \
            | awk 'NF && !/^#/ && ++rows <= 40' | demangle | awk '{ print substr($0, 1, 200) }' >&2
    done
fi

# --- Report --------------------------------------------------------------------------------------------

python3 - "$RESULTS" "$CONNECTIONS" "$BATCH" "$DATASETS" "$ready_seconds" "$SENDERS" "$GRANT_COUNT" "$TARGET_RATE" "$TARGET_RATIO" \
    "$(wrk_command "$CONNECTIONS" "$DURATION")" "$(pgbench_command "$CONNECTIONS" "$DURATION")" "$((HTTP_ACKED + SANITY_EVENTS))" \
    "$POSTGRES_EVENTS" "$POSTGRES_CHECK" "$DENIALS" "$DUPLICATES" "$LEDGER" "$HTTP_RSS_KIB" "$SERVER_LOG_LINES" <<'PYTHON'
import json, os, sys

(path, headline, batch, datasets, ready, senders, grants, target_rate, target_ratio, wrk_command, pgbench_command, acked,
 stored, check, denials, duplicates, ledger, rss, log_lines) = sys.argv[1:20]
headline, target_rate, target_ratio = int(headline), float(target_rate), float(target_ratio)
runs = [json.loads(line) for line in open(path) if line.strip()]
http = [r for r in runs if r["kind"] == "http"]
base = [r for r in runs if r["kind"] == "baseline"]

def ms(us): return f"{us / 1000:.1f} ms"
def cores(r):
    c = r["cpu"]["cores"]
    idle = max(0.0, os.cpu_count() - c["machine"])
    return f"{c['server']:.2f} / {c['postgres']:.2f} / {c['client']:.2f} / {c['others']:.2f} / {idle:.2f}"
def wal(r): return f"{r['pg']['wal_bytes'] / r['seconds'] / 2**20:.1f}"
def disk(r): return f"{100 * r['cpu']['disk_busy']:.0f} % / {r['cpu']['write_mib_s']['others']:.1f}"
def syncs(r): return f"{r['pg']['wal_sync'] / r['seconds']:,.0f}"

print()
print(f"Usage events over HTTP: demo registry of {int(datasets):,} datasets (ready after {ready} s); {senders} labs send, "
      f"each request {int(batch):,} events of 1 token over {grants} active grants; `{wrk_command.replace(f'-c{headline}', '-c<N>')}`.")
print()
# The server remembers every accepted key in one Swift Dictionary, which doubles its table when it is
# 3/4 full: a run that crosses one of these counts pays for copying the whole table once, under the
# writer lock (a pause of every request, seen in p99 and max).
def resizes(r):
    crossed = [3 * 2**k // 4 for k in range(16, 36) if r["event_id_before"] < 3 * 2**k // 4 <= r["event_id_after"]]
    big = [n for n in crossed if n >= 1_000_000]
    return f"{r['event_id_before'] / 1e6:.1f}M→{r['event_id_after'] / 1e6:.1f}M" + (
        " (table doubles at " + ", ".join(f"{n / 1e6:.1f}M" for n in big) + ")" if big else "")
print("| connections | requests/s | events/s acknowledged | accepted | denied | p50 | p99 | max | non-200 / socket errors | "
      "group commits/s | events a commit | WAL MiB/s | WAL syncs/s | disk busy / others' writes MiB/s | cores: server / postgres / wrk / others / idle | keys remembered | server RSS after |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
for r in http:
    commits = r["pg"]["batch_id"]
    per_commit = r["pg"]["event_id"] / commits if commits else 0
    print(f"| {r['clients']} | {r['rps']:,.0f} | **{r['events_per_s']:,.0f}** | {int(r['accepted']):,} | {int(r['denied']):,} | "
          f"{ms(r['p50_us'])} | {ms(r['p99_us'])} | {ms(r['max_us'])} | {int(r['non200'])} / {int(r['socket_errors'] + r['timeouts'])} | "
          f"{commits / r['seconds']:,.0f} | {per_commit:,.0f} | {wal(r)} | {syncs(r)} | {disk(r)} | {cores(r)} | {resizes(r)} | {r['rss_kib_after'] / 1024:,.0f} MiB |")
print()
print(f"Baseline, one transaction per event on the same database: `{pgbench_command.replace(f'-c {headline}', '-c <N>')}` "
      "(usage-baseline: BEGIN, seven statements, COMMIT: nine round trips an event), and the same transaction as one "
      "statement, one round trip an event (usage-baseline-onetrip), when measured.")
print()
print("| script | clients | events/s (tx/s) | latency avg | failed | WAL MiB/s | WAL syncs/s | commits per sync | disk busy / others' writes MiB/s | cores: server / postgres / pgbench / others / idle |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in base:
    per_sync = r["pg"]["commits"] / r["pg"]["wal_sync"] if r["pg"]["wal_sync"] else 0
    print(f"| {r['script']} | {r['clients']} | **{r['tps']:,.0f}** | {r['latency_ms']:.2f} ms | {int(r['failed'])} | {wal(r)} | {syncs(r)} | {per_sync:.1f} | {disk(r)} | {cores(r)} |")
print()

def find(rows, clients, script=None):
    return next((r for r in rows if r["clients"] == clients and (script is None or r["script"] == script)), None)
h = find(http, headline)
best_http = max(http, key=lambda r: r["events_per_s"])
best_base = max(base, key=lambda r: r["tps"])
def met(ok): return "**met**" if ok else "**not met**"
print("| measure | wanted | measured | |")
print("|---|---:|---:|---|")
print(f"| events/s over HTTP, {headline} connections | ≥ {target_rate:,.0f} | {h['events_per_s']:,.0f} | {met(h['events_per_s'] >= target_rate)} |")
if best_http is not h:
    print(f"| events/s over HTTP, best ({best_http['clients']} connections) | ≥ {target_rate:,.0f} | {best_http['events_per_s']:,.0f} | "
          f"{met(best_http['events_per_s'] >= target_rate)} |")
for script in ("usage-baseline", "usage-baseline-onetrip"):
    for clients in sorted({1, headline}):
        b = find(base, clients, script)
        if b:
            ratio = h["events_per_s"] / b["tps"]
            print(f"| HTTP ({headline} connections) ÷ {script}, {clients} client{'s' if clients > 1 else ''} | ≥ {target_ratio:g}× | "
                  f"{ratio:,.1f}× | {met(ratio >= target_ratio)} |")
ratio = best_http["events_per_s"] / best_base["tps"]
print(f"| best HTTP ({best_http['clients']} connections) ÷ best baseline ({best_base['script']}, {best_base['clients']} clients) | "
      f"≥ {target_ratio:g}× | {ratio:,.1f}× | {met(ratio >= target_ratio)} |")
print()
print(f"Durability check: {int(acked):,} events acknowledged over HTTP (warm-up and sanity requests included); PostgreSQL holds "
      f"{int(stored):,} ({int(stored) - int(acked):,} more: requests in flight when wrk stopped are committed but not counted by wrk). "
      f"{check}. Denials: {denials}. Duplicate keys: {duplicates}. Ledger: {ledger}. "
      f"datarights RSS after the HTTP runs {int(rss) / 1024:,.0f} MiB; {log_lines} log lines at warning or above.")
if int(stored) < int(acked):
    print("\nERROR: PostgreSQL holds fewer events than were acknowledged.")
if any(r["cpu"]["cores"]["others"] >= 0.25 or r["cpu"]["write_mib_s"]["others"] >= 4 for r in runs):
    print("\nWARNING: other processes used a quarter of a core or more, or wrote 4 MiB/s or more, during a run: "
          "its figures understate this machine.")
if any(r["non200"] or r["socket_errors"] or r["timeouts"] for r in http) or any(r["failed"] for r in base):
    print("\nWARNING: a run had non-200 answers, socket errors, timeouts or failed transactions.")
PYTHON
