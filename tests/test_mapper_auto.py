"""Parameters chosen from the data: eps rules, n_intervals="auto", HDBSCAN (issue 13)."""

import numpy as np
import pytest

from topoact import TopoactError
from topoact.mapper import Mapper, choose_eps
from topoact.mapper.scale import cmo_resolution, element_scales, hausdorff_scale
from topoact.synthetic import SHAPES, embedded_shape, planar_shape


@pytest.fixture(scope="module")
def circle_64d():
    # The example: a noisy circle rotated into 64-D (2,000 points here).
    return embedded_shape("circle", 2000, dim=64, noise=0.02, seed=1, dtype=np.float32)


def test_hausdorff_eps_recovers_the_circle_where_the_quantile_rule_does_not(circle_64d):
    auto = Mapper(lens="pca", n_intervals=12, eps="auto").fit(circle_64d).graph_
    chosen = Mapper(lens="pca", n_intervals=12, eps="hausdorff").fit(circle_64d)
    assert (chosen.graph_.n_components, chosen.graph_.n_loops) == (1, 1)
    assert (auto.n_components, auto.n_loops) != (1, 1)
    assert chosen.scale_ == chosen.eps_ == chosen.graph_.params["eps_used"]
    assert "Hausdorff" in chosen.explain_choices()[0]
    assert chosen.graph_.params["choices"] == chosen.explain_choices()


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_hausdorff_eps_gives_every_shape_its_components_and_loops(name):
    X = embedded_shape(name, 2000, dim=64, noise=0.05, seed=2)
    graph = Mapper(lens="pca", n_intervals=12, eps="hausdorff").fit(X).graph_
    assert (graph.n_components, graph.n_loops) == (SHAPES[name].components, SHAPES[name].loops)


def test_hausdorff_scale_is_seeded_and_rotation_invariant():
    flat = planar_shape("figure_eight", 3000, noise=0.02, seed=0)
    rotated = embedded_shape("figure_eight", 3000, dim=64, noise=0.02, seed=0)
    assert hausdorff_scale(flat, random_state=3) == hausdorff_scale(flat, random_state=3)
    assert hausdorff_scale(rotated, random_state=3) == pytest.approx(hausdorff_scale(flat, random_state=3), rel=1e-6)


def test_adaptive_eps_gives_each_element_its_own_radius():
    # Density varies along the line: the first half holds 4x the points of the second.
    rng = np.random.default_rng(0)
    X = np.r_[np.c_[rng.uniform(0, 1, 1600), np.zeros(1600)], np.c_[rng.uniform(1, 2, 400), np.zeros(400)]]
    X += 0.01 * rng.standard_normal(X.shape)
    m = Mapper(lens=X[:, 0].copy(), n_intervals=8, overlap=0.3, eps="adaptive").fit(X)
    eps = m.element_eps_
    assert eps.shape == (m.cover_.n_elements_,)
    assert eps[-1] > 2 * eps[0]  # the sparse end gets a wider radius
    assert m.graph_.params["element_eps"] == pytest.approx(eps.tolist())
    assert m.eps_ == pytest.approx(np.median(eps))
    assert (m.graph_.n_components, m.graph_.n_loops) == (1, 0)
    assert "per element" in m.explain_choices()[0]
    # Each element is DBSCAN at its own eps: a fixed-eps Mapper at that eps agrees on that element.
    e = 0
    fixed = Mapper(lens=X[:, 0].copy(), n_intervals=8, overlap=0.3, eps=float(eps[e])).fit(X).graph_
    own = [tuple(g.node_members[i]) for g in (m.graph_,) for i in np.flatnonzero(g.node_element == e)]
    same = [tuple(fixed.node_members[i]) for i in np.flatnonzero(fixed.node_element == e)]
    assert own == same


def test_element_scales_are_nan_for_tiny_elements():
    import scipy.sparse as sp

    X = np.arange(10, dtype=float).reshape(-1, 1)
    membership = sp.csc_matrix(np.c_[np.ones(10, bool), np.eye(10, dtype=bool)[:, :1]])
    scales = element_scales(X, membership, 3)
    assert scales[0] == pytest.approx(3 * 1.0)  # the 2nd neighbour on a unit grid: 1 inside, 2 at the ends; median 1
    assert np.isnan(scales[1])


def test_unknown_eps_rule_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown eps rule 'median'"):
        choose_eps(np.zeros((5, 2)), "median", 5)
    with pytest.raises(ValueError, match="eps"):
        Mapper(eps="median").fit(np.random.default_rng(0).random((20, 3)))


def test_auto_intervals_follow_the_resolution_rule(circle_64d):
    m = Mapper(lens="pca", n_intervals="auto", eps="hausdorff").fit(circle_64d)
    assert isinstance(m.n_intervals_, int) and 4 <= m.n_intervals_ <= 40
    assert m.cover_.n_elements_ == m.n_intervals_
    assert m.graph_.params["n_intervals_used"] == m.n_intervals_
    assert m.explain_choices()[0].startswith(f"{m.n_intervals_} intervals: Carrière–Michel–Oudot")
    assert (m.graph_.n_components, m.graph_.n_loops) == (1, 1)
    # r = (largest lens step) / gain: a larger gain (overlap) gives shorter intervals, so more of them.
    assert cmo_resolution(m.lens_values_, circle_64d, 0.5) > cmo_resolution(m.lens_values_, circle_64d, 0.3)


def test_auto_intervals_with_a_2d_lens_asks_for_an_integer(circle_64d):
    with pytest.raises(TopoactError, match="1-D lenses.*pass an integer n_intervals"):
        Mapper(lens=["pca", "l2norm"], n_intervals="auto").fit(circle_64d)


def test_auto_intervals_need_overlap(circle_64d):
    with pytest.raises(TopoactError, match="overlap > 0"):
        Mapper(lens="pca", n_intervals="auto", overlap=0.0).fit(circle_64d)


def test_hdbscan_clusterer_uses_min_cluster_size():
    X = embedded_shape("blobs", 1500, dim=8, noise=0.02, seed=0)
    blob = np.argmin(np.abs(planar_shape("blobs", 1500, noise=0.02, seed=0)[:, :1] - [[-3.0, 0.0, 3.0]]), axis=1)
    m = Mapper(lens="pca", n_intervals=6, clusterer="hdbscan", min_cluster_size=15).fit(X)
    assert m.eps_ is None
    assert m.graph_.node_sizes.min() >= 15
    # HDBSCAN may split a blob (it fragments shapes, which is why it is not the default), never joins two.
    assert m.graph_.n_components >= 3
    for nodes in m.graph_.components():
        assert np.unique(blob[np.concatenate([m.graph_.node_members[i] for i in nodes])]).size == 1
    assert m.graph_.params["min_cluster_size"] == 15
    assert "HDBSCAN" in m.explain_choices()[0]
    with pytest.raises(ValueError, match="min_cluster_size"):
        Mapper(clusterer="hdbscan", min_cluster_size=1).fit(X)


def test_stability_sweep_can_start_from_the_resolution_rule(circle_64d):
    from topoact.compare import parameter_stability
    from topoact.compare.stability import auto_interval_grid

    mapper = Mapper(lens="pca", eps="hausdorff")
    k = Mapper(lens="pca", n_intervals="auto", overlap=0.3, eps="hausdorff").fit(circle_64d).n_intervals_
    grid = auto_interval_grid(circle_64d, mapper, 0.3)
    assert k in grid and min(grid) < k < max(grid)
    result = parameter_stability(circle_64d[:800], n_intervals="auto", overlaps=(0.3,), eps=("hausdorff",), mapper=mapper)
    assert sorted(result.table["n_intervals"]) == auto_interval_grid(circle_64d[:800], mapper, 0.3)
    with pytest.raises(TopoactError, match="'auto'"):
        parameter_stability(circle_64d, n_intervals="many")
