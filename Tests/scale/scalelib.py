"""Shared pieces of the scale-out scripts (issue 18): a private PostgreSQL primary on loopback TCP, an
optional streaming standby made by pg_basebackup with synchronous replication, several `datarights serve`
replicas on one database, and Debian's HAProxy in front of them with health checks on /readyz.

Everything runs on loopback, under one temporary directory, and is stopped at exit — also on failure or
a signal (`Stack.close`). As root, the PostgreSQL programs run as the `postgres` account.
"""

import atexit
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("DATARIGHTS", os.path.join(ROOT, ".build", "release", "datarights"))
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PG_ACCOUNT = "postgres"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Per-key rates far above what this machine sends: the limiter stays on the path but never refuses
# (as Benchmarks/lib/demo-server.sh does).
RATES = ",".join("%s=10000000" % name for name in [
    "requestsPerSecondPerKey", "requestBurstPerKey", "usageRequestsPerSecondPerKey", "usageRequestBurstPerKey",
    "decisionRequestsPerSecondPerKey", "decisionRequestBurstPerKey"])


def say(text):
    print(text, flush=True)


def now_text():
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else None


def as_postgres(command):
    return (["runuser", "-u", PG_ACCOUNT, "--"] + command) if os.geteuid() == 0 else command


def run_logged(command, log_path, timeout=300, check=True):
    # Output to a file, never a pipe: a postmaster started by pg_ctl would hold a pipe open forever.
    with open(log_path, "a") as log:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError("%s failed (exit %d); see %s" % (" ".join(command[:6]), done.returncode, log_path))
    return done.returncode


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


class Postgres:
    """One PostgreSQL 15 server on loopback TCP (and a socket in its directory)."""

    def __init__(self, root, name, port=None):
        self.directory = os.path.join(root, name)
        self.data = os.path.join(self.directory, "data")
        self.port = port or free_port()
        self.log = os.path.join(self.directory, "tools.log")  # ours; the server's own is server.log (its account's)
        os.makedirs(self.directory, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, PG_ACCOUNT, PG_ACCOUNT)

    def tool(self, name):
        return os.path.join(PG_BIN, name)

    def init_primary(self, synchronous_standby=None):
        run_logged(as_postgres([self.tool("initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                "--locale=C"]), self.log)
        settings = {
            "listen_addresses": "'127.0.0.1'", "port": self.port, "unix_socket_directories": "'%s'" % self.directory,
            "wal_level": "replica", "max_wal_senders": 10, "max_replication_slots": 10, "hot_standby": "on",
            "synchronous_commit": "on", "max_connections": 200, "shared_buffers": "'256MB'", "fsync": "on",
            "wal_keep_size": "'512MB'", "log_min_messages": "warning",
        }
        if synchronous_standby:
            settings["synchronous_standby_names"] = "'%s'" % synchronous_standby
        self.write_settings(settings)
        with open(os.path.join(self.data, "pg_hba.conf"), "a") as hba:
            hba.write("host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n")

    def init_standby(self, primary, name):
        """A streaming standby of `primary` (pg_basebackup -R), reporting as `name` for synchronous replication."""
        run_logged(as_postgres([self.tool("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                                "-D", self.data, "-R", "-X", "stream", "-c", "fast"]), self.log)
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as conf:
            conf.write("primary_conninfo = 'host=127.0.0.1 port=%d user=postgres application_name=%s'\n" % (primary.port, name))
        self.write_settings({"port": self.port, "unix_socket_directories": "'%s'" % self.directory})

    def write_settings(self, settings):
        with open(os.path.join(self.data, "postgresql.conf"), "a") as conf:
            for name, value in settings.items():
                conf.write("%s = %s\n" % (name, value))

    def pg_ctl(self, *arguments, check=True):
        return run_logged(as_postgres([self.tool("pg_ctl"), "-D", self.data, "-l", os.path.join(self.directory, "server.log")] + list(arguments)), self.log,
                          check=check)

    def start(self):
        self.pg_ctl("start", "-w", "-t", "60")

    def promote(self):
        self.pg_ctl("promote", "-w", "-t", "60")

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as handle:
                return int(handle.readline().strip())
        except (OSError, ValueError):
            return None

    def kill9(self):
        """SIGKILL to the postmaster, and its backends (as a machine that dies would leave them: gone)."""
        pid = self.postmaster_pid()
        if not pid:
            return
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for victim in [pid] + [int(child) for child in children]:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self):
        if self.postmaster_pid():
            self.pg_ctl("stop", "-m", "immediate", "-w", check=False)

    def deadlocks(self):
        """How many times this server's log says it broke a deadlock (a lock-order defect in the writers)."""
        with open(os.path.join(self.directory, "server.log"), errors="replace") as log:
            return sum(1 for line in log if "deadlock detected" in line)

    def psql(self, sql, database="datarights"):
        command = [self.tool("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
                   "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError("psql: " + done.stderr)
        return [line.split("\t") for line in done.stdout.strip().split("\n") if line]

    def url(self):
        return "postgresql://postgres@127.0.0.1:%d/datarights" % self.port


class Replica:
    """One `datarights serve` on the shared database, with a port and a data directory of its own."""

    def __init__(self, root, name, database_url, port=None, extra=()):
        self.name = name
        self.directory = os.path.join(root, name)
        self.port = port or free_port()
        self.database_url = database_url
        self.extra = list(extra)
        self.process = None
        self.runs = 0
        os.makedirs(self.directory, exist_ok=True)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, ready_timeout=180):
        """Starts the process; returns the seconds until /readyz answered 200, or None."""
        self.runs += 1
        log = open(os.path.join(self.directory, "serve-%d.log" % self.runs), "w")
        started = time.time()
        self.process = subprocess.Popen(
            [BINARY, "serve", "--database-url", self.database_url, "--data-dir", self.directory, "--port", str(self.port),
             "--log-level", "notice", "--edge-limit", RATES] + self.extra,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self.wait_ready(started, ready_timeout)

    def wait_ready(self, started, ready_timeout):
        while time.time() - started < ready_timeout:
            if self.process.poll() is not None:
                return None
            status, _ = http("GET", self.base + "/readyz", timeout=2)
            if status == 200:
                return time.time() - started
            time.sleep(0.02)
        return None

    def kill9(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def terminate(self, timeout=60):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def cpu_seconds(self):
        """User + system CPU seconds of the running process so far."""
        with open("/proc/%d/stat" % self.process.pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class HAProxy:
    """Debian's HAProxy on a loopback port with the shipped configuration (Deploy/haproxy.cfg)."""

    def __init__(self, root, replicas, port=None):
        self.directory = os.path.join(root, "haproxy")
        self.port = port or free_port()
        self.replicas = replicas
        self.process = None
        os.makedirs(self.directory, exist_ok=True)
        self.config = os.path.join(self.directory, "haproxy.cfg")
        with open(self.config, "w") as handle:
            handle.write(self.render(os.path.join(ROOT, "Deploy", "haproxy.cfg"), self.port, replicas))

    @staticmethod
    def render(shipped, port, replicas):
        """The shipped Deploy/haproxy.cfg, in the foreground without root's sockets, on `port`, with one
        server line per replica."""
        lines = []
        for line in open(shipped).read().split("\n"):
            stripped = line.strip()
            if stripped.startswith(("user ", "group ", "daemon", "stats socket", "log /dev/log")):
                continue
            if stripped.startswith("frontend stats"):
                break  # the statistics frontend (a fixed port) is left out
            if stripped.startswith("server replica-"):
                continue
            if stripped.startswith("bind 127.0.0.1:8080"):
                line = "    bind 127.0.0.1:%d" % port
            lines.append(line)
            if stripped.startswith("default-server"):
                lines.extend("    server %s 127.0.0.1:%d check" % (replica.name, replica.port) for replica in replicas)
        return "\n".join(lines) + "\n"

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        log = open(os.path.join(self.directory, "haproxy.log"), "w")
        self.process = subprocess.Popen(["haproxy", "-db", "-f", self.config], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            status, _ = http("GET", self.base + "/readyz", timeout=2)
            if status == 200:
                return
            time.sleep(0.05)
        raise RuntimeError("HAProxy did not answer through to a replica")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait()


class Stack:
    """The processes of one run, stopped (and the directory removed) at exit."""

    def __init__(self, keep=False):
        self.root = tempfile.mkdtemp(prefix="datarights-scale-")
        if os.geteuid() == 0:
            os.chmod(self.root, 0o755)
        self.keep = keep
        self.servers = []
        self.replicas = []
        self.proxies = []
        atexit.register(self.close)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: sys.exit(130))

    def postgres(self, name, **options):
        server = Postgres(self.root, name, **options)
        self.servers.append(server)
        return server

    def replica(self, name, database_url, **options):
        replica = Replica(self.root, name, database_url, **options)
        self.replicas.append(replica)
        return replica

    def haproxy(self, replicas):
        proxy = HAProxy(self.root, replicas)
        self.proxies.append(proxy)
        return proxy

    def close(self):
        for proxy in self.proxies:
            proxy.stop()
        for replica in self.replicas:
            replica.kill9()
        for server in self.servers:
            server.stop()
        if self.keep:
            say("kept: " + self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def create_database(primary):
    primary.psql("CREATE DATABASE datarights", database="postgres")


def operator_key(database_url, directory):
    """The first operator key, as an operator makes it (`datarights keys create --operator`)."""
    done = subprocess.run([BINARY, "keys", "create", "--operator", "--database-url", database_url, "--data-dir", directory],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError("keys create failed: " + done.stderr[-2000:])
    return done.stdout.strip().split("\n")[-1]


CREDIT_CODES = ["91330100716105852F", "91110108551385082Q"]


class Market:
    """An enterprise with a dataset under an automatic policy, and a lab that takes grants on it."""

    def __init__(self, base, operator):
        self.base = base
        self.enterprise = self.party(operator, "Grid Analytics Co.", "enterprise", CREDIT_CODES[0])
        self.lab = self.party(operator, "Deep Model Lab", "model_lab", CREDIT_CODES[1])
        self.dataset = self.dataset_on(base, "Retail baskets")
        status, policy = http("PUT", base + "/v1/datasets/%d/policy" % self.dataset, self.enterprise, {
            "approval": "automatic", "pricePerMillionTokens": 800,
            "rules": [{"id": "training", "kind": "permission", "action": "use",
                       "constraints": {"purposes": ["model_training"], "assigneeKinds": ["model_lab"]}}]})
        assert status == 200, policy

    def party(self, operator, name, kind, code):
        status, created = http("POST", self.base + "/v1/parties", operator,
                               {"name": name, "kind": kind, "region": "CN-BJ", "jurisdiction": "mainland", "creditCode": code})
        assert status == 201, created
        status, key = http("POST", self.base + "/v1/parties/%d/keys" % created["id"], operator, {"label": "scale"})
        assert status == 201, key
        return key["token"]

    def dataset_on(self, base, title):
        status, dataset = http("POST", base + "/v1/datasets", self.enterprise, {
            "title": title, "description": "Baskets per store per hour", "grade": "general", "piLevel": "none",
            "individualsCovered": 0, "region": "CN-BJ", "fingerprint": "%064x" % random.getrandbits(256), "format": "parquet",
            "updateCycle": "daily", "sizeBytes": 1048576, "tags": ["retail"]})
        assert status == 201, dataset
        return dataset["id"]

    def grant(self, quota, base=None):
        status, request = http("POST", (base or self.base) + "/v1/access-requests", self.lab, {
            "dataset": self.dataset, "purpose": "model_training", "tokens": quota, "validUntil": "2030-01-01T00:00:00Z"})
        assert status in (200, 201) and request.get("grant"), request
        return request["grant"]["number"]


class Ledger:
    """What clients were told: each acknowledged key with its event id, tokens and whether accepted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged = {}
        self.unanswered = []
        self.statuses = {}
        self.conflicts = []

    def record(self, status, events, answer):
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 200:
                for event, result in zip(events, answer.get("results", [])):
                    entry = (result.get("event"), event["tokens"], result.get("status") == "accepted", result.get("quota"))
                    previous = self.acknowledged.get(event["key"])
                    if previous and previous[0] != entry[0]:
                        self.conflicts.append((event["key"], previous, entry))
                    self.acknowledged.setdefault(event["key"], entry)
            else:
                self.unanswered.append(events)

    def retry_unanswered(self, base, token, attempts=40):
        """Sends every unanswered batch again with the same keys (each counted at most once)."""
        with self.lock:
            pending, self.unanswered = self.unanswered, []
        for events in pending:
            for _ in range(attempts):
                status, answer = http("POST", base + "/v1/usage", token, {"events": events}, timeout=60)
                if status == 200:
                    self.record(status, events, answer)
                    break
                time.sleep(0.25)
            else:
                with self.lock:
                    self.unanswered.append(events)
