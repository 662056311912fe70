"""The first graph a person sees: automatic parameters, said why, noise share, feature confidence (issue 13).

The offline default view (digits_cnn on digits, block3, L2-norm lens, 30 intervals, 30 %
overlap, min_samples 5) with the default eps rule, the data's scale: under 10 % noise
(the 0.9-quantile rule left 22 % as DBSCAN noise in 21 components) and a flare or a
component of its own for the classes, as TopoAct's graphs show.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
pytestmark = pytest.mark.usefixtures("dashboard_cache")


@pytest.fixture(scope="module")
def app(dashboard_cache):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _markdown(at, testid: str) -> str:
    return next(m.value for m in at.markdown if testid in m.value)


def test_default_view_uses_the_automatic_eps_and_says_why(app):
    assert next(r for r in app.radio if r.key == "eps_mode").value == "hausdorff"
    chosen = _markdown(app, "chosen-parameters")
    assert "Chosen for this graph" in chosen and "Hausdorff" in chosen
    share = _markdown(app, "noise-share")
    percent = float(share.split("(")[-1].split("%")[0])
    assert percent < 10.0
    assert not any("DBSCAN noise" in w.value for w in app.warning)


def test_default_view_summary_has_little_noise_and_a_flare_per_class():
    """The default view's graph, built as the dashboard builds it (same estimator parameters)."""
    import torch

    torch.set_num_threads(1)
    from dashboard.state import DEFAULTS, mapper_from_state
    from topoact.mapper.graph import majority_labels
    from topoact.workflow import ExtractionSpec, get_or_extract

    spec = ExtractionSpec("digits_cnn", "digits", ["block3"], sampling="random_position", seed=0)
    acts = get_or_extract(spec, store=None)["block3"]
    graph = mapper_from_state(DEFAULTS).fit(acts.vectors).graph_
    summary = graph.summary()
    assert summary["noise_points"] / summary["points"] < 0.10
    assert summary["components"] <= 12
    # Tips: leaves (or one-node components) whose members are >= 80 % one class.
    tips = set()
    for node in np.flatnonzero(graph.degree <= 1):
        values, counts = np.unique(acts.label[graph.node_members[node]], return_counts=True)
        if counts.max() >= 0.8 * counts.sum():
            tips.add(int(values[counts.argmax()]))
    assert tips == set(range(10)), sorted(tips)
    assert majority_labels(graph.node_members, acts.label)  # every node has a majority


def test_warning_when_noise_is_above_ten_percent(app):
    app.radio(key="eps_mode").set_value("auto").run()
    assert not app.exception
    assert any("DBSCAN noise" in w.value for w in app.warning)
    app.radio(key="eps_mode").set_value("hausdorff").run()


def test_bootstrap_confidence_is_shown_per_feature(app):
    app.number_input(key="resamples").set_value(10).run()
    assert not app.exception, [e.message for e in app.exception]
    confidence = _markdown(app, "feature-confidence")
    assert "seen in" in confidence and "% of 10 resamples" in confidence
    assert "component 1" in confidence
