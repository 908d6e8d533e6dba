#!/usr/bin/env bash
# The HTTP half of the decision benchmark (issue 5, R24).
#
# What it measures, in one run on one machine: decisions per second (and p50/p99 latency) answered by
# `datarights serve` over HTTP on loopback, for a model lab asking about a mix of datasets it holds grants
# on (mostly allow) and random datasets (mostly deny), against the baseline of a bare Hummingbird route
# returning a constant (Benchmarks/BareServer), driven by the same wrk command and Lua script.
#
# Targets: ≥ 30,000 decisions/s, p99 ≤ 5 ms, decisions ≥ 80 % of the bare rate.
#
# Usage, from anywhere (it works from the repository root):
#   bash Benchmarks/decisions-http.sh
#   DATASETS=1000000 DURATION=30 bash Benchmarks/decisions-http.sh
#
# Settings (environment): DATASETS (100000), DURATION seconds of each measured run (20), WARMUP seconds
# before each (5), QUIET_TIMEOUT seconds to wait for other processes to leave the cores idle before
# each measured run (900), ATTEMPTS measured runs at most while other processes disturb them (3),
# ROUNDS of alternating datarights and bare runs (1; 3 gives a median), READY_TIMEOUT seconds to wait for the demo load and readiness (3600), PROFILE=1 to
# profile datarights with perf after its measured run (PROFILE_SECONDS, 10), LAYERS=1 to measure the
# same server's `/healthz` and `/v1/me` under the same load as well (where the time goes).
#
# wrk runs on the same two cores as the server: both servers pay for it alike, so the ratio is fair, but
# the absolute rates are lower than a separate load machine would show.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DATASETS=${DATASETS:-100000}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
READY_TIMEOUT=${READY_TIMEOUT:-3600}
THREADS=2
CONNECTIONS=64
PORT=18080
BARE_PORT=18081
MAX_GRANTS=2000
TARGET_RPS=30000
TARGET_P99_MS=5
TARGET_RATIO=0.80
LUA=Benchmarks/decisions-http.lua

say() { printf '%s\n' "$*" >&2; }
die() { say "decisions-http: $*"; exit 1; }

if ! command -v wrk >/dev/null; then
    say "wrk is not installed: installing the Debian package wrk (apt-get install -y wrk)"
    { apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; } >&2 \
        || die "could not install wrk; install it (apt-get install wrk) and run again"
fi
for tool in curl python3 stdbuf; do command -v "$tool" >/dev/null || die "$tool is required"; done
[[ -f $LUA ]] || die "$LUA is missing"
for port in $PORT $BARE_PORT; do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then die "port $port is in use: stop what listens there"; fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/decisions-http.XXXXXX")
# The embedded PostgreSQL runs as an unprivileged account when we are root: it must be able to enter the
# directory, or the cluster would be relocated outside it.
chmod 0755 "$WORK"
DATA_DIR=$WORK/data
SERVER_PID=""
BARE_PID=""

# wait_for_exit, start_demo_server, demo_key, stop_demo_server, report_leftovers.
source Benchmarks/lib/demo-server.sh

cleanup() {
    local status=$?
    set +e
    if [[ -n $BARE_PID ]] && kill -0 "$BARE_PID" 2>/dev/null; then
        kill -TERM "$BARE_PID"
        wait_for_exit "$BARE_PID" 10 || { say "BareServer ($BARE_PID) ignored SIGTERM: killing it"; kill -KILL "$BARE_PID"; }
    fi
    stop_demo_server
    report_leftovers
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Build -----------------------------------------------------------------------------------------------

say "Building (release): datarights, BareServer"
swift build -c release --product datarights >&2
swift build -c release --product BareServer >&2

# --- Start datarights with a demo registry -------------------------------------------------------------

start_demo_server "$PORT" "$DATASETS" "$READY_TIMEOUT"

LAB_KEY=$(demo_key model_lab)
[[ $LAB_KEY == drk_* ]] || die "no model_lab key in the demo output (see above)"

# --- Decision URLs -------------------------------------------------------------------------------------

say "Collecting the lab's grants and writing the decision URLs"
URLS=$WORK/decision-urls.txt
BARE_URLS=$WORK/bare-urls.txt
echo "/v1/decisions" >"$BARE_URLS"
# Prints four lines: the lab's id and name, a summary of the list, one allow URL, one deny URL; writes the list.
mapfile -t prepared < <(BASE="http://127.0.0.1:$PORT" TOKEN="$LAB_KEY" DATASETS="$DATASETS" MAX_GRANTS="$MAX_GRANTS" \
    OUT="$URLS" python3 - <<'PYTHON'
import json, os, random, urllib.request

base, token, out = os.environ["BASE"], os.environ["TOKEN"], os.environ["OUT"]
datasets, max_grants = int(os.environ["DATASETS"]), int(os.environ["MAX_GRANTS"])

def get(path):
    request = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)

me = get("/v1/me")
grants, cursor = [], None
while len(grants) < max_grants:
    page = get(f"/v1/grants?limit=200&assignee={me['id']}" + (f"&cursor={cursor}" if cursor else ""))
    grants.extend(page["items"])
    cursor = page.get("nextCursor")
    if not cursor:
        break
grants = grants[:max_grants]
if not grants:
    raise SystemExit(f"lab {me['id']} holds no grants: nothing would be allowed")
allow = [f"/v1/decisions?dataset={g['dataset']}&purpose={g['purpose']}&tokens=1000" for g in grants]
generator = random.Random(2026)
deny = [f"/v1/decisions?dataset={generator.randint(1, datasets)}&purpose=model_training&tokens=1000" for _ in grants]
with open(out, "w") as file:
    file.write("\n".join(allow + deny) + "\n")
states = {}
for grant in grants:
    states[grant["state"]] = states.get(grant["state"], 0) + 1
print(f"{me['id']} {me['name']}")
print(f"{len(allow)} grant URLs (grant states: {', '.join(f'{k} {v}' for k, v in sorted(states.items()))}) + {len(deny)} random-dataset URLs")
print(allow[0])
print(deny[0])
PYTHON
)
((${#prepared[@]} == 4)) || die "could not prepare the decision URLs"
say "Lab: ${prepared[0]}; ${prepared[1]}"

say "Sanity: one URL of each kind"
for url in "${prepared[2]}" "${prepared[3]}"; do
    say "  GET $url"
    say "    $(curl -s -w ' [HTTP %{http_code}]' -H "Authorization: Bearer $LAB_KEY" "http://127.0.0.1:$PORT$url")"
done

say "The mix: every URL of the list asked once"
MIX=$(BASE_PORT="$PORT" TOKEN="$LAB_KEY" URLS="$URLS" python3 - <<'PYTHON'
import collections, http.client, json, os

token, urls = os.environ["TOKEN"], [line for line in open(os.environ["URLS"]).read().split("\n") if line]
half = len(urls) // 2
connection = http.client.HTTPConnection("127.0.0.1", int(os.environ["BASE_PORT"]), timeout=30)
counts, reasons, statuses = collections.Counter(), collections.Counter(), collections.Counter()
# A deny reason without its numbers, so that the same cause on different datasets counts once.
def shape(reason):
    return " ".join("N" if word.strip(",.;:'s").isdigit() else word for word in reason.split())[:90]
for index, url in enumerate(urls):
    connection.request("GET", url, headers={"Authorization": "Bearer " + token})
    response = connection.getresponse()
    body = response.read()
    statuses[response.status] += 1
    group = "grant URLs" if index < half else "random URLs"
    if response.status != 200:
        counts[(group, f"HTTP {response.status}")] += 1
        continue
    decision = json.loads(body)
    counts[(group, "allow" if decision["allow"] else "deny")] += 1
    if not decision["allow"]:
        reasons[(group, decision["rule"], decision.get("policyRule"), shape(decision["reason"]))] += 1
allowed = sum(v for (g, k), v in counts.items() if k == "allow")
print(f"allow {allowed} / deny {len(urls) - allowed} of {len(urls)} ({100 * allowed / len(urls):.1f} % allow); "
      + "; ".join(f"{g}: {k} {v}" for (g, k), v in sorted(counts.items())))
for (group, rule, policy_rule, reason), count in reasons.most_common(10):
    print(f"  deny on {group}: {count} × {rule}{'/' + policy_rule if policy_rule else ''}: {reason}")
print("statuses: " + ", ".join(f"{s} {v}" for s, v in sorted(statuses.items())))
PYTHON
)
say "$MIX"

# --- Load ----------------------------------------------------------------------------------------------

TICKS_PER_SECOND=$(getconf CLK_TCK)
# CPU ticks (user + system) of process $1 so far; the fields after the command name in /proc/<pid>/stat.
process_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# CPU ticks the whole machine spent busy so far (user, nice, system, irq, softirq, steal).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# CPU ticks of the finished children of the calling shell: bash `times` (second line: user and system),
# run in that shell (a command substitution would be a new process with no children yet).
children_ticks() {
    times >"$WORK/times"
    sed -n 2p "$WORK/times" | awk -v hz="$TICKS_PER_SECOND" '{
        split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d\n", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * hz }'
}
# Cores busy with processes other than the servers ($@) over the next $1 seconds.
others_busy() {
    local seconds=$1; shift
    local machine=$(machine_ticks) servers=0 pid
    for pid in "$@"; do servers=$((servers - $(process_ticks "$pid"))); done
    sleep "$seconds"
    for pid in "$@"; do servers=$((servers + $(process_ticks "$pid"))); done
    awk -v m=$(($(machine_ticks) - machine - servers)) -v hz="$TICKS_PER_SECOND" -v t="$seconds" 'BEGIN { printf "%.2f\n", m / hz / t }'
}
# The machine has two cores: a compiler running next to the benchmark takes one. Waits (up to
# QUIET_TIMEOUT seconds, default 900) until other processes use less than a quarter of a core.
wait_for_quiet() {
    local waited=0 busy
    while :; do
        busy=$(others_busy 3 "$@")
        awk -v b="$busy" 'BEGIN { exit !(b < 0.25) }' && return 0
        if ((waited >= ${QUIET_TIMEOUT:-900})); then
            say "WARNING: other processes still use $busy cores after ${waited}s of waiting: measuring anyway"
            return 0
        fi
        ((waited == 0)) && say "Other processes use $busy cores (a build?): waiting for a quiet machine"
        sleep 10
        waited=$((waited + 13))
    done
}

# One measured wrk run against port $1 with URL file $2 (after waiting for a quiet machine); prints its
# RESULT line, extended with the cores used during the run by the server ($3), by wrk, and by the rest.
measure_once() {
    local port=$1 urls=$2 server=$3 output machine server_ticks wrk_ticks
    wait_for_quiet "$SERVER_PID" ${BARE_PID:+"$BARE_PID"}
    children_ticks >"$WORK/wrk-ticks"
    machine=$(machine_ticks) server_ticks=$(process_ticks "$server") wrk_ticks=$(<"$WORK/wrk-ticks")
    output=$(DECISIONS_URLS=$urls DECISIONS_TOKEN=$LAB_KEY \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$LUA" "http://127.0.0.1:$port")
    machine=$(($(machine_ticks) - machine)) server_ticks=$(($(process_ticks "$server") - server_ticks))
    children_ticks >"$WORK/wrk-ticks"
    wrk_ticks=$(($(<"$WORK/wrk-ticks") - wrk_ticks))
    printf '%s\n' "$output" | sed 's/^/    /' >&2
    printf '%s server_cores=%s wrk_cores=%s other_cores=%s\n' "$(printf '%s\n' "$output" | grep '^RESULT ')" \
        "$(awk -v t=$server_ticks -v hz="$TICKS_PER_SECOND" -v d="$DURATION" 'BEGIN { printf "%.2f", t / hz / d }')" \
        "$(awk -v t=$wrk_ticks -v hz="$TICKS_PER_SECOND" -v d="$DURATION" 'BEGIN { printf "%.2f", t / hz / d }')" \
        "$(awk -v t=$((machine - server_ticks - wrk_ticks)) -v hz="$TICKS_PER_SECOND" -v d="$DURATION" 'BEGIN { printf "%.2f", t / hz / d }')"
}

# A warm-up, then measured runs until one had the machine to itself (other processes under a quarter of
# a core), at most ATTEMPTS (3) of them; prints the RESULT line of the least disturbed run.
run_wrk() {
    local port=$1 urls=$2 server=$3 attempt result others best="" best_others=99
    DECISIONS_URLS=$urls DECISIONS_TOKEN=$LAB_KEY \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -s "$LUA" "http://127.0.0.1:$port" >/dev/null
    for ((attempt = 1; attempt <= ${ATTEMPTS:-3}; attempt++)); do
        result=$(measure_once "$port" "$urls" "$server")
        others=$(sed 's/.*other_cores=//' <<<"$result")
        if awk -v o="$others" -v b="$best_others" 'BEGIN { exit !(o < b) }'; then best=$result best_others=$others; fi
        awk -v o="$others" 'BEGIN { exit !(o < 0.25) }' && break
        say "Other processes took $others cores during that run: measuring again"
    done
    printf '%s\n' "$best"
}

WRK_COMMAND="wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency -s $LUA"

say "Starting BareServer on $BARE_PORT (idle until its turn)"
.build/release/BareServer --port "$BARE_PORT" >"$WORK/bare.out" 2>&1 &
BARE_PID=$!
until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$BARE_PORT/v1/decisions"; do
    kill -0 "$BARE_PID" 2>/dev/null || { cat "$WORK/bare.out" >&2; BARE_PID=""; die "BareServer exited"; }
    sleep 0.2
done

# The two servers take turns, ROUNDS (1) times: on this shared virtual machine the rate of the same
# server drifts by 10–20 % over minutes, and alternating keeps each pair of runs close in time.
decisions_results=()
bare_results=()
for ((round = 1; round <= ${ROUNDS:-1}; round++)); do
    say "Round $round: datarights: $WRK_COMMAND http://127.0.0.1:$PORT  (after ${WARMUP}s warm-up)"
    decisions_results+=("$(run_wrk "$PORT" "$URLS" "$SERVER_PID")")
    say "Round $round: BareServer: $WRK_COMMAND http://127.0.0.1:$BARE_PORT  (after ${WARMUP}s warm-up)"
    bare_results+=("$(run_wrk "$BARE_PORT" "$BARE_URLS" "$BARE_PID")")
done
decisions_rss_kib=$(awk '/VmRSS/ { print $2 }' "/proc/$SERVER_PID/status")

# LAYERS=1: the same load on two cheaper routes of the same server, to see where the time goes:
# `/healthz` (the middleware chain and a tiny JSON encoding, no authentication) and `/v1/me`
# (the chain, bearer authentication and a JSON encoding of the party).
layer_results=()
if [[ ${LAYERS:-0} == 1 ]]; then
    for layer in /healthz /v1/me; do
        echo "$layer" >"$WORK/layer-urls.txt"
        say "datarights $layer: $WRK_COMMAND http://127.0.0.1:$PORT  (after ${WARMUP}s warm-up)"
        layer_results+=("datarights \`GET $layer\`|$(run_wrk "$PORT" "$WORK/layer-urls.txt" "$SERVER_PID")")
    done
fi

# PROFILE=1: after the measured runs, one more run of the same load under `perf record` (perf costs CPU
# on this machine, so its rate is not reported), and the hottest symbols of datarights.
if [[ ${PROFILE:-0} == 1 ]]; then
    command -v perf >/dev/null || die "PROFILE=1 needs perf"
    say "Profiling datarights for ${PROFILE_SECONDS:-10} s under the same load"
    DECISIONS_URLS=$URLS DECISIONS_TOKEN=$LAB_KEY \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$((${PROFILE_SECONDS:-10} + 4))s" -s "$LUA" "http://127.0.0.1:$PORT" >/dev/null &
    profile_load=$!
    sleep 2
    perf record -g -F 999 -p "$SERVER_PID" -o "$WORK/perf.data" -- sleep "${PROFILE_SECONDS:-10}" 2>/dev/null >&2
    wait "$profile_load"
    demangle() { if command -v swift-demangle >/dev/null; then swift-demangle --simplified; else swift demangle --simplified; fi; }
    # awk reads all of its input (no SIGPIPE into perf under pipefail) and keeps the first 45 rows.
    for view in no-children children; do
        say "--- perf report --$view --sort symbol (top 45)"
        perf report -i "$WORK/perf.data" --"$view" --sort symbol --stdio -g none 2>/dev/null \
            | awk 'NF && !/^#/ && ++rows <= 45' | demangle | awk '{ print substr($0, 1, 200) }' >&2
    done
fi

# --- Report --------------------------------------------------------------------------------------------

python3 - "$DATASETS" "$ready_seconds" "$MIX" "$decisions_rss_kib" "$TARGET_RPS" "$TARGET_P99_MS" "$TARGET_RATIO" \
    "$WRK_COMMAND" "${#decisions_results[@]}" "${decisions_results[@]}" "${bare_results[@]}" "${layer_results[@]}" <<'PYTHON'
import sys

datasets, ready, mix, rss, target_rps, target_p99, target_ratio, command, rounds = sys.argv[1:10]
rounds = int(rounds)
def parse(line):
    return {k: float(v) for k, v in (field.split("=") for field in line.split()[1:])}
decisions = [parse(line) for line in sys.argv[10:10 + rounds]]
bares = [parse(line) for line in sys.argv[10 + rounds:10 + 2 * rounds]]
layers = [(name, parse(line)) for name, line in (argument.split("|", 1) for argument in sys.argv[10 + 2 * rounds:])]
# Each row is read against the bare run of its own round; the layer rows against the last round's.
rows = []
for index, (d, b) in enumerate(zip(decisions, bares)):
    suffix = f" (round {index + 1})" if rounds > 1 else ""
    rows += [("datarights `GET /v1/decisions`" + suffix, d, b), ("bare Hummingbird constant" + suffix, b, b)]
rows[-1:-1] = [(name, r, bares[-1]) for name, r in layers]
# The targets are judged on the median round (by ratio), so that one disturbed pair does not decide.
ratios = [d["rps"] / b["rps"] for d, b in zip(decisions, bares)]
median_index = sorted(range(rounds), key=lambda i: ratios[i])[rounds // 2]
d, b, ratio = decisions[median_index], bares[median_index], ratios[median_index]
target_rps, target_p99, target_ratio = float(target_rps), float(target_p99), float(target_ratio)
ratio = d["rps"] / b["rps"]
def met(ok): return "**met**" if ok else "**not met**"
def ms(us): return f"{us / 1000:.2f} ms"
print()
print(f"Decisions over HTTP: {int(datasets):,} datasets, `{command}`; demo ready after {ready} s; "
      f"datarights RSS after the run {int(rss) / 1024:.0f} MiB.")
print(f"Mix: {mix.splitlines()[0]}")
print()
print("| server, route | requests | requests/s | × bare | p50 | p99 | max | non-2xx | socket errors | cores: server / wrk / others | server CPU per request |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, r, base in rows:
    print(f"| {name} | {int(r['requests']):,} | {r['rps']:,.0f} | {r['rps'] / base['rps']:.2f} | {ms(r['p50_us'])} | {ms(r['p99_us'])} | {ms(r['max_us'])} "
          f"| {int(r['non2xx'])} | {int(r['socket_errors'])} | {r['server_cores']:.2f} / {r['wrk_cores']:.2f} / {r['other_cores']:.2f} "
          f"| {r['server_cores'] / r['rps'] * 1e6:.0f} µs |")
print()
if rounds > 1:
    print(f"Targets judged on round {median_index + 1}, the median of {rounds} by ratio "
          f"(ratios: {', '.join(f'{value:.1%}' for value in ratios)}).")
    print()
print("| target | wanted | measured | |")
print("|---|---:|---:|---|")
print(f"| decisions/s | ≥ {target_rps:,.0f} | {d['rps']:,.0f} | {met(d['rps'] >= target_rps)} |")
print(f"| decision p99 | ≤ {target_p99:g} ms | {ms(d['p99_us'])} | {met(d['p99_us'] <= target_p99 * 1000)} |")
print(f"| decisions / bare | ≥ {target_ratio:.0%} | {ratio:.1%} | {met(ratio >= target_ratio)} |")
if max(r["other_cores"] for _, r, _ in rows) >= 0.25:
    print("\nWARNING: other processes used a quarter of a core or more during a run: its figures understate the server.")
if any(r["non2xx"] or r["socket_errors"] for _, r, _ in rows):
    print("\nWARNING: a run had non-2xx answers or socket errors; its rate is not a rate of answers.")
PYTHON
