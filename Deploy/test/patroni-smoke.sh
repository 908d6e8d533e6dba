#!/usr/bin/env bash
# Starts the shipped Patroni configuration (Deploy/patroni/patroni.yml, Deploy/patroni/etcd.yml) on
# loopback — one etcd member and two PostgreSQL 15 nodes under Patroni — and checks automatic failover:
# a leader and a synchronous streaming replica come up, a row written on the leader, the leader killed
# (-9: Patroni and its PostgreSQL), the replica promoted by Patroni alone, and the row there. Everything
# runs under one temporary directory and is killed at exit, on failure too. Run by .ci/run.
#
#   bash Deploy/test/patroni-smoke.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

say() { printf '%s\n' "$*" >&2; }
die() { say "patroni-smoke: FAIL: $*"; exit 1; }
for tool in patroni patronictl etcd psql; do command -v "$tool" >/dev/null || die "$tool is not installed (Debian: patroni, etcd-server, postgresql-client)"; done

WORK=$(mktemp -d /tmp/datarights-patroni-XXXXXX)
chmod 755 "$WORK"
ACCOUNT=postgres
as_account() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$ACCOUNT" -- "$@"; else "$@"; fi; }
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    # PostgreSQL started by Patroni: its postmasters.
    pkill -9 -f "$WORK/" 2>/dev/null || true
    sleep 0.5
    [ -n "${KEEP:-}" ] && { say "kept $WORK"; return; }
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ETCD="127.0.0.1:$(free_port)"
ETCD_PEER="127.0.0.1:$(free_port)"
export ETCD ETCD_PEER ETCD_NAME=etcd1 ETCD_DATA="$WORK/etcd"
export SUPERUSER_PASSWORD=smoke-super REPLICATION_PASSWORD=smoke-replication REWIND_PASSWORD=smoke-rewind

render() {  # render FILE: every ${NAME} replaced by the environment's value
    python3 - "$1" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
print(re.sub(r"\$\{(\w+)\}", lambda m: os.environ[m.group(1)], text), end="")
PY
}

started=$(date +%s)
render Deploy/patroni/etcd.yml > "$WORK/etcd.yml"
etcd --config-file "$WORK/etcd.yml" > "$WORK/etcd.log" 2>&1 &
PIDS+=($!)
disown
for _ in $(seq 1 100); do curl -fsS "http://$ETCD/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$ETCD/health" >/dev/null || die "etcd did not start (see $WORK/etcd.log)"

declare -A REST PG
for node in pg1 pg2; do
    REST[$node]="127.0.0.1:$(free_port)"
    PG[$node]="127.0.0.1:$(free_port)"
    mkdir -p "$WORK/$node"
    chown "$ACCOUNT" "$WORK/$node" 2>/dev/null || true
    NODE=$node REST=${REST[$node]} PG=${PG[$node]} DATA="$WORK/$node/data" SOCKETS="$WORK/$node" \
        render Deploy/patroni/patroni.yml > "$WORK/$node.yml"
    chmod 644 "$WORK/$node.yml"
done
start_node() {
    as_account env PATRONI_LOG_LEVEL=${PATRONI_LOG_LEVEL:-INFO} patroni "$WORK/$1.yml" >> "$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    disown
}
start_node pg1
# The first node bootstraps the cluster; the second then clones it with pg_basebackup.
for _ in $(seq 1 300); do curl -fsS "http://${REST[pg1]}/primary" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://${REST[pg1]}/primary" >/dev/null || die "pg1 did not become the leader (see $WORK/pg1.log)"
say "pg1 leads after $(( $(date +%s) - started )) s"
start_node pg2
for _ in $(seq 1 300); do curl -fsS "http://${REST[pg2]}/sync" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://${REST[pg2]}/sync" >/dev/null || die "pg2 did not become a synchronous replica (see $WORK/pg2.log)"
say "pg2 is a synchronous standby after $(( $(date +%s) - started )) s"
patronictl -c "$WORK/pg1.yml" list >&2 || true

sql() {  # sql NODE STATEMENT
    PGPASSWORD=$SUPERUSER_PASSWORD psql -h "${PG[$1]%:*}" -p "${PG[$1]#*:}" -U postgres -d postgres -Atc "$2"
}
sql pg1 "CREATE TABLE smoke (note text); INSERT INTO smoke VALUES ('written on pg1 before the failover')" >/dev/null

# The leader's machine dies: Patroni and its PostgreSQL killed at once.
killed=$(date +%s.%N)
pkill -9 -f "patroni $WORK/pg1.yml" || true  # Patroni itself (the recorded pid is runuser's, as root)
pkill -9 -f "$WORK/pg1/data" || true
for _ in $(seq 1 300); do curl -fsS "http://${REST[pg2]}/primary" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://${REST[pg2]}/primary" >/dev/null || die "Patroni did not promote pg2 (see $WORK/pg2.log)"
promoted=$(python3 -c "import time; print('%.1f' % (time.time() - $killed))")
note=$(sql pg2 "SELECT note FROM smoke")
[ "$note" = "written on pg1 before the failover" ] || die "the row written on pg1 is not on pg2 ($note)"
sql pg2 "INSERT INTO smoke VALUES ('written on pg2 after the failover')" >/dev/null
say "patroni-smoke: PASS — pg2 promoted by Patroni ${promoted} s after pg1 was killed, with pg1's acknowledged row; whole run $(( $(date +%s) - started )) s"
