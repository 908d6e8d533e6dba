#!/usr/bin/env python3
"""Fault: PostgreSQL stopped under usage load, then started again.

Eight clients send batches of 100 usage events; after 3 s PostgreSQL is stopped (`pg_ctl stop -m
MODE`, default immediate) for DOWN seconds (default 5) and started again. Counts the answers while it is
down (expected: 503 with Retry-After, never 500, never a hang), how long after PostgreSQL is back the
first batch is acknowledged again and readiness is 200, and then checks PostgreSQL against what the
clients were told (unanswered batches are sent again with the same keys). Prints its figures.

Usage: python3 Benchmarks/faults/pg-stop.py   (DOWN=10 MODE=fast PORT=18192 to change)
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from faultlib import Server, Ledger, make_grant, send_load, retry_unanswered, verify, print_figures, say, http

down = float(os.environ.get("DOWN", "5"))
mode = os.environ.get("MODE", "immediate")
server = Server("/tmp/datarights-faults-pgstop-%d" % os.getpid(), int(os.environ.get("PORT", "18192")))
try:
    assert server.start() is not None, "the first start failed"
    lab, grant = make_grant(server)
    ledger = Ledger()
    stop = threading.Event()
    threads = send_load(server, lab, grant, ledger, stop)
    time.sleep(3)
    before = dict(ledger.statuses)
    server.pg_ctl_ok("stop", "-m", mode, "-w")
    stopped_at = time.time()
    readiness_down = http("GET", server.base + "/readyz", timeout=10)[0]
    time.sleep(down)
    during = {status: count - before.get(status, 0) for status, count in ledger.statuses.items()}
    server.pg_ctl_ok("start", "-w", "-t", "60", "-s")
    back_at = time.time()
    acknowledged_before = len(ledger.acknowledged)
    first_ack = None
    ready_at = None
    while time.time() - back_at < 60 and (first_ack is None or ready_at is None):
        if first_ack is None and len(ledger.acknowledged) > acknowledged_before:
            first_ack = time.time() - back_at
        if ready_at is None and http("GET", server.base + "/readyz", timeout=2)[0] == 200:
            ready_at = time.time() - back_at
        time.sleep(0.05)
    time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join()
    alive = server.process.poll() is None
    retry_unanswered(server, lab, ledger)
    figures = verify(server, ledger)
    figures["stop mode"] = mode
    figures["seconds down"] = round(back_at - stopped_at, 1)
    figures["answers while down (status: count)"] = {s: c for s, c in sorted(during.items()) if c}
    figures["readiness while down"] = readiness_down
    figures["first acknowledged batch after start, s"] = None if first_ack is None else round(first_ack, 2)
    figures["readiness 200 after start, s"] = None if ready_at is None else round(ready_at, 2)
    figures["server alive throughout"] = alive
    print_figures("PostgreSQL stopped under load", figures)
    ok = (alive and figures["acknowledged but missing or different in PostgreSQL"] == 0 and figures["keys stored twice"] == 0
          and figures["counters equal the events"] and figures["ledger balanced"] and 500 not in during
          and first_ack is not None and ready_at is not None and readiness_down == 503)
    say("RESULT: " + ("PASS" if ok else "FAIL"))
finally:
    server.terminate()
    server.cleanup()
