"""Exemplars are the true nearest members; node visualizations and exemplars round-trip the cache."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from topoact.cache import Store
from topoact.featvis import (
    EXEMPLARS_KIND,
    VISUALIZATION_KIND,
    RenderParams,
    from_png,
    node_exemplars,
    node_members,
    node_visualization,
    stored_visualization,
    stored_visualizations,
)
from topoact.featvis.exemplars import nearest_members
from topoact.mapper import Mapper
from topoact.workflow import ExtractionSpec, get_or_extract

QUICK = RenderParams(steps=32)


@pytest.fixture(scope="module")
def block1():
    """digits_cnn block1: an 8 x 8 grid on 8 x 8 inputs, so every patch is a 4 x 4 crop."""
    model, dataset = zoo.load_model("digits_cnn"), zoo.load_dataset("digits")
    acts = get_or_extract(ExtractionSpec(model, dataset, ["block1"], limit=500), store=None)["block1"]
    graph = Mapper(n_intervals=8, min_samples=4).fit(acts.vectors).graph_
    return model, dataset, acts, graph


def test_exemplars_are_the_nearest_members_of_each_top_class(block1):
    model, dataset, acts, graph = block1
    summary = graph.label_summary(acts.label)
    checked = 0
    for i in np.argsort(-graph.node_sizes)[:6]:
        node_id, members = node_members(graph, int(i))
        mean = acts.vectors[members].astype(np.float64).mean(axis=0)
        groups = node_exemplars(model, dataset, acts, members, per_class=5, n_classes=3)
        assert [[g.label, g.count] for g in groups] == summary["label_counts"][i][:3]
        for group in groups:
            in_class = members[acts.label[members] == group.label]
            distance = np.linalg.norm(acts.vectors[in_class].astype(np.float64) - mean, axis=1)
            expected = in_class[np.lexsort((in_class, distance))][:5]
            got = [item.exemplar.row for item in group.images]
            assert got == list(expected), node_id
            assert [item.exemplar.distance for item in group.images] == pytest.approx(np.sort(distance)[:5])
            checked += 1
    assert checked >= 10
    # cosine distance ranks by angle instead
    _, members = node_members(graph, int(np.argmax(graph.node_sizes)))
    (label, _, exemplars), *_ = nearest_members(acts, members, acts.vectors[members].mean(0), metric="cosine",
                                                per_class=3)
    rows = members[acts.label[members] == label]
    v = acts.vectors[rows].astype(np.float64)
    c = acts.vectors[members].astype(np.float64).mean(0)
    cosine = v @ c / np.linalg.norm(v, axis=1) / np.linalg.norm(c)
    assert [e.row for e in exemplars] == list(rows[np.lexsort((rows, -cosine))][:3])


def test_exemplar_patch_is_the_input_around_the_sampled_position(block1):
    model, dataset, acts, graph = block1
    _, members = node_members(graph, int(np.argmax(graph.node_sizes)))
    for group in node_exemplars(model, dataset, acts, members, per_class=3, n_classes=2):
        for item in group.images:
            exemplar = item.exemplar
            picture = from_png(item.png)
            assert picture.shape == (64, 64, 1)
            h, w = divmod(exemplar.position, 8)  # block1 keeps the 8 x 8 input grid
            top, left = min(max(int(round(h + 0.5 - 2)), 0), 4), min(max(int(round(w + 0.5 - 2)), 0), 4)
            raw = dataset.items([exemplar.sample_index])[0]
            assert np.array_equal(picture[::16, ::16], raw[top:top + 4, left:left + 4])


def test_visualization_and_exemplars_round_trip_the_cache(block1, tmp_path):
    model, dataset, acts, graph = block1
    store = Store(tmp_path / "cache.duckdb")
    node_id, members = node_members(graph, int(np.argmax(graph.node_sizes)))
    assert stored_visualization(model, acts, members, store=store, params=QUICK) is None
    first = node_visualization(model, acts, members, params=QUICK, store=store)
    assert first.meta["cached"] is False
    again = node_visualization(model, acts, members[::-1].copy(), params=QUICK, store=store)  # same content
    assert again.meta == {"cached": True, "key": first.meta["key"]}
    assert np.array_equal(again.image, first.image) and again.cosine == first.cosine
    assert (again.where, again.params, again.grid, again.objective) == (first.where, first.params, first.grid,
                                                                        first.objective)
    stored = store.get_images(VISUALIZATION_KIND, first.meta["key"])
    assert np.array_equal(from_png(stored.images["visualization"]), first.image)
    assert stored.meta["layer"] == "block1" and stored.meta["cosine"] == first.cosine
    assert set(stored_visualizations(model, acts, graph, store=store, params=QUICK)) == {node_id}
    # other content or other settings are other entries
    assert node_visualization(model, acts, members[1:], params=QUICK, store=store).meta["cached"] is False
    assert node_visualization(model, acts, members, params=RenderParams(steps=33), store=store).meta["cached"] is False

    groups = node_exemplars(model, dataset, acts, members, store=store)
    assert store.list_entries(EXEMPLARS_KIND)
    cached = node_exemplars(model, dataset, acts, members, store=store)
    assert [(g.label, g.count) for g in cached] == [(g.label, g.count) for g in groups]
    assert [[(i.exemplar, i.png) for i in g.images] for g in cached] == \
        [[(i.exemplar, i.png) for i in g.images] for g in groups]

    # recomputed after clearing: the same image (deterministic per seed)
    store.clear(VISUALIZATION_KIND)
    redone = node_visualization(model, acts, members, params=QUICK, store=store)
    assert redone.meta["cached"] is False and np.array_equal(redone.image, first.image)
