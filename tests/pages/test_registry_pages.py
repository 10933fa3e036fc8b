"""The registry pages (/registry/) in headless Chromium driven by Selenium, against gunicorn: sign-in,
every page rendering seeded data, a review in the page moving the alias, the records chart's point
bound, another company's id shown as not found, no console errors, and readable at 390 px.

Needs Debian's `chromium` and `chromium-driver` (run.sh test installs them). Without them the test is
skipped, except under CI, where it fails. A screenshot of the page is kept in tmp_path on failure; with
MODELREG_PAGES_SCREENSHOTS=<folder> one of each page is saved there at 1280 px (docs/images).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from database.collections import users_db
from database.connection import connect

pytestmark = pytest.mark.e2e
V = "2.99"
POINTS = 40


def _binaries() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ModuleNotFoundError:
        driver = None
    if browser and driver:
        return browser, driver
    if os.environ.get("CI"):
        pytest.fail("chromium, chromium-driver and selenium are needed: apt-get install -y chromium chromium-driver")
    pytest.skip("chromium, chromium-driver or selenium is missing (apt-get install -y chromium chromium-driver)")


class Api:
    def __init__(self, url: str, key: str, secret: str):
        self.url, self.session = url, requests.Session()
        self.session.auth = (key, secret)

    def ok(self, endpoint: str, data: dict | None = None, version: str = V) -> dict:
        reply = self.session.post(f"{self.url}/api/v{version}/{endpoint}", json=data or {}, timeout=60)
        message = reply.json()["meta"]["result_msg"] if reply.text.startswith("{") else reply.text[:300]
        assert reply.status_code == 200, (endpoint, message)
        return reply.json()["data"]


def _user_of_new_company(live_server, name: str) -> tuple[str, str]:
    db = connect(live_server.mongo_uri, live_server.database)
    user = users_db.create_user(db, name, "company_pages_" + secrets.token_hex(6), name + "-co", "admin")
    key, secret = "K" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
    users_db.add_credential(db, user, key, secret)
    db.client.close()
    return key, secret


@pytest.fixture(scope="module")
def seeded(live_server):
    """A registered model of three versions (a card, a file and a parent on the third), an alias moved
    twice, a protected alias with an open request, records, and a model of another company."""
    admin = Api(live_server.url, live_server.access_key, live_server.secret_key)
    suffix = secrets.token_hex(3)
    name = f"resnet-{suffix}"
    reviewer = admin.ok("auth.create_user", {"name": f"rita-{suffix}", "role": "admin"}, version="2.1")
    guest = admin.ok("auth.create_user", {"name": f"gus-{suffix}", "role": "guest"}, version="2.1")
    project = admin.ok("projects.create", {"name": f"pages team {suffix}"}, version="2.13")["id"]
    v1 = admin.ok("models.create", {"name": name, "uri": "file:///tmp/v1.pt", "project": project})["id"]
    v2 = admin.ok("models.create", {"name": name, "uri": "file:///tmp/v2.pt", "project": project, "parent": v1,
                                    "license_url": "https://example.com/old-license"})["id"]
    v3 = admin.ok("models.create", {
        "name": name, "uri": "file:///tmp/v3.pt", "project": project, "parent": v2,
        "license_url": "https://example.com/license", "paper_url": "https://example.com/paper",
        "source_url": "https://example.com/source", "release_notes": "Sharper on night images.",
        "signature": {"input": {"type": "object", "required": ["image"], "properties": {
            "image": {"type": "array", "description": "pixels"}, "threshold": {"type": "number"}}},
            "output": {"type": "object", "properties": {"label": {"type": "string"}}}}})["id"]
    weights = b"weights-" * 512
    reply = admin.session.post(f"{live_server.url}/api/v2.13/models.upload", params={"model": v3, "filename": "v3.pt"},
                               data=weights, timeout=60)
    assert reply.status_code == 200, reply.text
    admin.ok("models.set_alias", {"model": v2, "alias": "staging"})
    admin.ok("models.set_alias", {"model": v3, "alias": "staging"})
    admin.ok("models.protect_alias", {"project": project, "name": name, "alias": "champion",
                                      "reviewers": {"roles": ["admin"]}})
    request = admin.ok("promotions.create", {"model": v3, "alias": "champion", "reason": "better recall"})["id"]
    lines = "\n".join(json.dumps({"timestamp": f"2024-05-01T{m // 60:02d}:{m % 60:02d}:00Z",
                                  "site": "north" if m % 2 else "south", "data": {"loss": 1000 - m, "acc": m / 600}})
                      for m in range(600))
    reply = admin.session.post(f"{live_server.url}/api/v{V}/records.add_many", params={"model": v3}, data=lines,
                               headers={"Content-Type": "application/x-ndjson"}, timeout=60)
    assert reply.status_code == 200 and reply.json()["data"]["stored"] == 600, reply.text
    other = Api(live_server.url, *_user_of_new_company(live_server, f"olga-{suffix}"))
    foreign = other.ok("models.create", {"name": "their model", "uri": "file:///tmp/x.pt"})["id"]
    return {"admin": admin, "name": name, "project": project, "versions": [v1, v2, v3], "request": request,
            "reviewer": reviewer["credentials"], "guest": guest["credentials"], "foreign": foreign,
            "sha256": __import__("hashlib").sha256(weights).hexdigest()}


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = _binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, live_server, tmp_path, request):
    """The browser, with a screenshot kept in tmp_path when the test fails."""
    yield Page(browser, live_server.url)
    failed = getattr(request.node, "rep_call", None)
    if failed is None or failed.failed:
        browser.save_screenshot(str(tmp_path / "failure.png"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


class Page:
    def __init__(self, driver, url: str):
        self.driver, self.url = driver, url

    def open(self, hash_path: str) -> None:
        self.driver.get(f"{self.url}/registry/#{hash_path}")
        self.settled()

    def go(self, hash_path: str) -> None:
        self.driver.execute_script("location.hash = arguments[0]", hash_path)
        self.settled()

    def settled(self, timeout: float = 30) -> None:
        """Waits until the page has rendered: <main> holds a heading and is no longer busy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.driver.execute_script(
                "const m = document.getElementById('main');"
                "return !!m && !m.hasAttribute('aria-busy') && !!m.querySelector('h1');")
            if done:
                time.sleep(0.05)
                if self.driver.execute_script("return !document.getElementById('main').hasAttribute('aria-busy')"):
                    return
            time.sleep(0.05)
        raise AssertionError("the page did not render: " + self.text()[:500])

    def text(self) -> str:
        return self.driver.execute_script("return document.getElementById('main').innerText")

    def all(self, css: str) -> list:
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def one(self, css: str):
        found = self.all(css)
        assert found, f"nothing matches {css}: {self.text()[:300]}"
        return found[0]

    def heading(self) -> str:
        return self.one("main h1").text

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def sign_in(self, key: str, secret: str) -> None:
        self.driver.delete_all_cookies()
        self.open("/models")
        assert self.heading() == "Sign in"
        self.one("input[name=access_key]").send_keys(key)
        self.one("input[name=secret_key]").send_keys(secret)
        self.one("form.signin button[type=submit]").click()
        self.left("Sign in")

    def left(self, heading: str, timeout: float = 30) -> None:
        """Waits until the page shows another heading than `heading`, then until it has rendered: right
        after a click the old page is still there, rendered, until the click's handler starts."""
        deadline = time.monotonic() + timeout
        while self.driver.execute_script(
                "const h = document.querySelector('main h1'); return !!h && h.innerText === arguments[0];", heading):
            assert time.monotonic() < deadline, f"the page stayed on {heading!r}: {self.text()[:500]}"
            time.sleep(0.05)
        self.settled()

    def shot(self, name: str) -> None:
        folder = os.environ.get("MODELREG_PAGES_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def test_pages_show_seeded_data_and_a_review_moves_the_alias(page, seeded, live_server):
    admin, name = seeded["admin"], seeded["name"]
    v1, v2, v3 = seeded["versions"]
    page.sign_in(seeded["reviewer"]["access_key"], seeded["reviewer"]["secret_key"])
    assert page.heading() == "Registered models"
    assert page.one("#nav a[aria-current=page]").text == "Registered models"

    page.go(f"/models?search={name}")
    rows = page.all("main tbody tr")
    assert len(rows) == 1 and name in rows[0].text and "v3" in rows[0].text
    assert [b.text for b in rows[0].find_elements("css selector", ".badge.alias")] == ["staging"]
    page.shot("models")

    rows[0].find_element("css selector", "a").click()
    page.settled()
    assert page.heading() == name
    versions = [r.find_element("css selector", "td").text for r in page.all("main table tbody tr")]
    assert versions[:3] == ["v3", "v2", "v1"]
    staging = page.one("section.alias ol.timeline")
    assert len(staging.find_elements("css selector", "li")) == 2
    page.one("form[aria-label='Compare two versions'] button").click()
    deadline = time.monotonic() + 20
    while not page.all("table.compare") and time.monotonic() < deadline:
        time.sleep(0.05)
    differing = [r.find_element("css selector", "th").text for r in page.all("table.compare tr.differs")]
    assert any("License" in d for d in differing) and any("Release notes" in d for d in differing)
    page.shot("model")

    page.go(f"/version/{v3}")
    assert page.heading() == f"{name} v3"
    text = page.text()
    assert "Sharper on night images." in text and "4.0 KiB" in text and seeded["sha256"] in text
    assert page.one("a[href='https://example.com/license']").get_attribute("rel") == "noopener noreferrer"
    fields = [r.find_element("css selector", "td").text for r in page.all("main table tbody tr")]
    assert {"image", "threshold", "label"} <= set(fields)
    download = page.one("a[download]").get_attribute("href")
    assert download.endswith(f"/api/v2.99/models.download?model={v3}")
    nodes = page.all("svg.lineage a.node")
    assert {n.get_dom_attribute("href").rsplit("/", 1)[-1] for n in nodes if n.get_attribute("data-kind") == "model"} \
        >= {v1, v2, v3}
    page.shot("version")

    page.go(f"/records/{v3}?field=loss&points={POINTS}&site=north")
    series = admin.ok("records.get_series", {"model": v3, "field": "loss", "site": "north", "max_points": POINTS})
    chart = page.one("svg.chart")
    assert int(chart.get_attribute("data-points")) == len(series["buckets"]) <= POINTS
    assert int(page.one("svg.chart path.line").get_attribute("data-points")) == len(series["buckets"])
    # the server's span is the records' whole day; the chart's time axis ends where the last bucket does
    last = series["buckets"][-1]
    ends = datetime.fromisoformat(last["time"]) + timedelta(milliseconds=series["bucket_ms"] - 1)
    assert ends < datetime.fromisoformat(series["to"])
    assert page.all("svg.chart text.axis")[-1].text == ends.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert len(page.all("main table tbody tr")) == 50
    page.shot("records")

    page.go("/promotion")
    request = page.one(f"article[data-request='{seeded['request']}']")
    request.find_element("css selector", "textarea").send_keys("looks good")
    page.shot("promotion")
    request.find_element("css selector", "button.approve").click()
    deadline = time.monotonic() + 20
    while page.all(f"article[data-request='{seeded['request']}']") and time.monotonic() < deadline:
        time.sleep(0.1)
    moved = admin.ok("models.get_by_alias", {"name": name, "project": seeded["project"], "alias": "champion"})
    assert moved["model"]["id"] == v3
    assert "Protected aliases" in page.text() and "champion" in page.text()

    page.go("/audit")
    assert page.heading() == "Audit trail" and "alias.moved" in page.text()
    page.shot("audit")
    page.go("/webhooks")
    assert page.heading() == "Webhooks"
    assert page.console_errors() == []

    # readable on a phone: nothing wider than the screen but the scrolling tables and figures
    page.driver.set_window_size(390, 900)
    try:
        for path in ("/models", f"/version/{v3}", f"/records/{v3}?field=loss", "/promotion?state=approved"):
            page.go(path)
            assert page.driver.execute_script("return document.documentElement.scrollWidth") <= 390, path
    finally:
        page.driver.set_window_size(1280, 1000)

    # another company's model: a not-found page (the API's 400 is the only console message)
    page.go(f"/version/{seeded['foreign']}")
    assert page.heading() == "Not found"
    page.go(f"/records/{seeded['foreign']}")
    assert page.heading() == "Not found"
    assert all("400" in message for message in page.console_errors())


def test_a_guest_gets_no_review_controls_nor_admin_pages(page, seeded, live_server):
    admin = seeded["admin"]
    v2 = seeded["versions"][1]
    admin.ok("promotions.create", {"model": v2, "alias": "champion", "reason": "roll back"})
    page.sign_in(seeded["guest"]["access_key"], seeded["guest"]["secret_key"])
    page.go("/promotion")
    assert len(page.all("article.request")) >= 1
    assert page.all("button.approve") == [] and page.all("button.reject") == []
    assert [a.text for a in page.all("#nav a")] == ["Registered models", "Promotion"]
    page.go("/audit")  # typed by hand: the API refuses the guest, the page says so
    assert page.heading() == "Something went wrong"
    page.one("#who button").click()
    page.settled()
    assert page.heading() == "Sign in"
