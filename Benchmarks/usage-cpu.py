#!/usr/bin/env python3
"""Where the CPU goes during one measured run of Benchmarks/usage-http.sh.

Samples /proc every INTERVAL seconds until SIGTERM/SIGINT (or for --seconds), then prints one line of
JSON: the cores used over the sampled time by each category, the bytes each category caused to be
written to storage (/proc/<pid>/io write_bytes, MiB/s; only the others' figure is used, as a sign of
another build or test writing while we fsync: PostgreSQL's own figure counts every rewrite of a
partly filled WAL page), the busy time of the block devices, and the busiest processes.

Categories:
  server    the datarights process (--server)
  postgres  its embedded PostgreSQL: the postmaster (--postmaster) and its children (backends, WAL
            writer, checkpointer, autovacuum workers, …)
  client    the load generator: children of --client-parent (wrk or pgbench)
  sampler   this script
  others    every other process (another build, tests, …)
  irq       what /proc/stat counts as busy but no process was charged for (interrupts, and the last
            interval of processes that ended between samples)

A process is keyed by (pid, start time): one that starts during the run counts from its start, one
that ends loses at most one interval.
"""
import argparse
import json
import os
import signal
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy():
    with open("/proc/stat") as f:
        fields = f.readline().split()
    # user nice system idle iowait irq softirq steal
    values = [int(v) for v in fields[1:9]]
    return values[0] + values[1] + values[2] + values[5] + values[6] + values[7]


def disk_busy_ms():
    """Milliseconds spent doing I/O so far, summed over whole disks (not partitions, not loop/ram)."""
    total = 0
    try:
        with open("/proc/diskstats") as f:
            for line in f:
                fields = line.split()
                name = fields[2]
                if name.startswith(("loop", "ram", "dm-")) or os.path.exists(f"/sys/class/block/{name}/partition"):
                    continue
                total += int(fields[12])
    except OSError:
        pass
    return total


def written(pid):
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def processes():
    """(pid, start) -> (ppid, comm, ticks, written bytes) for every process now."""
    result = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        close = data.rfind(")")
        comm = data[data.find("(") + 1:close]
        rest = data[close + 2:].split()
        # rest[0] is state (field 3); ppid field 4, utime 14, stime 15, starttime 22
        ppid = int(rest[1])
        ticks = int(rest[11]) + int(rest[12])
        start = int(rest[19])
        result[(int(name), start)] = (ppid, comm, ticks, written(name))
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", type=int, default=0)
    parser.add_argument("--postmaster", type=int, default=0)
    parser.add_argument("--client-parent", type=int, default=0)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--seconds", type=float, default=0, help="stop by itself after this long (0: at SIGTERM)")
    parser.add_argument("--top", type=int, default=8)
    arguments = parser.parse_args()

    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    me = os.getpid()
    began = time.monotonic()
    machine_first = machine_busy()
    disk_first = disk_busy_ms()
    first = processes()
    last = dict(first)
    # What a process had when first seen: at the start for those running then, nothing for later ones
    # (a process seen first in a later sample has run only since it started, within the run).
    baseline = {key: value[2] for key, value in first.items()}
    baseline_written = {key: value[3] for key, value in first.items()}
    info = {key: (value[0], value[1]) for key, value in first.items()}
    while not stop:
        time.sleep(arguments.interval)
        for key, value in processes().items():
            if key not in baseline:
                baseline[key] = 0
                baseline_written[key] = 0
            info[key] = (value[0], value[1])
            last[key] = value
        if arguments.seconds and time.monotonic() - began >= arguments.seconds:
            break
    elapsed = time.monotonic() - began
    machine = machine_busy() - machine_first
    disk = disk_busy_ms() - disk_first

    totals = {"server": 0, "postgres": 0, "client": 0, "sampler": 0, "others": 0}
    writes = dict.fromkeys(totals, 0)
    busiest = []
    for key, value in last.items():
        used = value[2] - baseline.get(key, 0)
        wrote = value[3] - baseline_written.get(key, 0)
        if used <= 0 and wrote <= 0:
            continue
        pid = key[0]
        ppid, comm = info[key]
        if pid == arguments.server:
            category = "server"
        elif arguments.postmaster and (pid == arguments.postmaster or ppid == arguments.postmaster):
            category = "postgres"
        elif arguments.client_parent and ppid == arguments.client_parent and pid != me:
            category = "client"
        elif pid == me:
            category = "sampler"
        else:
            category = "others"
        totals[category] += max(0, used)
        writes[category] += max(0, wrote)
        if used > 0:
            busiest.append((used, pid, comm, category))
    busiest.sort(reverse=True)
    accounted = sum(totals.values())
    cores = {name: round(ticks / TICKS / elapsed, 3) for name, ticks in totals.items()}
    cores["irq"] = round(max(0, machine - accounted) / TICKS / elapsed, 3)
    cores["machine"] = round(machine / TICKS / elapsed, 3)
    report = {
        "seconds": round(elapsed, 2),
        "cores": cores,
        "write_mib_s": {name: round(value / 2**20 / elapsed, 2) for name, value in writes.items()},
        "disk_busy": round(disk / 1000 / elapsed, 3),
        "top": [
            {"pid": pid, "comm": comm, "category": category, "cores": round(used / TICKS / elapsed, 3)}
            for used, pid, comm, category in busiest[: arguments.top]
        ],
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
