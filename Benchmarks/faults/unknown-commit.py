#!/usr/bin/env python3
"""Fault: a COMMIT whose answer is lost (finding 11), reproduced deterministically.

The server's cluster is told to wait for a synchronous standby that does not exist
(`synchronous_standby_names = 'phantom'`): COMMIT flushes locally, then waits. One usage event is sent;
once its COMMIT waits, PostgreSQL is stopped with `-m immediate` (the connection breaks, the commit is
durable), the setting is removed and PostgreSQL started again. Then the same for a command
(`POST /v1/datasets`). The server must find out from PostgreSQL that each committed, answer 200/201,
count it once, keep the ledger balanced and the audit chain whole, go on writing, and be ready.
DOWN (default 0.5 s) is how long PostgreSQL stays down; above the server's lost-commit wait (10 s) the
client gets 503 "outcome not known" and the node stays fenced (writes and readiness 503) until
PostgreSQL answers. Prints its figures.

Usage: python3 Benchmarks/faults/unknown-commit.py   (DOWN=15 PORT=18193 to change)
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from faultlib import Server, make_grant, print_figures, say, http, now_text

down = float(os.environ.get("DOWN", "0.5"))
server = Server("/tmp/datarights-faults-unknown-%d" % os.getpid(), int(os.environ.get("PORT", "18193")))


def lose_the_answer(send):
    """Runs `send` in a thread while its COMMIT waits for the phantom standby and PostgreSQL is killed."""
    server.psql("ALTER SYSTEM SET synchronous_standby_names = 'phantom'")
    server.psql("SELECT pg_reload_conf()")
    time.sleep(0.3)
    answer = {}
    thread = threading.Thread(target=lambda: answer.update(result=send()), daemon=True)
    thread.start()
    waited = 0
    while waited < 200 and int(server.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")[0][0]) == 0:
        time.sleep(0.05)
        waited += 1
    waiting = waited < 200
    server.pg_ctl_ok("stop", "-m", "immediate", "-w")
    during = {}
    if down >= 2:
        during["write while down"] = http("POST", server.base + "/v1/datasets", enterprise, dataset_body("While down"), timeout=30)[0]
        during["readiness while down"] = http("GET", server.base + "/readyz", timeout=10)[0]
    time.sleep(max(0.0, down - (2 if down >= 2 else 0)))
    server.pg_ctl_ok("start", "-w", "-t", "60", "-s")
    server.psql("ALTER SYSTEM RESET synchronous_standby_names")
    server.psql("SELECT pg_reload_conf()")
    started = time.time()
    thread.join(timeout=120)
    return waiting, answer.get("result", (0, {})), time.time() - started, during


def dataset_body(title):
    return {"title": title, "description": "Counts", "grade": "general", "piLevel": "none", "individualsCovered": 0,
            "region": "CN-BJ", "fingerprint": "5e" * 32, "format": "parquet", "updateCycle": "daily", "sizeBytes": 1, "tags": []}


try:
    assert server.start() is not None, "the first start failed"
    lab, grant = make_grant(server)
    enterprise = http("POST", server.base + "/v1/parties", server.operator,
                      {"name": "Second Co.", "kind": "enterprise", "region": "CN-BJ", "jurisdiction": "mainland",
                       "creditCode": "9144030071526726XG"})[1]["id"]
    enterprise = http("POST", server.base + "/v1/parties/%d/keys" % enterprise, server.operator, {"label": "faults"})[1]["token"]
    event = {"grant": grant, "tokens": 700, "at": now_text(), "key": "lost-commit-1"}
    waiting, (status, answer), answered_after, during = lose_the_answer(
        lambda: http("POST", server.base + "/v1/usage", lab, {"events": [event]}, timeout=120))
    for _ in range(200):
        if http("GET", server.base + "/readyz", timeout=2)[0] == 200:
            break
        time.sleep(0.1)
    retry = http("POST", server.base + "/v1/usage", lab, {"events": [event]})[1].get("results", [{}])[0]
    usage_event = (answer.get("results") or [{}])[0].get("event") or retry.get("event")
    stored = server.psql("SELECT count(*) FROM usage_event WHERE idempotency_key = 'lost-commit-1'")[0][0]
    c_waiting, (c_status, c_answer), c_after, _ = lose_the_answer(
        lambda: http("POST", server.base + "/v1/datasets", enterprise, dataset_body("Committed in the dark"), timeout=120))
    for _ in range(200):
        if http("GET", server.base + "/readyz", timeout=2)[0] == 200:
            break
        time.sleep(0.1)
    after = http("POST", server.base + "/v1/datasets", enterprise, dataset_body("The next write"))[0]
    balance = http("GET", server.base + "/v1/ledger/balance", server.operator)[1]
    verified = http("GET", server.base + "/v1/audit/verify", server.operator)[1]
    figures = {
        "PostgreSQL down, s": down,
        "usage: COMMIT waited for the phantom standby": waiting,
        "usage: answer to the event whose COMMIT answer was lost": status,
        "usage: answered after PostgreSQL was back, s": round(answered_after, 2),
        "usage: rows for its key in PostgreSQL": stored,
        "usage: retry with the same key replayed, same event": retry.get("replayed") is True and retry.get("event") == usage_event,
        "command: COMMIT waited for the phantom standby": c_waiting,
        "command: answer to POST /v1/datasets": c_status,
        "command: the dataset is in PostgreSQL (rows)": server.psql("SELECT count(*) FROM dataset WHERE title = 'Committed in the dark'")[0][0],
        "command: the dataset is in the core (API)": (
            c_status == 201 and http("GET", server.base + "/v1/datasets/%s" % c_answer.get("id"), enterprise)[0] == 200)
            or any(item.get("title") == "Committed in the dark"
                   for item in http("GET", server.base + "/v1/datasets?limit=200", enterprise)[1].get("items", [])),
        "the next audited write": after,
        "ledger balanced (core and PostgreSQL)": balance.get("balanced"),
        "audit chain valid": verified.get("valid"), "audit entries": verified.get("entries"),
        "readiness at the end": http("GET", server.base + "/readyz")[0],
    }
    figures.update(during)
    print_figures("COMMIT outcome unknown", figures)
    ok = (waiting and c_waiting and stored == "1" and figures["usage: retry with the same key replayed, same event"]
          and figures["command: the dataset is in PostgreSQL (rows)"] == "1" and figures["command: the dataset is in the core (API)"]
          and after == 201 and balance.get("balanced") is True
          and figures["readiness at the end"] == 200 and verified.get("valid") is True and (status == 200 if down < 10 else status in (200, 503)))
    say("RESULT: " + ("PASS" if ok else "FAIL"))
finally:
    server.terminate()
    server.cleanup()
