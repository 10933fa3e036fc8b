"""The registry pages (/registry/) in headless Chromium driven by Selenium (tests/fixtures/browser.py),
against gunicorn and a real webhook delivery process: sign-in and review with the keyboard, every page
rendering seeded data, metadata columns, the lineage graph's links, the records chart's point bound and
exports, audit filters, a redelivery from the page reaching the receiver, another company's ids shown as
not found, no console errors, and readable at 390 px. A failing test keeps tmp_path/failure.png; with
MODELREG_PAGES_SCREENSHOTS=<folder> each page is saved there at 1280 px (docs/images).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from database.collections import users_db
from database.connection import connect
from tests.live_support import start_live_server
from tests.webhook_support import Receiver, start_deliverer, stop_deliverer

# one browser, one server and one seeding for the module: its tests run on one xdist worker (run.sh
# passes --dist loadgroup); each still stands alone
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("registry_pages")]
V = "2.99"
POINTS = 200
HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")


class Api:
    def __init__(self, url: str, key: str, secret: str):
        self.url, self.session = url, requests.Session()
        self.session.auth = (key, secret)

    def ok(self, endpoint: str, data: dict | None = None, version: str = V) -> dict:
        reply = self.session.post(f"{self.url}/api/v{version}/{endpoint}", json=data or {}, timeout=60)
        message = reply.json()["meta"]["result_msg"] if reply.text.startswith("{") else reply.text[:300]
        assert reply.status_code == 200, (endpoint, message)
        return reply.json()["data"]


@pytest.fixture(scope="module")
def server(mongo_uri, s3, tmp_path_factory):
    """gunicorn that may send webhooks to this host, a delivery process and a receiver answering 200."""
    logs = tmp_path_factory.mktemp("pages")
    live = start_live_server(mongo_uri, logs, {
        "MODELREG_S3_ENDPOINT": s3.endpoint, "MODELREG_S3_ACCESS_KEY": s3.access_key,
        "MODELREG_S3_SECRET_KEY": s3.secret_key, "MODELREG_S3_BUCKET": s3.bucket,
        "MODELREG_OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true"})
    receiver = Receiver()
    deliverer, log = start_deliverer({**live.env, "MODELREG_WEBHOOKS_POLL_INTERVAL_SEC": "0.05"}, logs / "deliver.log")
    yield SimpleNamespace(live=live, receiver=receiver)
    stop_deliverer(deliverer, log)
    receiver.close()
    live.stop()


def _user_of_new_company(live, name: str) -> tuple[str, str]:
    db = connect(live.mongo_uri, live.database)
    user = users_db.create_user(db, name, "company_pages_" + secrets.token_hex(6), name + "-co", "admin")
    key, secret = "K" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
    users_db.add_credential(db, user, key, secret)
    db.client.close()
    return key, secret


def _metadata(admin: Api, model: str, **values) -> None:
    items = [{"key": k, "type": type(v).__name__, "value": str(v)} for k, v in values.items()]
    admin.ok("models.add_or_update_metadata", {"model": model, "metadata": items}, version="2.13")


@pytest.fixture(scope="module")
def seeded(server):
    """A registered model of three versions (metadata on each; a card, a file, a producing run and a dataset
    on the third), an alias moved twice, a protected alias with an open request, records, a webhook that
    has received deliveries, and a model of another company."""
    live, receiver = server.live, server.receiver
    admin = Api(live.url, live.access_key, live.secret_key)
    hook = admin.ok("webhooks.create", {"url": receiver.url("pages"), "kinds": ["model.*"], "secret": "s" * 16})["id"]
    suffix = secrets.token_hex(3)
    name = f"resnet-{suffix}"
    reviewer = admin.ok("auth.create_user", {"name": f"rita-{suffix}", "role": "admin"}, version="2.1")
    guest = admin.ok("auth.create_user", {"name": f"gus-{suffix}", "role": "guest"}, version="2.1")
    project = admin.ok("projects.create", {"name": f"pages team {suffix}"}, version="2.13")["id"]
    v1 = admin.ok("models.create", {"name": name, "uri": "file:///tmp/v1.pt", "project": project})["id"]
    v2 = admin.ok("models.create", {"name": name, "uri": "file:///tmp/v2.pt", "project": project, "parent": v1,
                                    "license_url": "https://example.com/old-license"})["id"]
    run = admin.ok("tasks.create", {"name": f"train night {suffix}", "type": "training", "project": project},
                   version="2.13")["id"]
    admin.ok("tasks.add_or_update_model", {"task": run, "name": "base", "model": v2, "type": "input"}, version="2.13")
    v3 = admin.ok("models.create", {
        "name": name, "uri": "file:///tmp/v3.pt", "project": project, "parent": v2, "task": run,
        "license_url": "https://example.com/license", "paper_url": "https://example.com/paper",
        "source_url": "https://example.com/source", "release_notes": "Sharper on night images.",
        "signature": {"input": {"type": "object", "required": ["image"], "properties": {
            "image": {"type": "array", "description": "pixels"}, "threshold": {"type": "number"}}},
            "output": {"type": "object", "properties": {"label": {"type": "string"}}}}})["id"]
    for model, accuracy in ((v1, 0.81), (v2, 0.86), (v3, 0.91)):
        _metadata(admin, model, accuracy=accuracy, epochs=30, optimizer="adamw")
    _metadata(admin, v3, batch_size=64)
    dataset = admin.ok("datasets.create", {"name": f"night images {suffix}", "model": v3})["id"]
    weights = b"weights-" * 512
    reply = admin.session.post(f"{live.url}/api/v2.13/models.upload", params={"model": v3, "filename": "v3.pt"},
                               data=weights, timeout=60)
    assert reply.status_code == 200, reply.text
    admin.ok("models.set_alias", {"model": v2, "alias": "staging"})
    admin.ok("models.set_alias", {"model": v3, "alias": "staging"})
    admin.ok("models.protect_alias", {"project": project, "name": name, "alias": "champion",
                                      "reviewers": {"roles": ["admin"]}})
    request = admin.ok("promotions.create", {"model": v3, "alias": "champion", "reason": "better recall"})["id"]
    lines = "\n".join(json.dumps({"timestamp": f"2024-05-01T{m // 60:02d}:{m % 60:02d}:00Z",
                                  "site": "north" if m % 2 else "south", "season": "spring" if m < 200 else "summer",
                                  "experiment": "night" if m % 3 == 0 else "day",
                                  "dataset": dataset if m >= 300 else None,
                                  "data": {"loss": round(1000 - m + 60 * math.sin(m / 25), 3), "acc": m / 600}})
                      for m in range(600))
    reply = admin.session.post(f"{live.url}/api/v{V}/records.add_many", params={"model": v3}, data=lines,
                               headers={"Content-Type": "application/x-ndjson"}, timeout=60)
    assert reply.status_code == 200 and reply.json()["data"]["stored"] == 600, reply.text
    for neighbour, alias in (("bert-base", "production"), ("clip-vit", None), ("whisper-small", "staging")):
        for n in range(2):
            made = admin.ok("models.create", {"name": f"{neighbour}-{suffix}", "uri": f"file:///tmp/{n}.pt",
                                              "project": project})["id"]
        if alias:
            admin.ok("models.set_alias", {"model": made, "alias": alias})
    other = Api(live.url, *_user_of_new_company(live, f"olga-{suffix}"))
    foreign = other.ok("models.create", {"name": "their model", "uri": "file:///tmp/x.pt"})["id"]
    foreign_run = other.ok("tasks.create", {"name": "their run", "type": "training"}, version="2.13")["id"]
    return SimpleNamespace(
        admin=admin, admin_id=admin.ok("users.get_current_user", {}, version="2.1")["user"]["id"],
        url=live.url, name=name, project=project, versions=[v1, v2, v3], run=run, dataset=dataset,
        request=request, hook=hook, reviewer=reviewer["credentials"], reviewer_name=f"rita-{suffix}",
        guest=guest["credentials"], foreign=foreign, foreign_run=foreign_run, receiver=receiver,
        sha256=hashlib.sha256(weights).hexdigest())


def sign_in(page, seeded, credentials) -> None:
    """Signs in with the keyboard only: the form has the focus, Tab moves to the secret, Enter submits."""
    page.at(seeded.url)
    page.driver.delete_all_cookies()
    page.open("/models")
    assert page.heading() == "Sign in"
    assert page.focused().get_attribute("name") == "access_key"
    page.keys(credentials["access_key"], "\ue004", credentials["secret_key"], "\ue007")  # Tab, Enter
    page.left("Sign in")
    # the calls made before signing in were refused, and said so in the console; nothing else was
    assert all("401" in message for message in page.console_errors())


def test_registered_models_and_a_model_with_metadata_columns_and_a_comparison(page, seeded):
    sign_in(page, seeded, seeded.reviewer)
    assert page.heading() == "Registered models"
    assert page.one("#nav a[aria-current=page]").text == "Registered models"

    assert len(page.all("main tbody tr")) == 4  # the company's registered models, by name
    page.shot("models")
    page.go(f"/models?search={seeded.name}")
    rows = page.all("main tbody tr")
    assert len(rows) == 1 and seeded.name in rows[0].text and "v3" in rows[0].text
    assert f"pages team {seeded.name[-6:]}" in rows[0].text  # the project's name, not its id
    assert [b.text for b in page.all(".badge.alias", rows[0])] == ["staging"]

    page.one("a", rows[0]).click()
    page.settled()
    assert page.heading() == seeded.name
    assert page.column("Versions, newest first") == ["v3", "v2", "v1"]
    # every "by" is the creator's name: names are read once for the page, not raced per row
    assert page.column("Versions, newest first", 3) == ["admin"] * 3
    assert not HEX_ID.search(page.one("main table").text)
    # the first three metadata keys are columns until others are chosen
    headers = page.headers("Versions, newest first")
    assert headers[4:7] == ["accuracy", "batch_size", "epochs"]
    assert page.column("Versions, newest first", 4) == ["0.91", "0.86", "0.81"]
    assert page.column("Versions, newest first", 5) == ["64", "", ""]
    for box in page.all("form.columns input[type=checkbox]"):
        if (box.get_attribute("value") in ("optimizer", "accuracy")) != box.is_selected():
            box.click()
    page.one("form.columns button").click()
    page.until(lambda: page.headers("Versions, newest first")[4:6] == ["accuracy", "optimizer"], "choosing columns")
    assert "columns=accuracy%2Coptimizer" in page.driver.current_url
    assert page.column("Versions, newest first", 5) == ["adamw"] * 3
    staging = page.one("section.alias ol.timeline")
    assert len(page.all("li", staging)) == 2 and "by admin" in staging.text

    page.one("form[aria-label='Compare two versions'] button").click()
    page.until(lambda: page.all("table.compare"), "the comparison")
    differing = [page.one("th", r).text for r in page.all("table.compare tr.differs")]
    assert any("License" in d for d in differing) and any("Release notes" in d for d in differing)
    assert any("Metadata: accuracy" in d for d in differing) and any("Metadata: batch_size" in d for d in differing)
    assert not any("Metadata: epochs" in d for d in differing)
    assert any("Input: image" in d for d in differing)  # v3 declares a signature, v2 none
    page.shot("model")
    assert page.console_errors() == []


def test_a_version_page_and_its_lineage_links_to_versions_runs_and_datasets(page, seeded):
    v1, v2, v3 = seeded.versions
    sign_in(page, seeded, seeded.reviewer)
    page.go(f"/version/{v3}")
    assert page.heading() == f"{seeded.name} v3"
    text = page.text()
    assert "Sharper on night images." in text and "4.0 KiB" in text and seeded.sha256 in text
    assert f"pages team {seeded.name[-6:]}" in text and "by admin" in text
    assert page.one("a[href='https://example.com/license']").get_attribute("rel") == "noopener noreferrer"
    assert {"image", "threshold", "label"} <= set(page.column("Input signature") + page.column("Output signature"))
    assert dict(zip(page.column("Metadata"), page.column("Metadata", 2), strict=True)) == {
        "accuracy": "0.91", "batch_size": "64", "epochs": "30", "optimizer": "adamw"}
    download = page.one("a[download]").get_attribute("href")
    assert download.endswith(f"/api/v2.99/models.download?model={v3}")
    reply = requests.get(download, cookies={c["name"]: c["value"] for c in page.driver.get_cookies()}, timeout=30)
    assert hashlib.sha256(reply.content).hexdigest() == seeded.sha256

    nodes = {n.get_attribute("data-kind") + ":" + n.get_dom_attribute("href") for n in page.all("svg.lineage a.node")}
    assert {f"model:#/version/{v}" for v in (v1, v2, v3)} <= nodes
    assert f"task:#/run/{seeded.run}" in nodes
    assert f"dataset:#/records/{v3}?dataset={seeded.dataset}" in nodes
    # every edge points rightwards: v1 -> v2 (parent) -> the run (input) -> v3 (produced)
    x = {n.get_dom_attribute("href"): float(page.one("rect", n).get_attribute("x"))
         for n in page.all("svg.lineage a.node")}
    assert x[f"#/version/{v1}"] < x[f"#/version/{v2}"] < x[f"#/run/{seeded.run}"] < x[f"#/version/{v3}"]
    page.shot("version")

    page.one(f"svg.lineage a.node[href='#/run/{seeded.run}']").click()
    page.left(f"{seeded.name} v3")
    assert page.heading().startswith("train night")
    assert page.column("Input models of this run") == [f"{seeded.name} v2"]
    assert page.column("Output models of this run") == [f"{seeded.name} v3"]
    assert "training" in page.text() and "by admin" in page.text()
    page.shot("run")
    run_heading = page.heading()
    page.one(f"main a[href='#/version/{v2}']").click()
    page.left(run_heading)
    assert page.heading() == f"{seeded.name} v2"
    # downstream too: v2's children, and the run that used it, to its right
    x = {n.get_dom_attribute("href"): float(page.one("rect", n).get_attribute("x"))
         for n in page.all("svg.lineage a.node")}
    assert x[f"#/version/{v1}"] < x[f"#/version/{v2}"] < x[f"#/run/{seeded.run}"] < x[f"#/version/{v3}"]
    assert page.console_errors() == []


def _downloaded(folder: Path, name: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (folder / name).exists() and not list(folder.glob("*.crdownload")):
            return (folder / name).read_text()
        time.sleep(0.1)
    raise AssertionError(f"{name} was not downloaded: {list(folder.iterdir())}")


def test_records_chart_holds_the_servers_points_and_the_exports_hold_every_match(page, seeded, tmp_path):
    v3 = seeded.versions[2]
    sign_in(page, seeded, seeded.reviewer)
    # without a field asked, the first numeric field of the oldest records is charted, the others offered
    page.go(f"/records/{v3}")
    assert page.one("select[name=field]").get_attribute("value") == "acc"
    assert [o.text for o in page.all("select[name=field] option")] == ["acc", "loss"]
    counted = seeded.admin.ok("records.get_series", {"model": v3, "field": "acc"})
    assert int(page.one("svg.chart").get_attribute("data-points")) == len(counted["buckets"]) > 0

    page.go(f"/records/{v3}?field=loss&points={POINTS}&site=north")
    series = seeded.admin.ok("records.get_series",
                             {"model": v3, "field": "loss", "site": "north", "max_points": POINTS})
    assert int(page.one("svg.chart").get_attribute("data-points")) == len(series["buckets"]) <= POINTS
    assert int(page.one("svg.chart path.line").get_attribute("data-points")) == len(series["buckets"])
    assert sum(b["count"] for b in series["buckets"]) == 300
    # without a range asked, the time axis ends where the last bucket does, not at the end of the day
    ends = datetime.fromisoformat(series["buckets"][-1]["time"]) + timedelta(milliseconds=series["bucket_ms"] - 1)
    assert ends < datetime.fromisoformat(series["to"])
    assert page.all("svg.chart text.axis")[-1].text == ends.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert len(page.all("main table tbody tr")) == 50
    assert set(page.column("Records, newest first", 3)) == {"north"}
    page.shot("records")

    # the form's filters reach the chart and the table: a season and a site
    page.one("input[name=season]").send_keys("spring")
    page.one("form.filters button[type=submit]").click()
    page.until(lambda: "season=spring" in page.driver.current_url, "the season filter")
    page.settled()
    spring = seeded.admin.ok("records.get_series", {"model": v3, "field": "loss", "site": "north", "season": "spring",
                                                    "max_points": POINTS})
    assert sum(b["count"] for b in spring["buckets"]) == 100
    page.until(lambda: page.one("svg.chart").get_attribute("data-points") == str(len(spring["buckets"])), "the chart")
    assert set(page.column("Records, newest first", 2)) == {"spring"}

    # experiment, dataset and a time range, from the address as the form writes it
    page.go(f"/records/{v3}?field=loss&points={POINTS}&experiment=night&dataset={seeded.dataset}"
            "&from=2024-05-01T06:00:00&to=2024-05-01T07:59:59")
    night = seeded.admin.ok("records.get_series", {
        "model": v3, "field": "loss", "experiment": "night", "dataset": seeded.dataset, "max_points": POINTS,
        "start_timestamp": "2024-05-01T06:00:00Z", "end_timestamp": "2024-05-01T07:59:59Z"})
    assert night["count"] == 40  # minutes 360..479 of which every third
    assert int(page.one("svg.chart").get_attribute("data-points")) == len(night["buckets"])
    assert page.one("select[name=dataset]").get_attribute("value") == seeded.dataset
    assert set(page.column("Records, newest first", 1)) == {"night"}
    assert all("2024-05-01 06:" <= t < "2024-05-01 08:" for t in page.column("Records, newest first"))

    page.go(f"/records/{v3}?field=loss&points={POINTS}&site=north&season=spring")
    page.downloads_to(tmp_path)
    page.one("button.export-csv").click()
    csv_lines = _downloaded(tmp_path, "records.csv").strip().split("\n")
    assert csv_lines[0].startswith("id,timestamp,") and len(csv_lines) == 1 + 100
    assert all(",spring,north," in line for line in csv_lines[1:])
    page.one("button.export-ndjson").click()
    records = [json.loads(line) for line in _downloaded(tmp_path, "records.ndjson").split("\n") if line]
    assert len(records) == 100 and {(r["site"], r["season"]) for r in records} == {("north", "spring")}
    assert page.console_errors() == []


def test_csv_cells_of_the_pages_never_start_a_formula(page, seeded):
    """A value written by one user must not run as a spreadsheet formula for another who exports it."""
    page.driver.get(seeded.url + "/healthz")  # any page of the origin; not the app, whose state would stay
    cells = page.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/registry/csv.js').then((m) => done(arguments[0].map(m.csvCell)), (e) => done(String(e)));",
        ["=HYPERLINK(1)", "+1+cmd|calc", "-2+3", "@SUM(A1)", "\tx", -2.5, 3, True, None, "plain",
         "a,b", {"k": "=1"}])
    assert cells == ["'=HYPERLINK(1)", "'+1+cmd|calc", "'-2+3", "'@SUM(A1)", "'\tx", "-2.5", "3", "true",
                     "", "plain", '"a,b"', '"{""k"":""=1""}"'], cells
    # a page outside the app has no icon: the browser's request for one is its only complaint
    assert all("favicon" in message for message in page.console_errors())


def test_a_review_made_with_the_keyboard_moves_the_alias(page, seeded):
    sign_in(page, seeded, seeded.reviewer)
    page.go("/promotion")
    request = page.one(f"article[data-request='{seeded.request}']")
    page.one("textarea", request).click()
    page.keys("looks good")
    page.shot("promotion")
    page.keys("\ue004")  # Tab
    assert page.focused().text == "Approve"
    page.keys("\ue007")  # Enter
    page.until(lambda: not page.all(f"article[data-request='{seeded.request}']"), "the request leaving the open list")
    moved = seeded.admin.ok("models.get_by_alias",
                            {"name": seeded.name, "project": seeded.project, "alias": "champion"})
    assert moved["model"]["id"] == seeded.versions[2]
    rules = page.one("main table")
    assert "champion" in rules.text and f"pages team {seeded.name[-6:]}" in rules.text and "role admin" in rules.text
    page.go("/promotion?state=approved")
    approved = page.one(f"article[data-request='{seeded.request}']")
    assert f"approved by {seeded.reviewer_name}: looks good" in approved.text
    assert page.console_errors() == []


def test_the_audit_trail_filters_and_a_redelivery_from_the_page_reaches_the_receiver(page, seeded):
    receiver = seeded.receiver
    page.until(lambda: receiver.delivered("pages"), "a first webhook delivery", timeout=60)
    sign_in(page, seeded, seeded.reviewer)
    page.go("/audit")
    assert page.heading() == "Audit trail" and "alias.moved" in page.text()
    page.one("input[name=kind]").send_keys("alias.moved")
    page.one("form.filters button[type=submit]").click()
    page.until(lambda: "kind=alias.moved" in page.driver.current_url, "the kind filter")
    page.settled()
    kinds = page.column("Changes, newest first", 3)
    assert kinds and set(kinds) == {"alias.moved"}
    movers = set(page.column("Changes, newest first", 2))
    assert "admin" in movers and movers <= {"admin", seeded.reviewer_name}  # the reviewer's, once approved
    # a user's name is a link to their changes
    page.driver.execute_script(
        "[...document.querySelectorAll('main tbody a')].find((a) => a.innerText === arguments[0]).click()", "admin")
    page.until(lambda: "user=" in page.driver.current_url, "the user filter")
    page.settled()
    assert set(page.column("Changes, newest first", 2)) == {"admin"}
    assert {"alias.moved", "model.created"} <= set(page.column("Changes, newest first", 3))
    assert page.one("select[name=user]").get_attribute("value") == seeded.admin_id
    page.shot("audit")

    page.go("/webhooks")
    assert page.heading() == "Webhooks"
    page.one(f"main a[href='#/webhooks?webhook={seeded.hook}']").click()
    page.until(lambda: page.all("#deliveries-title"), "the deliveries")
    page.until(lambda: "delivered" in page.column("Deliveries, latest changes first", 2), "a delivered delivery",
               timeout=30)
    seqs = [int(seq) for seq in page.column("Deliveries, latest changes first")]
    assert seqs == sorted(seqs, reverse=True)
    page.shot("webhooks")
    first = receiver.received[0]
    delivery = first["headers"]["X-Modelreg-Delivery"]
    page.one(f"button[data-delivery='{delivery}']").click()
    page.until(lambda: sum(r["headers"]["X-Modelreg-Delivery"] == delivery for r in list(receiver.received)) == 2,
               "the redelivery", timeout=60)
    again = [r for r in receiver.received if r["headers"]["X-Modelreg-Delivery"] == delivery]
    assert again[1]["body"] == first["body"]
    assert page.console_errors() == []


def test_another_companys_ids_show_a_not_found_page_and_the_pages_fit_a_phone(page, seeded):
    v3 = seeded.versions[2]
    sign_in(page, seeded, seeded.reviewer)
    for path in (f"/version/{seeded.foreign}", f"/records/{seeded.foreign}", f"/run/{seeded.foreign_run}"):
        page.go(path)
        assert page.heading() == "Not found", path
    assert all("400" in message for message in page.console_errors())  # the API's answers, nothing else

    # the skip link moves the focus to the content and leaves the page where it is
    page.go(f"/version/{v3}")
    page.driver.refresh()  # a fresh load: the first Tab starts at the top of the document
    page.settled()
    page.keys("\ue004")
    assert page.focused().text == "Skip to content"
    page.keys("\ue007")
    assert page.focused().get_attribute("id") == "main" and page.heading() == f"{seeded.name} v3"

    page.driver.set_window_size(390, 900)
    try:
        for path in ("/models", f"/model?name={seeded.name}&project={seeded.project}", f"/version/{v3}",
                     f"/run/{seeded.run}", f"/records/{v3}?field=loss", "/promotion?state=approved", "/audit",
                     f"/webhooks?webhook={seeded.hook}"):
            page.go(path)
            assert page.driver.execute_script("return document.documentElement.scrollWidth") <= 390, path
    finally:
        page.driver.set_window_size(1280, 1000)
    assert page.console_errors() == []


# What a screen reader needs of a page: one heading to start from, every control labelled, every button
# and link named, every table captioned, every drawing labelled.
UNLABELLED = """
const problems = [];
const main = document.getElementById('main');
if (main.querySelectorAll('h1').length !== 1) problems.push('not one h1');
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) problems.push('unlabelled ' + el.name);
}
for (const el of document.querySelectorAll('button, a[href]')) {
  if (!(el.getAttribute('aria-label') || el.textContent).trim()) problems.push('unnamed ' + el.outerHTML.slice(0, 80));
}
for (const table of main.querySelectorAll('table')) if (!table.caption) problems.push('table without a caption');
for (const svg of main.querySelectorAll('svg')) if (!svg.getAttribute('aria-label')) problems.push('unlabelled svg');
for (const el of main.querySelectorAll('section[aria-labelledby], article[aria-labelledby]')) {
  if (!document.getElementById(el.getAttribute('aria-labelledby'))) problems.push('dangling aria-labelledby');
}
return problems;
"""


def test_every_page_labels_what_a_screen_reader_reads(page, seeded):
    v3 = seeded.versions[2]
    sign_in(page, seeded, seeded.reviewer)
    paths = ["/models", f"/model?name={seeded.name}&project={seeded.project}", f"/version/{v3}", f"/run/{seeded.run}",
             f"/records/{v3}?field=loss", "/promotion", "/promotion?state=approved", "/audit",
             f"/webhooks?webhook={seeded.hook}"]
    for path in paths:
        page.go(path)
        assert page.driver.execute_script(UNLABELLED) == [], path
    page.go(f"/model?name={seeded.name}&project={seeded.project}")
    page.one("form[aria-label='Compare two versions'] button").click()
    page.until(lambda: page.all("table.compare"), "the comparison")
    assert page.driver.execute_script(UNLABELLED) == []
    page.driver.delete_all_cookies()
    page.go("/models")
    assert page.heading() == "Sign in" and page.driver.execute_script(UNLABELLED) == []
    assert all("401" in message for message in page.console_errors())


def test_a_guest_gets_no_review_controls_nor_admin_pages(page, seeded):
    seeded.admin.ok("promotions.create", {"model": seeded.versions[1], "alias": "champion", "reason": "roll back"})
    sign_in(page, seeded, seeded.guest)
    page.go("/promotion")
    assert len(page.all("article.request")) >= 1
    assert page.all("button.approve") == [] and page.all("button.reject") == []
    assert [a.text for a in page.all("#nav a")] == ["Registered models", "Promotion"]
    page.go("/audit")  # typed by hand: the API refuses the guest, the page says so
    assert page.heading() == "Something went wrong"
    page.one("#who button").click()
    page.settled()
    assert page.heading() == "Sign in"
