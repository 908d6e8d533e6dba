#!/usr/bin/env python3
"""Issue 18, "Must show": decisions, durable usage and command throughput with 1, 2 and 3 replicas in one
run, and the CPU each replica (and PostgreSQL) spends per 1,000 decisions, events or commands.

One private PostgreSQL, one registry; for each replica count the replicas are started afresh on it and
HAProxy is put in front of them; wrk drives GET /v1/decisions (Benchmarks/decisions-http.lua) and then
POST /v1/usage (Benchmarks/usage-http.lua: BATCH events a request) through HAProxy for DURATION seconds
each. CPU seconds come from /proc (utime + stime) before and after each run: every replica's, and all of
PostgreSQL's processes together. wrk, HAProxy, PostgreSQL and the replicas share this machine's cores, so
the rates do not add up with replicas here; the CPU per unit is what a cluster of machines scales by.

Then POST /v1/datasets (Benchmarks/commands-http.lua: one new dataset a request), the command write path:
each write takes the turn, so commands from all replicas commit one at a time.

Usage: python3 Tests/scale/throughput.py [--counts 1 2 3] [--duration 10] [--connections 16] [--batch 1000]
"""

import argparse
import os
import pwd
import re
import subprocess
import sys
import time

import scalelib
from scalelib import say

LUA_DECISIONS = os.path.join(scalelib.ROOT, "Benchmarks", "decisions-http.lua")
LUA_USAGE = os.path.join(scalelib.ROOT, "Benchmarks", "usage-http.lua")
LUA_COMMANDS = os.path.join(scalelib.ROOT, "Benchmarks", "commands-http.lua")


def postgres_cpu():
    """CPU seconds of every process of the postgres account (the server and its backends)."""
    uid = pwd.getpwnam(scalelib.PG_ACCOUNT).pw_uid if os.geteuid() == 0 else os.geteuid()
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat("/proc/" + entry).st_uid != uid:
                continue
            with open("/proc/%s/stat" % entry) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / scalelib.CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            continue
    return total


def wrk(url, script, environment, duration, connections):
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", "%ds" % duration, "--latency", "-s", script, url]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, **environment), timeout=duration + 120)
    line = next((line for line in done.stdout.splitlines() if line.startswith("RESULT")), None)
    if not line:
        raise RuntimeError("wrk printed no RESULT line:\n" + done.stdout[-2000:] + done.stderr[-2000:])
    return {key: value for key, value in re.findall(r"(\w+)=(\S+)", line)}


def measure(label, replicas, run):
    before = [replica.cpu_seconds() for replica in replicas]
    database_before = postgres_cpu()
    started = time.monotonic()
    result = run()
    elapsed = time.monotonic() - started
    cpu = [replica.cpu_seconds() - was for replica, was in zip(replicas, before)]
    return result, cpu, postgres_cpu() - database_before, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--grants", type=int, default=20)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()

    stack = scalelib.Stack(keep=options.keep)
    primary = stack.postgres("primary")
    primary.init_primary()
    primary.start()
    scalelib.create_database(primary)
    operator = scalelib.operator_key(primary.url(), stack.root + "/keys")
    setup = stack.replica("setup", primary.url())
    assert setup.start() is not None
    market = scalelib.Market(setup.base, operator)
    datasets = [market.dataset] + [market.dataset_on(setup.base, "Decision target %d" % n) for n in range(50)]
    grants = [market.grant(10 ** 15, base=setup.base) for _ in range(options.grants)]
    setup.terminate()
    targets = os.path.join(stack.root, "usage-targets.txt")
    with open(targets, "w") as handle:
        handle.write(market.lab + " " + " ".join(grants) + "\n")
    paths = os.path.join(stack.root, "decision-paths.txt")
    with open(paths, "w") as handle:
        for dataset in datasets:
            handle.write("/v1/decisions?dataset=%d&purpose=model_training&tokens=1000\n" % dataset)

    rows = []
    for count in options.counts:
        replicas = [stack.replica("n%d-replica-%d" % (count, number), primary.url()) for number in range(1, count + 1)]
        for replica in replicas:
            assert replica.start() is not None, "replica did not start"
        proxy = stack.haproxy(replicas)
        proxy.start()
        say("%d replica(s) behind HAProxy on port %d" % (count, proxy.port))
        # Warm-up: a few seconds of each.
        wrk(proxy.base, LUA_DECISIONS, {"DECISIONS_URLS": paths, "DECISIONS_TOKEN": market.lab}, 3, options.connections)
        wrk(proxy.base, LUA_USAGE, {"USAGE_TARGETS": targets, "USAGE_BATCH": str(options.batch), "USAGE_RUN": "w%d" % count},
            3, options.connections)
        decisions, decision_cpu, decision_db, _ = measure("decisions", replicas, lambda: wrk(
            proxy.base, LUA_DECISIONS, {"DECISIONS_URLS": paths, "DECISIONS_TOKEN": market.lab}, options.duration,
            options.connections))
        wal_before = primary.psql("SELECT pg_current_wal_lsn() - '0/0'")[0][0]
        usage, usage_cpu, usage_db, _ = measure("usage", replicas, lambda: wrk(
            proxy.base, LUA_USAGE, {"USAGE_TARGETS": targets, "USAGE_BATCH": str(options.batch), "USAGE_RUN": "m%d" % count},
            options.duration, options.connections))
        wal_bytes = int(float(primary.psql("SELECT pg_current_wal_lsn() - '0/0'")[0][0]) - float(wal_before))
        commands, command_cpu, command_db, _ = measure("commands", replicas, lambda: wrk(
            proxy.base, LUA_COMMANDS, {"COMMANDS_TOKEN": market.enterprise, "COMMANDS_RUN": str(count)},
            options.duration, options.connections))
        written = int(commands["requests"]) - int(commands.get("non2xx", 0))
        decided = int(decisions["requests"]) - int(decisions.get("non2xx", 0))
        events = int(usage["accepted"]) + int(usage["denied"])
        row = {
            "replicas": count,
            "decisions_per_s": decided / (int(decisions["duration_us"]) / 1e6),
            "decision_p99_ms": int(decisions["p99_us"]) / 1000,
            "decision_cpu_per_1000": [1000 * cpu / max(1, decided) for cpu in decision_cpu],
            "events_per_s": float(usage["events_per_s"]),
            "usage_p99_ms": int(usage["p99_us"]) / 1000,
            "usage_cpu_per_1000": [1000 * cpu / max(1, events) for cpu in usage_cpu],
            "postgres_cpu_per_1000_events": 1000 * usage_db / max(1, events),
            "wal_bytes_per_event": wal_bytes / max(1, events),
            "usage_non200": int(usage["non200"]), "decision_non2xx": int(decisions.get("non2xx", 0)),
            "commands_per_s": written / (int(commands["duration_us"]) / 1e6),
            "command_p99_ms": int(commands["p99_us"]) / 1000,
            "command_cpu_per_1000": [1000 * cpu / max(1, written) for cpu in command_cpu],
            "postgres_cpu_per_1000_commands": 1000 * command_db / max(1, written),
            "command_non2xx": int(commands.get("non2xx", 0)),
        }
        rows.append(row)
        say("  decisions %.0f/s (p99 %.1f ms), CPU per 1,000 by replica %s ms; usage %.0f events/s (p99 %.0f ms), CPU per "
            "1,000 events by replica %s ms, PostgreSQL %.1f ms, WAL %.0f bytes an event" % (
                row["decisions_per_s"], row["decision_p99_ms"], ["%.1f" % (1000 * c) for c in row["decision_cpu_per_1000"]],
                row["events_per_s"], row["usage_p99_ms"], ["%.2f" % (1000 * c) for c in row["usage_cpu_per_1000"]],
                1000 * row["postgres_cpu_per_1000_events"], row["wal_bytes_per_event"]))
        say("  commands (POST /v1/datasets) %.0f/s (p99 %.1f ms, %d not 2xx), CPU per 1,000 by replica %s ms, PostgreSQL %.0f ms" % (
            row["commands_per_s"], row["command_p99_ms"], row["command_non2xx"],
            ["%.0f" % (1000 * c) for c in row["command_cpu_per_1000"]], 1000 * row["postgres_cpu_per_1000_commands"]))
        proxy.stop()
        for replica in replicas:
            replica.terminate()

    stored = primary.psql("SELECT pg_total_relation_size('usage_event'), count(*) FROM usage_event")[0]
    say("")
    say("deadlocks PostgreSQL broke during the runs: %d" % primary.deadlocks())
    say("usage_event on disk: %.0f bytes an event with its index (%s events)" % (int(stored[0]) / max(1, int(stored[1])), stored[1]))
    say("| replicas | decisions/s (p99) | replica CPU ms per 1,000 decisions: each (all) | usage events/s (p99) | "
        "replica CPU ms per 1,000 events: each (all) | PostgreSQL CPU ms per 1,000 events | WAL bytes an event | non-2xx |")
    say("|---:|---:|---|---:|---|---:|---:|---:|")
    for row in rows:
        say("| %d | %s (%.1f ms) | %s (%.1f) | %s (%.0f ms) | %s (%.2f) | %.1f | %.0f | %d / %d |" % (
            row["replicas"], format(round(row["decisions_per_s"]), ","), row["decision_p99_ms"],
            " / ".join("%.1f" % (1000 * c) for c in row["decision_cpu_per_1000"]), 1000 * sum(row["decision_cpu_per_1000"]),
            format(round(row["events_per_s"]), ","), row["usage_p99_ms"],
            " / ".join("%.2f" % (1000 * c) for c in row["usage_cpu_per_1000"]), 1000 * sum(row["usage_cpu_per_1000"]),
            1000 * row["postgres_cpu_per_1000_events"], row["wal_bytes_per_event"],
            row["decision_non2xx"], row["usage_non200"]))
    say("")
    say("| replicas | commands/s (p99) | replica CPU ms per 1,000 commands: each (all) | PostgreSQL CPU ms per 1,000 commands | non-2xx |")
    say("|---:|---:|---|---:|---:|")
    for row in rows:
        say("| %d | %s (%.1f ms) | %s (%.0f) | %.0f | %d |" % (
            row["replicas"], format(round(row["commands_per_s"]), ","), row["command_p99_ms"],
            " / ".join("%.0f" % (1000 * c) for c in row["command_cpu_per_1000"]), 1000 * sum(row["command_cpu_per_1000"]),
            1000 * row["postgres_cpu_per_1000_commands"], row["command_non2xx"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
