"""The fixtures live in plugin modules (tests/fixtures/); helpers are imported from tests.helpers,
tests.files_support and tests.live_support where used."""

import pytest

pytest_plugins = ["tests.fixtures.processes", "tests.fixtures.app", "tests.fixtures.files", "tests.fixtures.server",
                  "tests.fixtures.browser"]


_UNGROUPED: set[str] = set()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under `--dist loadgroup` xdist groups tests by a suffix it writes into each grouped test's node id;
    a pytest that no longer takes that write (pytest-dev/pytest-xdist#1386) spreads a group's tests over
    every worker, each building the module's servers and browser again. Those tests fail instead."""
    if config.getoption("loadgroup", default=False):
        _UNGROUPED.update(item.nodeid for item in items
                          if item.get_closest_marker("xdist_group") and "@" not in item.nodeid)


def pytest_runtest_setup(item):
    if item.nodeid in _UNGROUPED:
        pytest.fail("--dist loadgroup did not group this test with this pytest and pytest-xdist "
                    "(pytest-dev/pytest-xdist#1386): pin a pytest that it works with", pytrace=False)
