"""Shared pieces of the fault scripts (Benchmarks/faults/*.py): start and kill `datarights serve` on its
embedded PostgreSQL, set up a lab with a grant over the API, send usage from several clients while
recording what was acknowledged, and check PostgreSQL afterwards with psql.

Not part of `swift test`: each script is bounded in time (minutes) and prints its figures.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("DATARIGHTS", os.path.join(ROOT, ".build", "debug", "datarights"))
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PG_USER = "postgres"  # the account the embedded cluster runs as when we are root


def say(text):
    print(text, flush=True)


def now_text():
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Server:
    """`datarights serve` on a data directory of its own, with an operator key."""

    def __init__(self, data_dir, port, extra=()):
        self.data_dir = data_dir
        self.port = port
        self.extra = list(extra)
        self.process = None
        self.runs = 0
        os.makedirs(data_dir, exist_ok=True)
        keys = subprocess.run([BINARY, "keys", "create", "--operator", "--data-dir", data_dir],
                              capture_output=True, text=True, timeout=180)
        if keys.returncode != 0:
            raise SystemExit("keys create failed: " + keys.stderr[-2000:])
        self.operator = keys.stdout.strip().split("\n")[-1]

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def cluster(self):
        return os.path.realpath(os.path.join(self.data_dir, "postgres"))

    def start(self, ready_timeout=120):
        self.runs += 1
        log = open(self.data_dir + ".serve-%d.log" % self.runs, "w")
        started = time.time()
        self.process = subprocess.Popen(
            [BINARY, "serve", "--data-dir", self.data_dir, "--port", str(self.port), "--log-level", "notice"] + self.extra,
            stdout=log, stderr=subprocess.STDOUT)
        while time.time() - started < ready_timeout:
            if self.process.poll() is not None:
                return None
            status, _ = http("GET", self.base + "/readyz", timeout=2)
            if status == 200:
                return time.time() - started
            time.sleep(0.05)
        return None

    def kill9(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def terminate(self, timeout=60):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return -1
        return self.process.returncode if self.process else None

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.cluster, "postmaster.pid")) as handle:
                return int(handle.readline().strip())
        except (OSError, ValueError):
            return None

    def pg_ctl(self, *arguments):
        command = [os.path.join(PG_BIN, "pg_ctl"), "-D", self.cluster] + list(arguments)
        if os.geteuid() == 0:
            command = ["runuser", "-u", PG_USER, "--"] + command
        # Output to a file, not a pipe: the postmaster `pg_ctl start` forks would hold a pipe open forever.
        with open(self.data_dir + ".pg_ctl.log", "a") as log:
            return subprocess.run(command, cwd=self.cluster, stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=120)

    def psql(self, sql):
        """Runs `sql` on the server's database; returns the rows as lists of strings."""
        socket_dir = self.cluster + ".run"
        command = [os.path.join(PG_BIN, "psql"), "-h", socket_dir, "-U", "datarights", "-d", "datarights",
                   "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError("psql: " + done.stderr)
        return [line.split("\t") for line in done.stdout.strip().split("\n") if line]

    def pg_ctl_ok(self, *arguments):
        done = self.pg_ctl(*arguments)
        assert done.returncode == 0, "pg_ctl %s failed; see %s.pg_ctl.log" % (" ".join(arguments), self.data_dir)

    def cleanup(self):
        self.kill9()
        if self.postmaster_pid():
            self.pg_ctl("stop", "-m", "immediate", "-w")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(os.path.realpath(self.data_dir), ignore_errors=True)


def http(method, url, token=None, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}
    except Exception as error:  # refused, reset, timed out: no answer
        return 0, {"error": repr(error)}


CODES = ["91330100716105852F", "91110108551385082Q"]


def make_grant(server, quota=10 ** 12):
    """An enterprise's dataset with a policy, and a lab's grant on it. Returns (lab key, grant number)."""
    def party(name, kind, code):
        status, created = http("POST", server.base + "/v1/parties", server.operator,
                               {"name": name, "kind": kind, "region": "CN-BJ", "jurisdiction": "mainland", "creditCode": code})
        assert status == 201, created
        status, key = http("POST", server.base + "/v1/parties/%d/keys" % created["id"], server.operator, {"label": "faults"})
        assert status == 201, key
        return key["token"]
    enterprise = party("Grid Analytics Co.", "enterprise", CODES[0])
    lab = party("Deep Model Lab", "model_lab", CODES[1])
    status, dataset = http("POST", server.base + "/v1/datasets", enterprise, {
        "title": "Retail baskets", "description": "Baskets per store per hour", "grade": "general", "piLevel": "none",
        "individualsCovered": 0, "region": "CN-BJ", "fingerprint": "5e" * 32, "format": "parquet",
        "updateCycle": "daily", "sizeBytes": 1048576, "tags": ["retail"]})
    assert status == 201, dataset
    status, policy = http("PUT", server.base + "/v1/datasets/%d/policy" % dataset["id"], enterprise, {
        "approval": "automatic", "pricePerMillionTokens": 800,
        "rules": [{"id": "training", "kind": "permission", "action": "use",
                   "constraints": {"purposes": ["model_training"], "assigneeKinds": ["model_lab"]}}]})
    assert status == 200, policy
    status, request = http("POST", server.base + "/v1/access-requests", lab, {
        "dataset": dataset["id"], "purpose": "model_training", "tokens": quota, "validUntil": "2030-01-01T00:00:00Z"})
    assert status in (200, 201) and request.get("grant"), request
    time.sleep(0.01)
    return lab, request["grant"]["number"]


class Ledger:
    """What clients were told: acknowledged keys with their event ids, and batches left unanswered."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged = {}   # key -> (event id, tokens, accepted)
        self.unanswered = []     # [events]
        self.statuses = {}       # status -> count
        self.conflicts = []      # a retried key answered with another event id

    def record(self, status, events, answer):
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 200:
                for event, result in zip(events, answer.get("results", [])):
                    entry = (result.get("event"), event["tokens"], result.get("status") == "accepted")
                    previous = self.acknowledged.get(event["key"])
                    if previous and previous[0] != entry[0]:
                        self.conflicts.append((event["key"], previous, entry))
                    self.acknowledged.setdefault(event["key"], entry)
            else:
                self.unanswered.append(events)


def send_load(server, lab, grant, ledger, stop, clients=8, batch=100, prefix="c"):
    """Clients sending batches of `batch` events until `stop` is set; returns their threads."""
    def client(number):
        round_number = 0
        generator = random.Random(number)
        while not stop.is_set():
            at = now_text()
            events = [{"grant": grant, "tokens": generator.randint(1, 100), "at": at,
                       "key": "%s%d-%d-%d-%d" % (prefix, number, server.runs, round_number, index)} for index in range(batch)]
            status, answer = http("POST", server.base + "/v1/usage", lab, {"events": events}, timeout=30)
            ledger.record(status, events, answer)
            round_number += 1
            if status != 200:
                time.sleep(0.05)
    threads = [threading.Thread(target=client, args=(number,), daemon=True) for number in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def retry_unanswered(server, lab, ledger):
    """Sends every unanswered batch again (the same keys): each must be counted at most once."""
    with ledger.lock:
        pending, ledger.unanswered = ledger.unanswered, []
    for events in pending:
        for attempt in range(20):
            status, answer = http("POST", server.base + "/v1/usage", lab, {"events": events}, timeout=60)
            if status == 200:
                ledger.record(status, events, answer)
                break
            time.sleep(0.25)


def verify(server, ledger):
    """Checks PostgreSQL against what clients were told; returns the figures."""
    rows = server.psql("SELECT idempotency_key, id, accepted, tokens FROM usage_event")
    stored = {}
    duplicates = 0
    for key, event, accepted, tokens in rows:
        if key in stored:
            duplicates += 1
        stored[key] = (event, int(tokens), accepted == "t")
    missing = [key for key, (event, _, _) in ledger.acknowledged.items() if stored.get(key, (None,))[0] != event]
    accepted_tokens = sum(tokens for _, tokens, accepted in stored.values() if accepted)
    counted = int(server.psql("SELECT coalesce(sum(tokens), 0) FROM grant_usage")[0][0])
    debits, credits = server.psql("SELECT debits, credits FROM ledger_balance")[0]
    return {
        "acknowledged events": len(ledger.acknowledged),
        "acknowledged but missing or different in PostgreSQL": len(missing),
        "keys stored twice": duplicates,
        "retried keys answered differently": len(ledger.conflicts),
        "tokens of accepted events": accepted_tokens,
        "tokens counted on the grant": counted,
        "counters equal the events": accepted_tokens == counted,
        "ledger balanced": debits == credits,
        "HTTP statuses": dict(sorted(ledger.statuses.items())),
    }


def print_figures(title, figures):
    say("")
    say("== " + title)
    for name, value in figures.items():
        say("  %-52s %s" % (name, value))
