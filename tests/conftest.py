"""The fixtures live in plugin modules (tests/fixtures/); helpers are imported from tests.helpers,
tests.files_support and tests.live_support where used."""

pytest_plugins = ["tests.fixtures.processes", "tests.fixtures.app", "tests.fixtures.files", "tests.fixtures.server",
                  "tests.fixtures.browser"]
