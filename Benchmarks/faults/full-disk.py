#!/usr/bin/env python3
"""Fault: the disk under PostgreSQL fills up during usage load, then space comes back.

As root, the data directory is a tmpfs of SIZE MiB (default 160): the embedded cluster (about 40 MiB
after initdb) and its WAL share it. Eight clients send batches of 100 events until the answers have
been failures for 5 s running (or LIMIT seconds, default 120). Then the tmpfs is grown to 2 GiB and
the script waits up to 60 s for a batch to be acknowledged again. Prints what clients were told while
the disk was full (expected: 503, never a hang; a 500 is a finding), whether the server and PostgreSQL
survived, and checks PostgreSQL against what was acknowledged. Needs root (mount); exits 2 otherwise.

Usage: sudo python3 Benchmarks/faults/full-disk.py   (SIZE=200 LIMIT=180 PORT=18195 to change)
"""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from faultlib import Server, Ledger, make_grant, send_load, retry_unanswered, verify, print_figures, say, http

if os.geteuid() != 0:
    say("full-disk: needs root to mount a small tmpfs; skipped")
    sys.exit(2)
size = int(os.environ.get("SIZE", "160"))
limit = float(os.environ.get("LIMIT", "120"))
mount = "/tmp/datarights-faults-disk-%d" % os.getpid()
os.makedirs(mount, exist_ok=True)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dM,mode=0755" % size, "tmpfs", mount], check=True)
server = None
try:
    server = Server(mount + "/data", int(os.environ.get("PORT", "18195")))
    assert server.start() is not None, "the first start failed"
    lab, grant = make_grant(server)
    ledger = Ledger()
    stop = threading.Event()
    threads = send_load(server, lab, grant, ledger, stop)
    started = time.time()
    full_since = None
    statuses_before_full = None
    last_acknowledged = 0
    while time.time() - started < limit:
        time.sleep(0.25)
        if len(ledger.acknowledged) > last_acknowledged:
            last_acknowledged = len(ledger.acknowledged)
            full_since = None
        elif full_since is None:
            full_since = time.time()
            statuses_before_full = dict(ledger.statuses)
        elif time.time() - full_since >= 5:
            break
    filled = full_since is not None
    full_statuses = {s: c - (statuses_before_full or {}).get(s, 0) for s, c in ledger.statuses.items()}
    readiness_full = http("GET", server.base + "/readyz", timeout=10)[0]
    server_alive_full = server.process.poll() is None
    postmaster_alive_full = server.postmaster_pid() is not None and os.path.exists("/proc/%d" % server.postmaster_pid())
    usage = subprocess.run(["df", "-m", mount], capture_output=True, text=True).stdout.strip().split("\n")[-1]
    subprocess.run(["mount", "-o", "remount,size=2G", mount], check=True)
    grown = time.time()
    recovered = None
    before = len(ledger.acknowledged)
    while time.time() - grown < 60:
        if len(ledger.acknowledged) > before:
            recovered = time.time() - grown
            break
        time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join()
    server_alive = server.process.poll() is None
    figures = {}
    if recovered is not None:
        retry_unanswered(server, lab, ledger)
        figures.update(verify(server, ledger))
    else:
        figures["acknowledged events"] = len(ledger.acknowledged)
        figures["HTTP statuses"] = dict(sorted(ledger.statuses.items()))
    figures["tmpfs MiB"] = size
    figures["disk filled within the limit"] = filled
    figures["df when full (MiB: size used avail)"] = " ".join(usage.split()[1:4])
    figures["answers while full (status: count)"] = {s: c for s, c in sorted(full_statuses.items()) if c}
    figures["readiness while full"] = readiness_full
    figures["server alive while full"] = server_alive_full
    figures["postmaster alive while full"] = postmaster_alive_full
    figures["first acknowledged batch after space came back, s"] = None if recovered is None else round(recovered, 2)
    figures["server alive at the end"] = server_alive
    print_figures("full disk", figures)
    ok = (filled and server_alive and recovered is not None and 500 not in full_statuses
          and figures.get("acknowledged but missing or different in PostgreSQL") == 0 and figures.get("keys stored twice") == 0)
    say("RESULT: " + ("PASS" if ok else "FAIL"))
finally:
    if server:
        server.terminate()
        if server.postmaster_pid():
            server.pg_ctl("stop", "-m", "immediate", "-w")
    subprocess.run(["umount", "-l", mount])
    os.rmdir(mount)
