#!/usr/bin/env python3
"""Fault: kill -9 during usage load, ROUNDS times (default 10).

Eight clients send batches of 100 usage events; after a random 1-3 s the server is killed with
SIGKILL — every other round the postmaster too, at the same moment (finding 13) — and started again at
once. Clients keep what they were told: acknowledged keys with their event ids, and the batches left
without an answer, which are sent again (same keys) after each restart. At the end PostgreSQL must
hold every acknowledged event with the id the client was given, no key twice, counters equal to the
accepted events, and a balanced ledger. Prints its figures.

Usage: python3 Benchmarks/faults/kill9-loop.py   (ROUNDS=20 PORT=18191 to change)
"""
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from faultlib import Server, Ledger, make_grant, send_load, retry_unanswered, verify, print_figures, say

rounds = int(os.environ.get("ROUNDS", "10"))
server = Server("/tmp/datarights-faults-kill9-%d" % os.getpid(), int(os.environ.get("PORT", "18191")))
restarts = []
failed_starts = 0
try:
    assert server.start() is not None, "the first start failed"
    lab, grant = make_grant(server)
    ledger = Ledger()
    for number in range(rounds):
        stop = threading.Event()
        threads = send_load(server, lab, grant, ledger, stop)
        time.sleep(random.uniform(1, 3))
        postmaster = server.postmaster_pid() if number % 2 == 1 else None
        server.kill9()
        if postmaster:
            os.kill(postmaster, signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join()
        took = server.start()
        if took is None:
            failed_starts += 1
            say("round %d: the restart failed; see %s.serve-%d.log" % (number + 1, server.data_dir, server.runs))
            took = server.start()
            if took is None:
                raise SystemExit("two restarts in a row failed")
        restarts.append(took)
        retry_unanswered(server, lab, ledger)
        say("round %d: killed %s, ready again in %.2f s, %d events acknowledged so far"
            % (number + 1, "server and postmaster" if postmaster else "server", took, len(ledger.acknowledged)))
    figures = verify(server, ledger)
    figures["rounds"] = rounds
    figures["restarts that failed"] = failed_starts
    figures["restart to ready, median s"] = round(sorted(restarts)[len(restarts) // 2], 2)
    figures["restart to ready, max s"] = round(max(restarts), 2)
    print_figures("kill -9 loop", figures)
    ok = (figures["acknowledged but missing or different in PostgreSQL"] == 0 and figures["keys stored twice"] == 0
          and figures["counters equal the events"] and figures["ledger balanced"] and failed_starts == 0
          and figures["retried keys answered differently"] == 0)
    say("RESULT: " + ("PASS" if ok else "FAIL"))
finally:
    server.terminate()
    server.cleanup()
