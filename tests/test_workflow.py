"""topoact.workflow end to end on a real DuckDB file: activations, graph and scores, cached reruns, spec checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from test_workflow_activations import CountingModel, make_model
from topoact.anomaly import default_sweep
from topoact.cache import Store
from topoact.extract import ItemsDataset
from topoact.mapper import Mapper
from topoact.workflow import ExtractionSpec, activation_key, get_or_build_graph, get_or_extract, get_or_score

torch.set_num_threads(1)


class Recorder:
    """A progress callback that keeps what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, fraction: float, message: str) -> None:
        assert 0.0 <= fraction <= 1.0, fraction
        self.calls.append((fraction, message))

    def said(self, text: str) -> int:
        return sum(text in message for _, message in self.calls)


@pytest.fixture(scope="module")
def data() -> ItemsDataset:
    rng = np.random.default_rng(0)
    return ItemsDataset("workflow-data", [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(120)],
                        labels=rng.integers(0, 3, 120))


def test_activations_graph_and_scores_come_back_from_the_cache_without_recomputing(tmp_path, data):
    spec = ExtractionSpec(make_model(), data, ("3",), batch_size=40, seed=2)
    mapper = Mapper(n_intervals=5, overlap=0.3, eps="auto", min_samples=3)
    with Store(tmp_path / "c.duckdb") as store:
        CountingModel.passes = 0
        first = Recorder()
        acts = get_or_extract(spec, store=store, progress=first)["3"]
        built = get_or_build_graph(acts, mapper, store, progress=first)
        scored = get_or_score(acts, built, store=store, k=5, mapper=mapper, sweep=default_sweep(5, 0.3)[:2], top=10,
                              progress=first)
        assert CountingModel.passes == 3 and first.said("extracting 3 activations: ") == 3
        assert first.calls[2] == (1.0, "extracting 3 activations: 120 / 120 inputs")  # the last batch
        assert first.said("lens") == 1 and first.said("clustering") == 1  # the fit reported its stages
        assert first.said("scoring samples") == 1 and first.said("stability sweep") == 2
        assert not acts.meta["cached"] and not built.from_cache and not scored.from_cache
        assert acts.meta["key"] == spec.cache_key("3") == activation_key(
            spec.model, data, "3", sampling="random_position", max_positions=16, seed=2, limit=None, predictions=True)

        again = Recorder()
        acts2 = get_or_extract(spec.replace(batch_size=7), store=store, progress=again)["3"]
        built2 = get_or_build_graph(acts2, mapper, store, progress=again)
        scored2 = get_or_score(acts2, built2, store=store, k=5, mapper=mapper, sweep=default_sweep(5, 0.3)[:2], top=10,
                               progress=again)
        assert again.calls == [] and CountingModel.passes == 3  # nothing ran
        assert acts2.meta["cached"] and built2.from_cache and scored2.from_cache
        np.testing.assert_array_equal(acts2.vectors, acts.vectors)
        assert built2.graph.to_json() == built.graph.to_json() and built2.key == built.key
        pd.testing.assert_frame_equal(scored2.report.samples, scored.report.samples)
        # the store links what it holds: the graph names its activations, the scores their graph
        (graph_entry,) = store.list_entries("graph")
        (scores_entry,) = store.list_entries("anomaly_scores")
        assert graph_entry["meta"]["activations_key"] == acts.meta["key"]
        assert scores_entry["meta"]["graph_key"] == built.key and scores_entry["key"] == scored.key

        redo = Recorder()
        fresh = get_or_score(acts2, built2, store=store, k=5, recompute=True, progress=redo)
        assert redo.said("scoring samples") == 1 and not fresh.from_cache
        assert get_or_score(acts2, built2, store=None, k=5).key is None


def test_no_store_computes_every_time(data):
    spec = ExtractionSpec(make_model(), data, "1", limit=30)
    CountingModel.passes = 0
    runs = [get_or_extract(spec, store=None)["1"] for _ in range(2)]
    assert CountingModel.passes == 2 and runs[0].n_rows == 30
    np.testing.assert_array_equal(runs[0].vectors, runs[1].vectors)


@pytest.mark.parametrize(("change", "field"), [
    ({"model": ""}, "model"),
    ({"dataset": None}, "dataset"),
    ({"layers": [""]}, "layers"),
    ({"layers": [3]}, "layers"),
    ({"limit": 0}, "limit"),
    ({"limit": 2.5}, "limit"),
    ({"sampling": "everything"}, "sampling"),
    ({"max_positions": 0}, "max_positions"),
    ({"seed": -1}, "seed"),
    ({"seed": True}, "seed"),
    ({"batch_size": 0}, "batch_size"),
    ({"predictions": "yes"}, "predictions"),
    ({"nonfinite": "ignore"}, "nonfinite"),
    ({"layout": "chw"}, "layout"),
    ({"weights": "random"}, "weights"),
])
def test_spec_rejects_bad_values_naming_the_field(change, field):
    base = {"model": "digits_cnn", "dataset": "digits"}
    with pytest.raises(ValueError, match=rf"^ExtractionSpec\.{field} must be"):
        ExtractionSpec(**{**base, **change})
    spec = ExtractionSpec(**base)
    with pytest.raises(ValueError, match=rf"^ExtractionSpec\.{field} must be"):
        spec.replace(**change)


def test_spec_is_a_value(data):
    spec = ExtractionSpec("digits_cnn", "digits", ["block3", "block1", "block3"], limit=50)
    assert spec.layers == ("block3", "block1")  # duplicates dropped, order kept
    assert spec == ExtractionSpec("digits_cnn", "digits", ("block3", "block1"), limit=50)
    assert hash(spec) == hash(ExtractionSpec("digits_cnn", "digits", ("block3", "block1"), limit=50))
    assert spec.model_name == "digits_cnn" and spec.dataset_name == "digits"
    assert ExtractionSpec(make_model(), data).resolved_layers() == ["1", "3"]  # the entry's defaults
    with pytest.raises(TypeError, match="takes an ExtractionSpec"):
        get_or_extract("digits_cnn", store=None)
