"""Parameter stability sweeps on data with a known shape, and the comparison figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from topoact import TopoactError
from topoact.compare import member_flow, parameter_stability
from topoact.compare.plots import flow_figure, save_figure, stability_figure, trajectory_figure
from topoact.mapper import Mapper
from topoact.synthetic import blobs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def three_blobs():
    return blobs(n_blobs=3, n_per_blob=150, dim=4, seed=0)


@pytest.fixture(scope="module")
def sweep(three_blobs):
    X, labels = three_blobs
    return parameter_stability(X, labels, n_intervals=(3, 5, 8, 12), overlaps=(0.3, 0.5), eps=(3.0, "auto"),
                               mapper=Mapper(min_samples=4))


def test_every_setting_is_a_row_and_the_three_blobs_persist(sweep):
    table = sweep.table
    assert len(table) == 4 * 2 * 2
    assert set(table["eps"]) == {3.0, "auto"}
    assert (table.loc[table["eps"] == 3.0, "eps_used"] == 3.0).all()
    # three blobs 20 apart: three components whatever the cover, each class-pure
    at_three = table[table["eps"] == 3.0]
    assert (at_three["components_tracked"] == 3).all() and (at_three["weighted_purity"] == 1.0).all()
    components = sweep.bars[(sweep.bars["kind"] == "component") & (sweep.bars["eps"] == 3.0)]
    # one bar per blob and overlap, alive over every resolution
    assert len(components) == 6 and (components["length"] == 4).all()
    assert (components["birth"] == 3).all() and (components["death"] == 12).all()
    assert sorted(components["classes"].unique()) == ["0", "1", "2"]
    assert table["stability"].between(0, 1).all()


def test_suggestion_is_the_most_stable_setting_with_structure(sweep):
    table, suggestion = sweep.table, sweep.suggestion
    chosen = table[(table["n_intervals"] == suggestion["n_intervals"]) & (table["overlap"] == suggestion["overlap"])
                   & (table["eps"].astype(str) == str(suggestion["eps"]))]
    assert len(chosen) == 1
    structured = table[(table["components_tracked"] > 1) | (table["loops_tracked"] + table["branches_tracked"] > 0)]
    assert chosen["stability"].item() == structured["stability"].max()
    assert sweep.describe().startswith(f"most stable: {suggestion['n_intervals']} intervals")


def test_sweep_without_labels_and_bad_grids(three_blobs):
    X, _ = three_blobs
    result = parameter_stability(X, n_intervals=(4, 6), overlaps=(0.4,), eps=(3.0,), mapper=Mapper(min_samples=4))
    assert "label_ami" not in result.table.columns and (result.table["components"] == 3).all()
    with pytest.raises(TopoactError, match="overlaps in"):
        parameter_stability(X, overlaps=(1.2,))
    with pytest.raises(TopoactError, match="one entry per row"):
        parameter_stability(X, np.zeros(3))
    with pytest.raises(TopoactError, match="at least one"):
        parameter_stability(X, n_intervals=())


def test_figures_are_written(sweep, three_blobs, tmp_path):
    X, labels = three_blobs
    save_figure(stability_figure(sweep), tmp_path / "stability.png")
    a = Mapper(n_intervals=5, eps=3.0, min_samples=4).fit(X).graph_
    b = Mapper(n_intervals=8, eps=3.0, min_samples=4).fit(X).graph_
    flow = member_flow(a, b, labels=labels)
    save_figure(flow_figure(flow, a, b, labels, highlight=flow.source_ids[0]), tmp_path / "flow.png")
    save_figure(flow_figure(member_flow(a, b, level="component"), a, b, labels), tmp_path / "components.svg")
    table = pd.DataFrame({"model": ["m", "m", "m"], "weights": ["pretrained", "pretrained", "untrained"],
                          "layer": ["l1", "l2", "l1"], "depth": [0.3, 0.7, 0.3], "label_ami": [0.1, 0.5, 0.05]})
    save_figure(trajectory_figure(table), tmp_path / "trajectory.png")
    for name in ("stability.png", "flow.png", "trajectory.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "components.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(TopoactError, match="none of the metrics"):
        trajectory_figure(table, metrics=("loops",))
    with pytest.raises(TopoactError, match="must end in"):
        save_figure(trajectory_figure(table), tmp_path / "t.jpg")
    with pytest.raises(TopoactError, match="no node"):
        flow_figure(flow, a, b, labels, highlight="nope")
