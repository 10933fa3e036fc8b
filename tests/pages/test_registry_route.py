"""/registry/ serves the pages' own files (and nothing else) with a policy that runs only them."""

from __future__ import annotations

from falcon import testing

from server.http.registry_route import FOLDER


def test_serves_the_pages_and_only_their_files(app):
    browser = testing.TestClient(app)
    assert browser.simulate_get("/registry").status_code == 301
    index = browser.simulate_get("/registry/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/registry/app.js">' in index.text
    policy = index.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    for name in ("app.js", "api.js", "style.css", "icon.svg"):
        reply = browser.simulate_get(f"/registry/{name}")
        assert reply.status_code == 200 and reply.content == (FOLDER / name).read_bytes(), name
    assert browser.simulate_get("/registry/app.js").headers["content-type"].startswith("text/javascript")
    for name in ("missing.js", "..%2Fregistry_route.py", "../app.py", "%2e%2e"):
        reply = browser.simulate_get(f"/registry/{name}")  # a path walk leaves /registry/: the API refuses it
        assert reply.status_code in (400, 404) and b"import" not in reply.content, name


def test_every_module_the_pages_import_is_served():
    import re
    for script in FOLDER.glob("*.js"):
        for target in re.findall(r"from '\./([^']+)'", script.read_text()):
            assert (FOLDER / target).is_file(), (script.name, target)
