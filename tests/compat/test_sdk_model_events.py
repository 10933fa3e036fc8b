"""The real ClearML SDK reports scalars, a single value and a plot for a model (`Model.report_*`, sent
as events.add_batch lines with `model_event: true`), and the server reads them back as the web app
asks for a model's Scalars and Plots tabs.

Read from clearml-server apiserver/services/events.py `scalar_metrics_iter_histogram`,
`get_task_single_value_metrics` and `get_task_plots` (`model_events`), and the SDK's
clearml/backend_interface/metrics/interface.py (`model_event` on each AddRequest from API 2.23).
"""

from __future__ import annotations

import textwrap

import pytest
import requests

pytestmark = pytest.mark.e2e

SCRIPT = textwrap.dedent('''
    import json
    import sys

    from clearml import InputModel, Model

    imported = InputModel.import_model(weights_url="s3://sdk-bucket/models/events.pt", name="sdk-events-model")
    model = Model(imported.id)
    for i in range(3):
        model.report_scalar("loss", "train", 1.0 / (i + 1), iteration=i)
    model.report_single_value("accuracy", 0.875)
    model.report_scatter2d("pr", "curve", scatter=[[0, 1], [1, 0.5]], iteration=2)
    # the SDK's reporter flushes and waits for its events when the program exits, before the check
    print(sys.argv[1] + json.dumps({"model": imported.id}))
''')


def _call(live_server, endpoint: str, data: dict) -> dict:
    reply = requests.post(f"{live_server.url}/v999.0/{endpoint}", json=data, timeout=30,
                          auth=(live_server.access_key, live_server.secret_key))
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def test_sdk_model_events_read_back_as_the_web_app_reads_them(live_server, tmp_path):
    model_id = live_server.run_sdk_script(tmp_path, SCRIPT, "RESULT ")["model"]
    hist = _call(live_server, "events.scalar_metrics_iter_histogram",
                 {"task": model_id, "key": "iter", "model_events": True})
    assert hist["loss"]["train"]["x"] == [0, 1, 2] and hist["loss"]["train"]["y"] == [1.0, 0.5, 1 / 3]
    single = _call(live_server, "events.get_task_single_value_metrics", {"tasks": [model_id], "model_events": True})
    assert [(v["variant"], v["value"]) for v in single["tasks"][0]["values"]] == [("accuracy", 0.875)]
    plots = _call(live_server, "events.get_task_plots", {"task": model_id, "model_events": True})
    assert plots["returned"] == 1 and plots["plots"][0]["metric"] == "pr" and "plot_str" in plots["plots"][0]
    assert _call(live_server, "models.get_all_ex", {"id": [model_id], "only_fields": ["last_metrics"]})[
        "models"][0]["last_metrics"]
