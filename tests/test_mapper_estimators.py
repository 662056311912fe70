"""scikit-learn's estimator contract for the Mapper parts, lenses, other clusterers, warm start."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import AgglomerativeClustering, DBSCAN as SklearnDBSCAN
from sklearn.utils.estimator_checks import estimator_checks_generator

from topoact.mapper import (
    DBSCAN,
    BalancedCover,
    DensityLens,
    EccentricityLens,
    KNNDistanceLens,
    Mapper,
    NormLens,
    PCALens,
    UniformCover,
)
from topoact.synthetic import relu_gaussian_mixture


CONTRACT_ESTIMATORS = [
    NormLens(), NormLens(ord=1), PCALens(), KNNDistanceLens(k=2), DensityLens(), EccentricityLens(),
    DBSCAN(eps=0.5, min_samples=3),
]
# scikit-learn's array-API checks need SCIPY_ARRAY_API set before import; they test
# other libraries' arrays, which topoact does not claim to support.
CONTRACT_CHECKS = [
    (estimator, check)
    for base in CONTRACT_ESTIMATORS
    for estimator, check in estimator_checks_generator(base, legacy=True)
    if "array_api" not in getattr(check, "func", check).__name__
]


@pytest.mark.parametrize(
    "estimator, check", CONTRACT_CHECKS,
    ids=[f"{type(e).__name__}-{getattr(c, 'func', c).__name__}" for e, c in CONTRACT_CHECKS],
)
def test_scikit_learn_contract(estimator, check):
    check(estimator)


def test_dbscan_matches_scikit_learn_exactly_with_its_border_rule():
    X, _ = relu_gaussian_mixture(1500, dim=32, n_clusters=5, spread=0.5, seed=7, dtype=np.float64)
    for metric, eps in (("euclidean", 1.5), ("cosine", 0.09)):
        ours = DBSCAN(eps=eps, min_samples=6, metric=metric, border="first").fit(X)
        theirs = SklearnDBSCAN(eps=eps, min_samples=6, metric=metric).fit(X)
        assert len(set(theirs.labels_)) > 2
        np.testing.assert_array_equal(ours.labels_, theirs.labels_)
        np.testing.assert_array_equal(ours.core_sample_indices_, theirs.core_sample_indices_)


def test_mapper_get_params_and_clone():
    mapper = Mapper(n_intervals=12, overlap=0.25, eps=1.5)
    twin = clone(mapper)
    assert twin.get_params() == mapper.get_params()
    assert "n_intervals=12" in repr(mapper)


def test_lenses_by_name_give_expected_values():
    X = np.random.default_rng(0).normal(size=(120, 6))
    l2 = Mapper(lens="l2norm", n_intervals=3, eps=3.0).fit(X).lens_values_
    l1 = Mapper(lens="l1norm", n_intervals=3, eps=3.0).fit(X).lens_values_
    np.testing.assert_allclose(l2[:, 0], np.linalg.norm(X, axis=1))
    np.testing.assert_allclose(l1[:, 0], np.abs(X).sum(axis=1))
    pca2 = Mapper(lens="pca2", n_intervals=3, eps=3.0).fit(X).lens_values_
    assert pca2.shape == (120, 2)
    assert abs(np.corrcoef(pca2.T)[0, 1]) < 1e-8  # principal components are uncorrelated
    knn = KNNDistanceLens(k=3).fit_transform(X)[:, 0]
    from scipy.spatial.distance import cdist

    distance = np.sort(cdist(X, X), axis=1)
    np.testing.assert_allclose(knn, distance[:, 3])  # 0 is the point itself
    ecc = EccentricityLens(p=1).fit_transform(X)[:, 0]
    np.testing.assert_allclose(ecc, cdist(X, X).mean(axis=1))
    density = DensityLens(bandwidth=1.0).fit_transform(X)[:, 0]
    assert np.corrcoef(density, -np.linalg.norm(X, axis=1))[0, 1] > 0.5  # denser near the centre
    stacked = Mapper(lens=["l2norm", "l1norm"], n_intervals=3, eps=3.0).fit(X).lens_values_
    np.testing.assert_allclose(stacked, np.c_[l2, l1])
    custom = Mapper(lens=lambda data: data[:, 0], n_intervals=3, eps=3.0).fit(X).lens_values_
    np.testing.assert_array_equal(custom[:, 0], X[:, 0])


def test_covers_follow_their_definitions():
    lens = np.random.default_rng(1).exponential(size=(1000, 1))
    uniform = UniformCover(n_intervals=5, overlap=0.2).fit(lens)
    widths = uniform.upper_[:, 0] - uniform.lower_[:, 0]
    np.testing.assert_allclose(widths, np.ptp(lens) / (5 * 0.8))
    step = np.diff(uniform.lower_[:, 0])
    np.testing.assert_allclose((widths[:-1] - step) / widths[:-1], 0.2)  # shared fraction = overlap
    balanced = BalancedCover(n_intervals=5, overlap=0.0).fit(lens)
    counts = np.asarray(balanced.transform(lens).sum(axis=0)).ravel()
    assert counts.min() >= 195 and counts.max() <= 205  # equal shares of the points
    membership = uniform.transform(lens)
    assert membership.shape == (1000, 5)
    assert np.all(np.asarray(membership.sum(axis=1)).ravel() >= 1)  # the cover covers


def test_any_scikit_learn_clusterer_is_accepted():
    X, _ = relu_gaussian_mixture(600, dim=16, n_clusters=3, spread=0.3, seed=2, dtype=np.float64)
    mapper = Mapper(n_intervals=5, clusterer=AgglomerativeClustering(n_clusters=2)).fit(X)
    graph = mapper.graph_
    assert mapper.eps_ is None
    assert graph.n_nodes >= 2
    per_element = np.bincount(graph.node_element)
    assert per_element.max() <= 2
    threaded = Mapper(n_intervals=5, clusterer=AgglomerativeClustering(n_clusters=2), n_jobs=2).fit(X).graph_
    assert threaded == graph


def test_warm_start_recover_reuses_the_neighbour_search():
    X, _ = relu_gaussian_mixture(4000, dim=64, n_clusters=8, seed=3)
    mapper = Mapper(n_intervals=20, overlap=0.3, eps=6.0, min_samples=8, warm_start=True).fit(X)
    search = mapper.neighbors_
    pairs = search.pairs_computed
    assert pairs > 0
    # A finer cover lies almost entirely inside the chunk pairs already examined:
    # only the few chunk pairs it newly joins are computed.
    mapper.set_params(n_intervals=30, overlap=0.25).fit(X)
    assert mapper.neighbors_ is search
    assert search.pairs_computed - pairs < 0.1 * pairs
    pairs = search.pairs_computed
    mapper.fit(X)  # the same cover again: nothing at all
    assert search.pairs_computed == pairs
    fresh = Mapper(n_intervals=30, overlap=0.25, eps=6.0, min_samples=8).fit(X).graph_
    assert mapper.graph_ == fresh
    # A coarser cover only examines the chunk pairs it adds, and is still exact.
    mapper.set_params(n_intervals=8, overlap=0.5).fit(X)
    assert mapper.neighbors_ is search and search.pairs_computed > pairs
    assert mapper.graph_ == Mapper(n_intervals=8, overlap=0.5, eps=6.0, min_samples=8).fit(X).graph_
    # Changed data is never served from the old search.
    X2 = X.copy()
    X2[0, 0] += 1.0
    mapper.fit(X2)
    assert mapper.neighbors_ is not search


def test_warm_start_on_a_dense_graph_runs_the_pruned_search():
    # 7,000 points all within eps of each other, in few wide elements: ~3,500 pairs per
    # point within eps, more than the shared graph pays for.
    from topoact.mapper.builder import SHARED_GRAPH_MAX_PAIRS_PER_POINT

    X = np.random.default_rng(0).normal(size=(7000, 8))
    params = dict(n_intervals=2, overlap=0.5, eps=100.0, min_samples=5)
    mapper = Mapper(**params, warm_start=True).fit(X)
    assert mapper.pairs_within_estimate_ > SHARED_GRAPH_MAX_PAIRS_PER_POINT * len(X) and mapper.neighbors_ is None
    assert mapper.graph_ == Mapper(**params).fit(X).graph_
    mapper.set_params(n_intervals=3).fit(X)  # a re-cover: decided once for this data and eps
    assert mapper.neighbors_ is None
    assert mapper.graph_ == Mapper(**{**params, "n_intervals": 3}).fit(X).graph_


def test_progress_is_reported_in_order():
    X, _ = relu_gaussian_mixture(1000, dim=16, seed=0)
    seen = []
    Mapper(n_intervals=5).fit(X, progress=lambda fraction, message: seen.append((fraction, message)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)
    assert seen[0][0] == 0.0 and seen[-1] == (1.0, "done")
    # Each cover element reports as it is clustered (5 elements), between start and end.
    per_element = [f for f, message in seen if message.startswith("cover element") and message.endswith("clustered")]
    assert len(per_element) == 5 and 0.0 < per_element[0] < per_element[-1] < 1.0
    seen.clear()
    Mapper(n_intervals=5, warm_start=True).fit(X, progress=lambda fraction, message: seen.append((fraction, message)))
    assert any(message == "neighbour search" for _, message in seen)


def test_cover_always_covers_the_extremes():
    # Values where (min + r) - r != min in floating point: KeplerMapper drops the minimum.
    rng = np.random.default_rng(0)
    for _ in range(200):
        lens = rng.normal(size=(50, 1)) * rng.uniform(0.01, 100)
        for n_intervals in (1, 3, 7):
            membership = UniformCover(n_intervals=n_intervals, overlap=0.0).fit(lens).transform(lens)
            assert np.all(np.asarray(membership.sum(axis=1)).ravel() >= 1)


def test_parts_can_be_passed_as_objects_and_the_functional_core_agrees():
    from topoact.mapper import mapper_graph

    X, _ = relu_gaussian_mixture(800, dim=16, n_clusters=4, seed=5, dtype=np.float64)
    by_name = Mapper(lens="l1norm", cover="balanced", n_intervals=6, overlap=0.4, eps=2.0, min_samples=4).fit(X)
    by_object = Mapper(lens=NormLens(ord=1), cover=BalancedCover(n_intervals=6, overlap=0.4),
                       clusterer=DBSCAN(eps=2.0, min_samples=4)).fit(X)
    assert by_object.graph_.node_ids == by_name.graph_.node_ids
    assert all(np.array_equal(a, b) for a, b in zip(by_object.graph_.node_members, by_name.graph_.node_members))
    lens = NormLens(ord=1).fit_transform(X)
    cover = BalancedCover(n_intervals=6, overlap=0.4).fit(lens)
    core = mapper_graph(X, lens, cover.transform(lens), DBSCAN(eps=2.0, min_samples=4))
    assert [m.tolist() for m in core.node_members] == [m.tolist() for m in by_name.graph_.node_members]
    assert np.array_equal(core.edges, by_name.graph_.edges)
