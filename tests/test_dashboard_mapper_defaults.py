"""The dashboard's Mapper defaults are the estimator's (``Mapper().get_params()``), written once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from topoact.mapper import Mapper

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "dashboard" / "app.py")


pytestmark = pytest.mark.usefixtures("dashboard_cache")


def test_state_defaults_equal_the_estimators_field_by_field():
    from dashboard.state import DEFAULTS, MANUAL_EPS, MAPPER_FIELDS, mapper_from_state

    params = Mapper().get_params()
    for name in MAPPER_FIELDS:
        if name == "eps":
            eps = params["eps"]
            assert DEFAULTS["eps_mode"] == (eps if isinstance(eps, str) else MANUAL_EPS)
            if not isinstance(eps, str):
                assert DEFAULTS["eps_value"] == eps
        elif name == "n_intervals" and isinstance(params[name], str):
            assert DEFAULTS["auto_intervals"] is True
        else:
            assert DEFAULTS[name] == params[name], name
            assert type(DEFAULTS[name]) is type(params[name]), name
    # the Mapper the default widgets describe is the default Mapper, every parameter
    assert mapper_from_state(DEFAULTS).get_params() == params


def test_no_dashboard_module_writes_a_mapper_default_again():
    """The Mapper parameters appear in the dashboard only as keys, never with a literal default value."""
    defaults = {name: value for name, value in Mapper().get_params().items()
                if name in ("n_intervals", "overlap", "min_samples", "lens", "metric")}
    for path in [REPO / "dashboard" / "state.py", *(REPO / "dashboard" / "views").glob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values):
                    if isinstance(key, ast.Constant) and key.value in defaults and isinstance(value, ast.Constant):
                        pytest.fail(f"{path.name}:{node.lineno} restates Mapper's default {key.value}={value.value!r}")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "slider" and len(node.args) >= 4:
                label = node.args[0].value if isinstance(node.args[0], ast.Constant) else None
                if label in ("Intervals", "Overlap", "min_samples"):
                    assert not isinstance(node.args[3], ast.Constant), f"{path.name}:{node.lineno} {label}"


def test_explore_opens_with_the_estimators_defaults_and_builds_with_them():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    params = Mapper().get_params()
    for name in ("lens", "n_intervals", "overlap", "min_samples", "metric"):
        assert at.session_state[name] == params[name], name
    assert at.session_state["eps_mode"] == params["eps"]
    spec, mapper = at.session_state["explored"]
    assert not hasattr(mapper, "graph_") and mapper.get_params() == params  # an unfitted, default Mapper
    assert spec.model == "digits_cnn" and spec.layer == "block3"
    # the state was set up once by app.py: a widget change survives a page switch and back
    next(s for s in at.slider if s.key == "n_intervals").set_value(12).run()
    at.switch_page("views/zoo_cache.py").run()
    at.switch_page("views/explore.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["n_intervals"] == 12 and at.session_state["explored"][1].n_intervals == 12
