#!/usr/bin/env python3
"""Browser test of the web console (issue 17), in real headless Chromium driven by Playwright.

Starts `datarights serve --demo --sandbox` on an embedded PostgreSQL on a free port, then as the demo's
parties: signs in, searches the catalog, opens a dataset and counts its lineage picture's nodes against
the API's lineage walks for the same limits, acts on the registrar's queue and sees the item move, downloads
a regulator CSV and reads it with Python's csv module, signs out, and checks that a lab gets the 403 page for
another lab's grant (and for one that does not exist). Every page visited is parsed by html5lib's strict
parser and checked by axe-core (no critical or serious violation). Screenshots at laptop and phone widths
go to the directory printed at the start ($CONSOLE_SCREENSHOTS, else a new /tmp directory).

    python3 Tests/browser/console_test.py            # builds datarights if needed
    DATARIGHTS_BINARY=.build/debug/datarights python3 Tests/browser/console_test.py

Playwright drives Debian's Chromium (/usr/lib/chromium/chromium); it never downloads a browser.
"""
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import html5lib
import axe_playwright_python
from playwright.sync_api import sync_playwright

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/lib/chromium/chromium")
AXE = os.path.join(os.path.dirname(axe_playwright_python.__file__), "axe.min.js")
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
# The console's lineage limits (Limits.consoleLineage…): the page must draw what the API answers for them.
UP, DOWN, SIDE = 3, 2, 30

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("  FAIL:", message)
    return condition


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`datarights serve --demo --sandbox` on a fresh data directory and a free port."""

    def __init__(self, binary, workdir):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, "serve.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--demo", "--sandbox", "--data-dir", os.path.join(workdir, "data"), "--port", str(self.port),
             "--demo-datasets", "600", "--log-level", "warning"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(240):
            if self.process.poll() is not None:
                raise SystemExit("console_test: the server exited:\n" + open(self.log_path).read())
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.5)
        else:
            raise SystemExit("console_test: the server did not become ready:\n" + open(self.log_path).read())
        self.keys = {}
        for line in open(self.log_path):
            match = re.match(r"^  (\w+)\s+.*: (drk_\S+)$", line.rstrip("\n"))
            if match:
                self.keys.setdefault(match.group(1), match.group(2))

    def api(self, kind, path, method="GET", body=None, accept="application/json"):
        request = urllib.request.Request(self.base + path, method=method, headers={"Authorization": "Bearer " + self.keys[kind], "Accept": accept})
        if body is not None:
            request.add_header("Content-Type", "application/json")
            request.data = json.dumps(body).encode()
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                data = answer.read()
                return answer.status, (json.loads(data) if accept == "application/json" else data.decode())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


class Visit:
    """Checks of every page visited: the HTML as served through html5lib's strict parser, axe-core in the
    page, and screenshots at laptop and phone widths."""

    def __init__(self, page, context, shots):
        self.page = page
        self.context = context
        self.shots = shots
        self.count = 0
        self.checked = set()

    def __call__(self, name, expect_status=None):
        self.count += 1
        url = self.page.url
        # The page's own bytes as the server sends them (the DOM Playwright holds is re-serialised).
        answer = self.context.request.get(url, max_redirects=0)
        body = answer.text()
        if expect_status is not None:
            check(answer.status == expect_status, f"{name}: {url} answered {answer.status}, expected {expect_status}")
        check(answer.headers.get("content-type", "").startswith("text/html"), f"{name}: not text/html")
        csp = answer.headers.get("content-security-policy", "")
        check("default-src 'self'" in csp and "frame-ancestors 'none'" in csp, f"{name}: Content-Security-Policy missing")
        check(answer.headers.get("x-frame-options") == "DENY", f"{name}: X-Frame-Options missing")
        try:
            html5lib.HTMLParser(strict=True).parse(body)
        except Exception as error:  # html5lib raises ParseError with the position
            check(False, f"{name}: html5lib strict parse failed: {error}")
        self.page.add_script_tag(path=AXE)
        result = self.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [v for v in result["violations"] if v["impact"] in ("critical", "serious")]
        for violation in bad:
            targets = [node["target"] for node in violation["nodes"][:3]]
            check(False, f"{name}: axe {violation['impact']} {violation['id']}: {violation['help']} at {targets}")
        minor = [f"{v['id']} ({v['impact']})" for v in result["violations"] if v not in bad]
        if minor:
            print(f"  axe, {name}: minor: {', '.join(minor)}")
        for width, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
            self.page.set_viewport_size(viewport)
            # The whole page, up to three screens of it (a long queue on a phone is tens of screens).
            height = min(self.page.evaluate("document.documentElement.scrollHeight"), 3 * viewport["height"])
            self.page.screenshot(
                path=os.path.join(self.shots, f"{self.count:02d}-{name}-{width}.png"), full_page=True,
                clip={"x": 0, "y": 0, "width": viewport["width"], "height": height})
        self.page.set_viewport_size(LAPTOP)
        print(f"  checked {name}: {url}")


def sign_in(page, server, kind):
    page.goto(server.base + "/console")
    check(page.url.endswith("/console/sign-in"), f"signed out, /console should lead to the sign-in form, got {page.url}")
    page.get_by_label("API key").fill(server.keys[kind])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    check(page.url == server.base + "/console", f"sign-in as {kind} should lead to /console, got {page.url}")


def sign_out(page, server):
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    check(page.url.endswith("/console/sign-in"), f"sign-out should lead to the sign-in form, got {page.url}")
    page.goto(server.base + "/console/datasets")
    check(page.url.endswith("/console/sign-in"), "after sign-out a console page should lead to the sign-in form")


def main():
    binary = os.environ.get("DATARIGHTS_BINARY")
    if not binary:
        subprocess.run(["swift", "build", "--product", "datarights"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        binary = os.path.join(subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip(), "datarights")
    shots = os.environ.get("CONSOLE_SCREENSHOTS") or tempfile.mkdtemp(prefix="datarights-console-shots-")
    os.makedirs(shots, exist_ok=True)
    print(f"console_test: screenshots in {shots}")
    workdir = tempfile.mkdtemp(prefix="datarights-console-test-")
    os.chmod(workdir, 0o755)
    server = Server(binary, workdir)
    try:
        run(server, shots)
    finally:
        server.stop()
        if os.environ.get("CONSOLE_KEEP"):
            print(f"console_test: kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        print(f"console_test: {len(failures)} failure(s)")
        for failure in failures:
            print("  -", failure)
        sys.exit(1)
    print("console_test: passed")


def run(server, shots):
    for kind in ("registrar", "regulator", "model_lab", "department"):
        check(kind in server.keys, f"no demo key for {kind} in the serve log")
    # The department's datasets for the lab: one granted at once (and used, for the charts), one awaiting
    # the department's reply.
    own = lab_grant(server, approval="automatic")
    pending = lab_grant(server, approval="holder")
    check(own is not None and own["state"] == "active", f"the lab should hold an active grant: {own}")
    check(pending is not None and pending.get("state") == "awaiting_holder", f"a request should await the department: {pending}")
    if own:
        report_use(server, own["number"])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        # Playwright injects axe-core, which the pages' policy (no script at all) would refuse otherwise.
        context = browser.new_context(viewport=LAPTOP, bypass_csp=True, accept_downloads=True)
        page = context.new_page()
        visit = Visit(page, context, shots)

        print("console_test: signed out")
        page.goto(server.base + "/console/datasets")
        check(page.url.endswith("/console/sign-in"), "a signed-out console page should lead to the sign-in form")
        visit("sign-in", 200)
        page.get_by_label("API key").fill("drk_notakey_notasecret")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        check("does not accept this key" in page.content(), "a bad key should be refused on the form")
        check("drk_notakey_notasecret" not in page.content(), "a bad key must not be echoed")

        print("console_test: registrar")
        sign_in(page, server, "registrar")
        cookies = {c["name"]: c for c in context.cookies()}
        session = cookies.get("datarights_console")
        check(session is not None and session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/console",
              f"the session cookie should be HttpOnly, SameSite=Strict, Path=/console: {session}")
        visit("home", 200)

        # Search: the catalog filtered by grade, the table as the API's first page.
        page.get_by_role("link", name="Catalog").first.click()
        page.get_by_label("Grade").select_option("important")
        page.get_by_role("button", name="Search").click()
        page.wait_for_load_state()
        check("grade=important" in page.url, f"the search should carry its filter in the address: {page.url}")
        status, api_page = server.api("registrar", "/v1/datasets?grade=important&limit=25")
        rows = page.locator("main table tbody tr")
        check(rows.count() == len(api_page["items"]), f"search rows {rows.count()} != API items {len(api_page['items'])}")
        visit("catalog-search", 200)
        if api_page.get("nextCursor"):
            page.get_by_role("link", name="Next page").click()
            page.wait_for_load_state()
            check("cursor=" in page.url, "the next page link should carry the API's cursor")
            check(page.get_by_role("link", name="Previous page").count() == 1, "the second page should link back")
            visit("catalog-page-2", 200)

        # Open a dataset from the results, then one with a lineage on both sides.
        first = page.locator("main table tbody tr th a").first
        first.click()
        page.wait_for_load_state()
        check(re.search(r"/console/datasets/\d+$", page.url) is not None, f"a result should open its dataset: {page.url}")
        dataset = pick_dataset_with_lineage(server)
        page.goto(f"{server.base}/console/datasets/{dataset}")
        status, ancestors = server.api("registrar", f"/v1/datasets/{dataset}/lineage?direction=ancestors&depth={UP}&limit={SIDE}")
        status, descendants = server.api("registrar", f"/v1/datasets/{dataset}/lineage?direction=descendants&depth={DOWN}&limit={SIDE}")
        expected = 1 + len(ancestors["items"]) + len(descendants["items"])
        nodes = page.locator("figure.lineage svg a.node")
        check(nodes.count() == expected, f"lineage of {dataset}: {nodes.count()} nodes drawn, the API's walks give {expected}")
        drawn = set(nodes.evaluate_all("nodes => nodes.map(n => n.getAttribute('data-dataset-id'))"))
        wanted = {str(dataset)} | {str(n["id"]) for n in ancestors["items"] + descendants["items"]}
        check(drawn == wanted, f"lineage of {dataset}: drawn ids differ from the API's: {sorted(drawn ^ wanted)}")
        check(page.locator("figure.lineage svg title").count() >= 1, "the lineage picture should have a title")
        check("at most 3 levels of ancestors" in page.content(), "the page should say the picture's limits")
        visit("dataset", 200)
        # A node is a link to its dataset's page.
        if ancestors["items"]:
            page.locator(f"figure.lineage svg a.node[data-dataset-id='{ancestors['items'][0]['id']}']").click()
            page.wait_for_load_state()
            check(page.url.endswith(f"/console/datasets/{ancestors['items'][0]['id']}"), f"a node should link to its dataset: {page.url}")

        # The queue: start the review of a submitted claim, then accept it; each time it moves section.
        page.get_by_role("link", name="Registrar's queue").click()
        page.wait_for_load_state()
        visit("registrar-queue", 200)
        submitted = page.locator("#section-submitted ~ article.item h3").first
        number = submitted.inner_text().strip() if submitted.count() else None
        if check(number is not None, "the demo queue should hold a submitted claim"):
            page.get_by_role("button", name=f"Start the review of {number}").click()
            page.wait_for_load_state()
            check("review has started" in page.content(), "the queue should say the review started")
            check(page.locator(f"section:has(#section-under_review) #item-{number}").count() == 1,
                  f"{number} should now be under review")
            status, registration = server.api("registrar", f"/v1/registrations/{number}")
            check(registration.get("status") == "under_review", f"the API should say {number} is under review: {registration.get('status')}")
            visit("registrar-after-review", 200)
            # A refusal without a reason: the API's problem shown next to the form, status kept.
            item = page.locator(f"#item-{number}")
            item.get_by_label("Decision").select_option("refuse")
            item.get_by_role("button", name=f"Record the decision on {number}").click()
            page.wait_for_load_state()
            status_after = server.api("registrar", f"/v1/registrations/{number}")[1].get("status")
            check(status_after == "under_review", f"a refused form post must change nothing: {status_after}")
            item = page.locator(f"#item-{number}")
            check(item.locator(".problem").count() >= 1, "the API's problem should be shown at the item")
            item.get_by_label("Decision").select_option("accept")
            item.get_by_role("button", name=f"Record the decision on {number}").click()
            page.wait_for_load_state()
            status, registration = server.api("registrar", f"/v1/registrations/{number}")
            check(registration.get("status") == "public_notice", f"{number} should be in public notice: {registration.get('status')}")
            check(page.locator(f"section:has(#section-public_notice) #item-{number}").count() == 1,
                  f"{number} should be listed in public notice")
            visit("registrar-after-accept", 200)
        sign_out(page, server)
        visit("signed-out", 200)

        print("console_test: regulator")
        sign_in(page, server, "regulator")
        page.goto(server.base + "/console/compliance")
        visit("compliance-index", 200)
        page.get_by_role("link", name="Grants missing their records").click()
        page.wait_for_load_state()
        visit("compliance-missing-records", 200)
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download CSV").click()
        download = download_info.value
        text = open(download.path(), encoding="utf-8").read()
        records = list(csv.reader(io.StringIO(text, newline="")))
        status, api_csv = server.api("regulator", "/v1/compliance/missing-records?format=csv&limit=200", accept="text/csv")
        api_header = next(csv.reader(io.StringIO(api_csv, newline="")))
        check(len(records) >= 1 and records[0] == api_header, f"the CSV header should be the API's: {records[:1]} vs {api_header}")
        check(all(len(record) == len(api_header) for record in records), "every CSV record should have the header's columns")
        all_items = every_item(server, "regulator", "/v1/compliance/missing-records")
        check(len(records) - 1 == len(all_items), f"the CSV should hold every row: {len(records) - 1} vs {len(all_items)}")
        print(f"  downloaded {download.suggested_filename}: {len(records) - 1} rows")
        # Every other compliance query's page: 200, or 400 where the API needs a parameter not given yet.
        for slug in ("cross-border-grants", "cross-border-processors", "lineage-gaps", "overdue-sharing", "rights-history",
                     "dataset-use", "quota-denials", "annual-report"):
            answer = page.goto(f"{server.base}/console/compliance/{slug}")
            check(answer.status in (200, 400), f"compliance/{slug} answered {answer.status}")
            visit(f"compliance-{slug}")
        page.goto(server.base + "/console/compliance/rights-history?dataset=7")
        check(page.locator("main table tbody tr").count() >= 1, "the rights history of dataset 7 should have rows")
        visit("compliance-rights-history-7", 200)
        page.goto(server.base + "/console/compliance/dataset-use?dataset=abc")
        check("dataset" in page.locator(".field.invalid").first.inner_text() if page.locator(".field.invalid").count() else False,
              "a bad parameter should be shown next to its field")
        visit("compliance-bad-parameter", 400)
        page.goto(server.base + "/console/statistics")
        check(page.locator("figure.chart svg").count() == 2, "the statistics page should draw its two charts")
        visit("statistics", 200)
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download CSV").first.click()
        rows = list(csv.reader(open(download_info.value.path(), encoding="utf-8", newline="")))
        check(rows and rows[0][:3] == ["dimension", "value", "label"], f"the statistics CSV header: {rows[:1]}")
        page.goto(server.base + "/console/audit")
        check("verifies end to end" in page.content(), "the audit page should say the chain verifies")
        visit("audit", 200)
        page.goto(server.base + "/console/registrar")
        visit("registrar-for-regulator", 403)
        sign_out(page, server)

        print("console_test: lab")
        status, me = server.api("model_lab", "/v1/me")
        status, grants = server.api("regulator", "/v1/grants?limit=200")
        other = next((g["number"] for g in grants["items"] if g["assignee"] != me["id"]), None)
        sign_in(page, server, "model_lab")
        page.goto(server.base + "/console/grants")
        check(page.locator("section.grant").count() >= 1, "the lab's grants page should list its grants")
        check(page.locator("section.grant figure svg").count() >= 1, "each grant should have its chart")
        visit("lab-grants", 200)
        if own:
            page.goto(f"{server.base}/console/grants/{own['number']}")
            visit("lab-grant", 200)
        if check(other is not None, "the demo should hold another party's grant"):
            page.goto(f"{server.base}/console/grants/{other}")
            check("not one of yours" in page.content(), "another lab's grant should answer the 403 page")
            visit("lab-other-grant", 403)
            foreign = context.request.get(f"{server.base}/console/grants/{other}")
            missing = context.request.get(f"{server.base}/console/grants/GR-2026-999999")
            check(foreign.status == missing.status == 403, f"other and missing grants: {foreign.status}, {missing.status}")
            check(strip_request_ids(foreign.text()) == strip_request_ids(missing.text()), "a missing grant should answer the same 403 page")
        page.goto(server.base + "/console/compliance")
        visit("compliance-for-lab", 403)
        sign_out(page, server)

        print("console_test: department")
        sign_in(page, server, "department")
        page.goto(server.base + "/console/holdings")
        visit("holdings", 200)
        if pending and pending.get("number"):
            number = pending["number"]
            item = page.locator(f"#request-{number}")
            check(item.count() == 1, f"the request {number} should await the department's reply on its page")
            item.get_by_label("Reply").select_option("yes")
            item.get_by_role("button", name=f"Reply to {number}").click()
            page.wait_for_load_state()
            check("approved" in page.content(), "the page should say the request was approved")
            status, request = server.api("department", f"/v1/access-requests/{number}")
            check(request.get("state") == "agreed", f"the API should say {number} is agreed: {request.get('state')}")
            check(page.locator(f"#request-{number}").count() == 0, f"{number} should no longer await a reply")
            visit("holdings-after-reply", 200)
        page.goto(server.base + "/console/no-such-page")
        visit("not-found", 404)
        sign_out(page, server)

        print("console_test: CSRF")
        answer = context.request.post(server.base + "/console/sign-out", form={"csrf": "forged"}, max_redirects=0)
        check(answer.status in (303, 403), f"a forged sign-out answered {answer.status}")
        browser.close()


def strip_request_ids(html):
    return re.sub(r"request id \S+", "", html)


def every_item(server, kind, path):
    items, cursor = [], None
    for _ in range(1000):
        status, answer = server.api(kind, path + "?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        items += answer["items"]
        cursor = answer.get("nextCursor")
        if not cursor:
            return items
    return items


def pick_dataset_with_lineage(server):
    """A dataset with sources and derivatives, found through the API (derivations in id order)."""
    status, derivations = server.api("registrar", "/v1/derivations?limit=200")
    targets = {d["target"] for d in derivations["items"]}
    for derivation in derivations["items"]:
        if derivation["source"] in targets:
            return derivation["source"]
    return derivations["items"][0]["target"]


def lab_grant(server, approval):
    """A dataset of the department's with a policy for labs, and the lab's request on it: the grant when
    the policy approves at once, else the request awaiting the department's reply."""
    status, dataset = server.api("department", "/v1/datasets", method="POST", body={
        "title": f"Console test corpus ({approval})", "description": "Made by the console's browser test", "grade": "general",
        "piLevel": "none", "individualsCovered": 0, "region": "CN-BJ", "fingerprint": "5e" * 32, "format": "csv",
        "updateCycle": "daily", "sizeBytes": 1024, "tags": ["console-test"], "sharing": {"category": "unconditional"}})
    if not check(status == 201, f"the department's dataset: {status} {dataset}"):
        return None
    status, policy = server.api("department", f"/v1/datasets/{dataset['id']}/policy", method="PUT", body={
        "rules": [{"id": "labs-may-train", "kind": "permission", "action": "use",
                   "constraints": {"purposes": ["model_training"], "assigneeKinds": ["model_lab"]}}],
        "approval": approval, "pricePerMillionTokens": 800})
    if not check(status == 200, f"the department's policy: {status} {policy}"):
        return None
    status, request = server.api("model_lab", "/v1/access-requests", method="POST", body={
        "dataset": dataset["id"], "purpose": "model_training", "tokens": 5_000_000, "validUntil": "2030-01-01T00:00:00Z"})
    if not check(status == 201, f"the lab's request: {status} {request}"):
        return None
    return request.get("grant") or request


def report_use(server, grant):
    """Some accepted use under the lab's grant, so that its chart has a bar."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    events = [{"grant": grant, "tokens": 1000 + i, "at": now, "key": f"console-test-{i}"} for i in range(3)]
    status, answer = server.api("model_lab", "/v1/usage", method="POST", body={"events": events})
    print(f"  reported use under {grant}: {status} {answer.get('accepted')} accepted")


if __name__ == "__main__":
    main()
