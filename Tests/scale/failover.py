#!/usr/bin/env python3
"""Issue 18, "Must show": failover. A PostgreSQL primary with a synchronous streaming standby (made by
pg_basebackup -R; `synchronous_standby_names` names it, `synchronous_commit = on`), replicas whose
DATABASE_URL names both hosts with `target_session_attrs=read-write`, HAProxy in front, and usage from
several clients through it. Mid-load the primary is killed (-9, its postmaster and every backend: the
machine is gone) and the standby is promoted (`pg_ctl promote`). The replicas are not touched: they must
find the new primary by themselves, answer 503 only while there is none, and afterwards every event any
client was told about (accepted or denied) must be in the new primary with the answer the client got.

Usage: python3 Tests/scale/failover.py [--replicas 3] [--rounds 5] [--clients 6]
"""

import argparse
import random
import sys
import threading
import time

import scalelib
from scalelib import http, say


def round_once(number, options, generator):
    stack = scalelib.Stack(keep=options.keep)
    try:
        primary = stack.postgres("primary")
        primary.init_primary()
        primary.start()
        scalelib.create_database(primary)
        operator = scalelib.operator_key(primary.url(), stack.root + "/keys")  # migrates the schema too
        standby = stack.postgres("standby")
        standby.init_standby(primary, "standby1")
        standby.start()
        # From now on a COMMIT is acknowledged only once the standby has it (synchronous_commit = on).
        primary.psql("ALTER SYSTEM SET synchronous_standby_names = 'standby1'", database="postgres")
        primary.psql("SELECT pg_reload_conf()", database="postgres")
        deadline = time.time() + 30
        while primary.psql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'standby1' AND sync_state = 'sync'",
                           database="postgres")[0][0] != "1":
            assert time.time() < deadline, "the standby did not become synchronous"
            time.sleep(0.1)
        url = ("postgresql://postgres@127.0.0.1:%d,127.0.0.1:%d/datarights?target_session_attrs=read-write&connect_timeout=2"
               % (primary.port, standby.port))
        replicas = [stack.replica("replica-%d" % n, url) for n in range(1, options.replicas + 1)]
        for replica in replicas:
            assert replica.start() is not None, "replica %s did not start" % replica.name
        pids = [replica.process.pid for replica in replicas]
        proxy = stack.haproxy(replicas)
        proxy.start()
        market = scalelib.Market(proxy.base, operator)
        grant = market.grant(10 ** 15)

        ledger = scalelib.Ledger()
        answers = []  # (monotonic time, status)
        stop = threading.Event()

        def client(index):
            round_number = 0
            while not stop.is_set():
                events = [{"grant": grant, "tokens": 10, "at": scalelib.now_text(),
                           "key": "f%d-c%d-r%d-e%d" % (number, index, round_number, event)} for event in range(50)]
                status, answer = http("POST", proxy.base + "/v1/usage", market.lab, {"events": events}, timeout=30)
                ledger.record(status, events, answer)
                with ledger.lock:
                    answers.append((time.monotonic(), status))
                round_number += 1
                if status != 200:
                    time.sleep(0.05)

        threads = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(options.clients)]
        for thread in threads:
            thread.start()
        time.sleep(generator.uniform(2, 4))
        before = len(ledger.acknowledged)
        killed_at = time.monotonic()
        primary.kill9()
        time.sleep(options.detection)  # what a monitor (or Patroni) takes to decide
        standby.promote()
        promoted_at = time.monotonic()
        # Load goes on until writes have succeeded for a while on the new primary.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with ledger.lock:
                recent = [status for at, status in answers if at > promoted_at]
                ok_after = sum(1 for status in recent if status == 200)
            if ok_after >= 50:
                break
            time.sleep(0.1)
        time.sleep(1)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        ledger.retry_unanswered(proxy.base, market.lab)

        with ledger.lock:
            after_kill = [(at, status) for at, status in answers if at >= killed_at]
        failures = [at for at, status in after_kill if status != 200]
        first_ok = next((at for at, status in after_kill if status == 200 and at > promoted_at), None)
        statuses = {}
        for _, status in after_kill:
            statuses[status] = statuses.get(status, 0) + 1

        # Each replica writes directly on the new primary, by itself (no restart: same process).
        direct = []
        for replica in replicas:
            deadline = time.monotonic() + 30
            while True:
                status, _ = http("POST", replica.base + "/v1/datasets", market.enterprise, {
                    "title": "After failover", "description": "written through %s" % replica.name, "grade": "general",
                    "piLevel": "none", "individualsCovered": 0, "region": "CN-BJ", "fingerprint": "%064x" % random.getrandbits(256),
                    "format": "parquet", "updateCycle": "daily", "sizeBytes": 1, "tags": []})
                if status == 201 or time.monotonic() > deadline:
                    direct.append(status)
                    break
                time.sleep(0.2)
        same_processes = [replica.process.poll() is None and replica.process.pid == pid for replica, pid in zip(replicas, pids)]

        stored = {}
        for key, event, accepted in standby.psql("SELECT idempotency_key, id, accepted FROM usage_event"):
            stored[key] = (event, accepted == "t")
        missing = [key for key, (event, _, accepted, _) in ledger.acknowledged.items()
                   if stored.get(key) != (str(event), accepted)]
        digest_equal = len({http("GET", replica.base + "/v1/admin/state", operator)[1].get("digest") for replica in replicas}) == 1
        result = {
            "acknowledged": len(ledger.acknowledged), "acknowledged before the kill": before,
            "missing or different on the new primary": len(missing), "unanswered after retries": len(ledger.unanswered),
            "retried keys answered differently": len(ledger.conflicts),
            "answers after the kill by status": dict(sorted(statuses.items())),
            "first failure after kill (s)": round(failures[0] - killed_at, 3) if failures else None,
            "last failure after kill (s)": round(failures[-1] - killed_at, 3) if failures else None,
            "promotion after kill (s)": round(promoted_at - killed_at, 3),
            "first success after promotion (s)": round(first_ok - promoted_at, 3) if first_ok else None,
            "direct writes per replica": direct, "replicas never restarted": all(same_processes),
            "replica digests equal": digest_equal,
        }
        result["ok"] = (not missing and not ledger.unanswered and not ledger.conflicts and all(s == 201 for s in direct)
                        and all(same_processes) and digest_equal and first_ok is not None)
        return result
    finally:
        stack.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--detection", type=float, default=1.0, help="seconds between the kill and the promotion")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    generator = random.Random(options.seed)
    results = []
    for number in range(1, options.rounds + 1):
        result = round_once(number, options, generator)
        results.append(result)
        say("== round %d: %s" % (number, "PASS" if result["ok"] else "FAIL"))
        for name, value in result.items():
            say("  %-44s %s" % (name, value))
    failed = [r for r in results if not r["ok"]]
    say("RESULT %s (%d of %d rounds passed)" % ("FAIL" if failed else "PASS", len(results) - len(failed), len(results)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
