#!/usr/bin/env python3
"""Issue 18, "Must show": replicas behind HAProxy on loopback.

1. Trials (default 100): each makes a fresh grant with a random quota (5,000–500,000 tokens) for one lab,
   then several clients send usage against that one grant through HAProxy — so through every replica —
   until the grant's quota denies them. In about a third of the trials one replica is killed with -9
   mid-trial and started again. Afterwards: the tokens PostgreSQL accepted on the grant are never above
   its quota and equal what clients were told (after retrying, with the same keys, the requests that got
   no answer); every accepted token was drawn from a quota lease (schema 0015); the under-use (quota −
   accepted once clients stopped on quota denials) is recorded and checked against docs/SCALING.md's bound
   (H − 1)·s + H·200, with H the processes that held slices of the grant (a killed replica and its restart
   are two): the other holders' slices (s, the largest slice of the trial) and what each holder's slices
   keep below one event (events ask at most 200 tokens).
2. Lag: writes through one replica directly (a dataset created), and the time until each other replica
   answers it; p50 / p99 over the writes (target p99 ≤ 100 ms).

Usage: python3 Tests/scale/replicas.py [--replicas 3] [--trials 100] [--lag-writes 300] [--clients 6]
Needs a release build (swift build -c release --product datarights) or DATARIGHTS=path.
"""

import argparse
import random
import sys
import threading
import time

import scalelib
from scalelib import http, say


def trial(number, market, proxy, replicas, generator, clients, kill):
    quota = generator.randint(5_000, 500_000)
    grant = market.grant(quota)
    ledger = scalelib.Ledger()
    stop = threading.Event()

    def client(index):
        local = random.Random(number * 1000 + index)
        round_number = 0
        while not stop.is_set():
            events = [{"grant": grant, "tokens": local.randint(1, 200), "at": scalelib.now_text(),
                       "key": "t%d-c%d-r%d-e%d" % (number, index, round_number, event)} for event in range(20)]
            status, answer = http("POST", proxy.base + "/v1/usage", market.lab, {"events": events}, timeout=60)
            ledger.record(status, events, answer)
            round_number += 1
            if status == 200 and any(result.get("quota") == "grant" for result in answer.get("results", [])):
                return  # the grant's quota denied this client: it stops, as a lab would
            if status != 200:
                time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(clients)]
    for thread in threads:
        thread.start()
    killed = None
    if kill:
        # Mid-trial: once the clients were told of a random 10–80 % of the quota accepted.
        mark = generator.uniform(0.1, 0.8) * quota
        victim = generator.choice(replicas)
        while any(thread.is_alive() for thread in threads):
            with ledger.lock:
                told = sum(tokens for (_, tokens, accepted, _) in ledger.acknowledged.values() if accepted)
            if told >= mark:
                victim.kill9()
                killed = victim
                break
            time.sleep(0.002)
    for thread in threads:
        thread.join(timeout=300)
    stop.set()
    restart = None
    if killed:
        restart = killed.start()
        assert restart is not None, "replica %s did not start again" % killed.name
    ledger.retry_unanswered(proxy.base, market.lab)
    told = sum(tokens for (_, tokens, accepted, _) in ledger.acknowledged.values() if accepted)
    stored = int(market.primary.psql(
        "SELECT coalesce(sum(e.tokens), 0) FROM usage_event e JOIN \"grant\" g ON g.id = e.grant_id "
        "WHERE g.number = '%s' AND e.accepted" % grant)[0][0])
    counted = int(market.primary.psql(
        "SELECT coalesce(u.tokens, 0) FROM \"grant\" g LEFT JOIN grant_usage u ON u.grant_id = g.id WHERE g.number = '%s'" % grant)[0][0])
    drawn, largest, leases, held, holders = (int(value) for value in market.primary.psql(
        "SELECT coalesce(sum(l.used), 0), coalesce(max(l.size), 0), count(*), coalesce(sum(l.size - l.used) FILTER (WHERE NOT l.ended), 0),"
        " count(DISTINCT l.holder) "
        "FROM quota_lease l JOIN \"grant\" g ON l.scope = 'grant' AND l.subject_id = g.id WHERE g.number = '%s'" % grant)[0])
    return {
        "trial": number, "quota": quota, "accepted": stored, "told": told, "counted": counted,
        "under_use": quota - stored, "killed": killed.name if killed else None, "restart_s": restart,
        "unanswered": len(ledger.unanswered), "conflicts": len(ledger.conflicts), "statuses": ledger.statuses,
        "drawn": drawn, "largest_slice": largest, "leases": leases, "held_at_end": held,
        # A killed replica's process and its restart are two holders (the first one's slices expire).
        "bound": (max(holders, 1) - 1) * largest + max(holders, 1) * 200,
    }


def lag(market, replicas, writes):
    """Seconds from a write's answer on one replica until each other replica answers it."""
    delays = []
    for index in range(writes):
        writer = replicas[index % len(replicas)]
        dataset = market.dataset_on(writer.base, "Lag %d" % index)
        written = time.monotonic()
        for other in replicas:
            if other is writer:
                continue
            while True:
                status, _ = http("GET", other.base + "/v1/datasets/%d" % dataset, market.enterprise, timeout=5)
                if status == 200:
                    delays.append(time.monotonic() - written)
                    break
                assert status == 404, "replica %s answered %d" % (other.name, status)
                if time.monotonic() - written > 10:
                    raise AssertionError("replica %s did not show dataset %d within 10 s" % (other.name, dataset))
                time.sleep(0.0005)
    return delays


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--lag-writes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    generator = random.Random(options.seed)

    stack = scalelib.Stack(keep=options.keep)
    primary = stack.postgres("primary")
    primary.init_primary()
    primary.start()
    scalelib.create_database(primary)
    operator = scalelib.operator_key(primary.url(), stack.root + "/keys")  # migrates the database too
    replicas = [stack.replica("replica-%d" % number, primary.url()) for number in range(1, options.replicas + 1)]
    for replica in replicas:
        seconds = replica.start()
        assert seconds is not None, "replica %s did not start" % replica.name
        say("%s ready on port %d in %.1f s" % (replica.name, replica.port, seconds))
    proxy = stack.haproxy(replicas)
    proxy.start()
    say("HAProxy on port %d in front of %d replicas" % (proxy.port, len(replicas)))
    market = scalelib.Market(proxy.base, operator)
    market.primary = primary

    results = []
    started = time.time()
    for number in range(1, options.trials + 1):
        kill = options.replicas > 1 and generator.random() < 1 / 3
        result = trial(number, market, proxy, replicas, generator, options.clients, kill)
        results.append(result)
        say("trial %3d: quota %7d accepted %7d (told %7d, counted %7d, drawn %7d) under-use %5d (bound %6d; %d leases, largest %d,"
            " held at end %d)%s unanswered %d statuses %s" % (
            number, result["quota"], result["accepted"], result["told"], result["counted"], result["drawn"], result["under_use"],
            result["bound"], result["leases"], result["largest_slice"], result["held_at_end"],
            "  killed %s (back in %.1f s)" % (result["killed"], result["restart_s"]) if result["killed"] else "",
            result["unanswered"], result["statuses"]))
    elapsed = time.time() - started

    delays = lag(market, replicas, options.lag_writes)
    over = [r for r in results if r["accepted"] > r["quota"]]
    mismatched = [r for r in results if r["accepted"] != r["told"] or r["accepted"] != r["counted"] or r["accepted"] != r["drawn"]]
    unanswered = [r for r in results if r["unanswered"] or r["conflicts"]]
    under = sorted(r["under_use"] for r in results)
    say("")
    say("== %d replicas behind HAProxy, %d trials in %.0f s (%d with a replica killed -9 and restarted)" % (
        options.replicas, len(results), elapsed, sum(1 for r in results if r["killed"])))
    say("  accepted above the quota:                       %d trials" % len(over))
    say("  accepted ≠ told, counted or drawn from leases:  %d trials" % len(mismatched))
    say("  requests never answered after retries:          %d trials" % len(unanswered))
    beyond = [r for r in results if r["under_use"] > r["bound"]]
    shares = sorted(r["under_use"] / r["quota"] for r in results)
    say("  under-use (quota − accepted): min %d, median %d, max %d tokens; as a share of the quota median %.2f %%, max %.2f %%"
        " (clients stop at their first quota denial; events ask 1–200 tokens)" % (
            under[0], under[len(under) // 2], under[-1], 100 * shares[len(shares) // 2], 100 * shares[-1]))
    say("  trials with under-use above (H − 1)·largest slice + H·200 (H: holders of the grant's slices): %d" % len(beyond))
    say("  lag over %d writes (%d observations): p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (
        options.lag_writes, len(delays), 1000 * scalelib.percentile(delays, 0.5), 1000 * scalelib.percentile(delays, 0.99),
        1000 * max(delays)))
    deadlocks = market.primary.deadlocks()
    say("  deadlocks PostgreSQL broke (lock-order defects among the replicas' writes): %d" % deadlocks)
    failed = bool(over or mismatched or unanswered or beyond or deadlocks) or scalelib.percentile(delays, 0.99) > 0.1
    say("RESULT %s" % ("FAIL" if failed else "PASS"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
