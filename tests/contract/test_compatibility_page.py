"""docs/clearml-compatibility.md lists every endpoint the schema registry serves, with its versions,
exactly once. On failure the message holds the rows to add or fix, ready to paste."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "clearml-compatibility.md"
ROW = re.compile(r"^\| `(?P<endpoint>[a-z_]+\.[a-z_]+)` \| (?P<versions>[0-9., ]+) \| (?P<text>.+) \|$")


def _page_rows() -> dict[str, list[tuple[str, str]]]:
    rows: dict[str, list[tuple[str, str]]] = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line.strip())
        if match:
            rows.setdefault(match["endpoint"], []).append((match["versions"].strip(), match["text"].strip()))
    return rows


def test_page_lists_every_served_endpoint_and_version(registry):
    rows = _page_rows()
    wanted = {name: ", ".join(v.version_text for v in versions) for name, versions in registry.endpoints.items()}
    problems = []
    for name in sorted(wanted):
        listed = rows.get(name, [])
        if len(listed) != 1 or listed[0][0] != wanted[name]:
            problems.append(f"| `{name}` | {wanted[name]} | <same / how it differs and why> |")
    extra = sorted(set(rows) - set(wanted))
    assert not problems, "rows to add or fix in docs/clearml-compatibility.md:\n" + "\n".join(problems)
    assert not extra, f"rows for endpoints no longer served: {extra}"
    assert all(text for entries in rows.values() for _, text in entries)
