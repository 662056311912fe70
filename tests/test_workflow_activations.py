"""topoact.workflow.get_or_extract against the real DuckDB store: hits, partial hits, key parts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from topoact import cache
from topoact.extract import Entry, ItemsDataset, ModuleModel
from topoact.workflow import ExtractionSpec, activation_key, get_or_extract


class CountingModel(ModuleModel):
    """Counts the forward passes it is asked for."""

    passes = 0

    def forward(self, inputs):  # type: ignore[override]
        type(self).passes += 1
        return super().forward(inputs)


def make_model() -> CountingModel:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3),
    )
    return CountingModel(net, Entry("pipe-cnn", "image", ("1", "3")), weights_id="abc")


@pytest.fixture
def data() -> ItemsDataset:
    rng = np.random.default_rng(0)
    return ItemsDataset("pipe-data", [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(10)],
                        labels=rng.integers(0, 3, 10))


def same(a, b) -> None:
    np.testing.assert_array_equal(a.vectors, b.vectors)
    for col in ("sample_index", "position", "label", "prediction"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
    np.testing.assert_allclose(a.confidence, b.confidence)


def test_second_call_comes_from_the_cache_and_only_missing_layers_are_extracted(tmp_path, data) -> None:
    model = make_model()
    with cache.Store(tmp_path / "c.duckdb") as store:
        CountingModel.passes = 0
        first = get_or_extract(ExtractionSpec(model, data, ["1"], batch_size=4, seed=1), store=store)
        assert CountingModel.passes == 3 and first["1"].meta["cached"] is False
        again = get_or_extract(ExtractionSpec(model, data, ["1"], batch_size=5, seed=1), store=store)
        assert CountingModel.passes == 3  # nothing ran
        assert again["1"].meta["cached"] is True
        same(first["1"], again["1"])
        both = get_or_extract(ExtractionSpec(model, data, ["3", "1"], batch_size=10, seed=1), store=store)
        assert CountingModel.passes == 4  # one pass, for layer 3 only
        assert list(both) == ["3", "1"]
        assert both["1"].meta["cached"] is True and both["3"].meta["cached"] is False
        # without predictions the stored set with predictions answers too
        quick = get_or_extract(ExtractionSpec(model, data, ["1", "3"], seed=1, predictions=False), store=store)
        assert CountingModel.passes == 4
        same(quick["3"], both["3"])
        # a different seed is a different result
        get_or_extract(ExtractionSpec(model, data, ["1"], seed=2), store=store)
        assert CountingModel.passes == 5


def test_no_store_always_extracts(data) -> None:
    model = make_model()
    CountingModel.passes = 0
    out = get_or_extract(ExtractionSpec(model, data, None, batch_size=10), store=None)
    assert list(out) == ["1", "3"] and CountingModel.passes == 1


def test_key_covers_what_determines_the_result(data) -> None:
    model = make_model()
    base = dict(sampling="random_position", max_positions=16, seed=0, limit=None, predictions=True)
    k = activation_key(model, data, "1", **base)
    assert k == activation_key(model, data, "1", **base)
    variants = [
        activation_key(model, data, "3", **base),
        activation_key(model, data, "1", **{**base, "sampling": "gap"}),
        activation_key(model, data, "1", **{**base, "seed": 1}),
        activation_key(model, data, "1", **{**base, "limit": 5}),
        activation_key(model, data, "1", **{**base, "predictions": False}),
    ]
    assert len(set(variants + [k])) == 6
    other_weights = make_model()
    other_weights.weights_id = "def"
    assert activation_key(other_weights, data, "1", **base) != k
    other_data = ItemsDataset("pipe-data", data.data[:-1], labels=data.labels[:-1])
    assert activation_key(model, other_data, "1", **base) != k
    # max_positions only matters to the samplers that use it
    assert activation_key(model, data, "1", **{**base, "max_positions": 3}) == k
    capped = {**base, "sampling": "all_positions"}
    assert activation_key(model, data, "1", **capped) != activation_key(model, data, "1", **{**capped, "max_positions": 3})


def test_zoo_names_are_loaded_and_sample_index_indexes_the_full_dataset(tmp_path) -> None:
    import zoo

    with cache.Store(tmp_path / "c.duckdb") as store:
        sets = get_or_extract(ExtractionSpec("digits_cnn", "digits", None, weights="untrained",
                                             limit=20, sampling="gap", batch_size=8), store=store)
        again = get_or_extract(ExtractionSpec("digits_cnn", "digits", None, weights="untrained",
                                              limit=20, sampling="gap", batch_size=20), store=store)
    full = zoo.load_dataset("digits")
    for layer, acts in sets.items():
        assert acts.n_rows == 20 and acts.meta["cached"] is False and again[layer].meta["cached"] is True
        assert acts.sample_index.max() < len(full)
        np.testing.assert_array_equal(acts.label, full.labels[acts.sample_index])
        assert acts.meta["content_hash"] == full.content_hash
        assert acts.meta["weights_id"].startswith("untrained")
