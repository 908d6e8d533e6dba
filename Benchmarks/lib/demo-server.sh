# Shared by the HTTP benchmark scripts (decisions-http.sh, usage-http.sh): start `datarights serve --demo`
# on an embedded PostgreSQL in a work directory, wait until it is ready, and stop it — and its cluster —
# whatever happened. Source it after defining `say` and `die`; it uses and sets these variables:
#   WORK        the work directory (made by the caller; mode 0755 so the cluster account can enter it)
#   DATA_DIR    the server's data directory ($WORK/data)
#   SERVER_PID  the server's process id, "" when none runs

# Waits up to $2 seconds for process $1 (a child of this shell) to end; returns 1 if it did not.
wait_for_exit() {
    local pid=$1 seconds=$2 step
    for ((step = 0; step < seconds * 10; step++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    return 1
}

# Starts the demo server: $1 port, $2 datasets, $3 seconds to wait for readiness; its stdout (the demo
# keys) goes to $WORK/datarights.out and its log to $WORK/datarights.err. Returns once /readyz is 200,
# with the seconds that took in ready_seconds, having shown the demo output with the keys masked.
start_demo_server() {
    local port=$1 datasets=$2 timeout=$3 deadline started
    say "Starting datarights: demo registry of $datasets datasets in $DATA_DIR"
    started=$(date +%s.%N)
    # stdbuf: the demo keys are printed with stdio, which would hold them in its buffer while stdout is a file.
    # Per-key rates far above what one machine sends: the limiter stays on every request's path (its cost
    # is measured) but never refuses, so the run measures the server rather than its limits. EDGE_LIMITS
    # overrides (docs/SECURITY.md).
    local rates=requestsPerSecondPerKey=10000000,requestBurstPerKey=10000000,usageRequestsPerSecondPerKey=10000000
    rates+=,usageRequestBurstPerKey=10000000,decisionRequestsPerSecondPerKey=10000000,decisionRequestBurstPerKey=10000000
    stdbuf -oL -eL .build/release/datarights serve --demo --demo-datasets "$datasets" --data-dir "$DATA_DIR" \
        --port "$port" --log-level warning --edge-limit "${EDGE_LIMITS:-$rates}" >"$WORK/datarights.out" 2>"$WORK/datarights.err" &
    SERVER_PID=$!
    deadline=$(($(date +%s) + timeout))
    until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz" || true) == 200 ]]; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            say "--- datarights stdout"; cat "$WORK/datarights.out" >&2; say "--- datarights stderr"; tail -n 40 "$WORK/datarights.err" >&2
            SERVER_PID=""
            die "datarights exited before it was ready"
        fi
        (($(date +%s) < deadline)) || die "datarights not ready after $timeout s"
        sleep 0.5
    done
    ready_seconds=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$started" "$(date +%s.%N)")
    say "Ready after $ready_seconds s (demo generation, COPY load, core rebuild, key issue):"
    sed 's/drk_[A-Za-z0-9_]*/drk_…/' "$WORK/datarights.out" >&2
}

# The demo key printed for party kind $1 (operator, department, registrar, regulator, model_lab).
demo_key() {
    awk -v kind="$1" '$1 == kind { print $NF; exit }' "$WORK/datarights.out"
}

# Stops the server (SIGTERM: it stops the embedded PostgreSQL it started), then the cluster's postmaster
# if it is still running, and removes a cluster that was relocated outside the work directory.
stop_demo_server() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        wait_for_exit "$SERVER_PID" 90 || { say "datarights ($SERVER_PID) did not stop in 90 s: killing it"; kill -KILL "$SERVER_PID"; }
    fi
    SERVER_PID=""
    local cluster=$DATA_DIR/postgres
    [[ -L $cluster ]] && cluster=$(readlink -f "$cluster")
    if [[ -f $cluster/postmaster.pid ]]; then
        local postmaster
        postmaster=$(head -n 1 "$cluster/postmaster.pid")
        if [[ -n $postmaster ]] && kill -0 "$postmaster" 2>/dev/null; then
            say "the embedded PostgreSQL ($postmaster) is still running: fast shutdown"
            kill -INT "$postmaster"
            for _ in $(seq 300); do kill -0 "$postmaster" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$postmaster" 2>/dev/null && { say "PostgreSQL ($postmaster) did not stop: killing it"; kill -KILL "$postmaster"; }
        fi
    fi
    [[ $cluster != "$DATA_DIR/postgres" && -d $cluster ]] && rm -rf "$cluster" "$cluster.run" "$cluster.log" "$cluster.owner"
    return 0
}

# Says whether any process from the work directory is left.
report_leftovers() {
    local remaining
    remaining=$(pgrep -f -- "$WORK" || true)
    if [[ -n $remaining ]]; then
        say "WARNING: processes still running from $WORK: $(echo $remaining)"
    else
        say "Stopped: no process from $WORK remains."
    fi
}
