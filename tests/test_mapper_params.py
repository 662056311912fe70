"""Bad parameters and degenerate data get clear errors or a documented outcome."""

import numpy as np
import pytest

from topoact.mapper import Mapper


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(200, 4))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"overlap": 1.0}, "'overlap' parameter of Mapper must be a float in the range [0.0, 1.0)"),
        ({"overlap": -0.1}, "'overlap' parameter"),
        ({"n_intervals": 0}, "'n_intervals' parameter of Mapper must be an int in the range [1, inf)"),
        ({"eps": -1.0}, "'eps' parameter"),
        ({"eps": "sometimes"}, "'eps' parameter"),
        ({"min_samples": 0}, "'min_samples' parameter"),
        ({"metric": "chebyshev"}, "'metric' parameter"),
        ({"lens": "entropy"}, "unknown lens 'entropy'; valid lenses: l2norm"),
        ({"cover": "random"}, "'cover' parameter"),
        ({"clusterer": "kmeans"}, "'clusterer' parameter"),
        ({"min_intersection": 0}, "'min_intersection' parameter"),
    ],
)
def test_bad_parameters_are_named_in_the_error(X, params, message):
    with pytest.raises(ValueError) as error:
        Mapper(**params).fit(X)
    assert message in str(error.value)


def test_empty_data():
    with pytest.raises(ValueError, match="X is empty"):
        Mapper().fit(np.empty((0, 5)))


def test_one_dimensional_data_is_rejected_with_its_shape():
    with pytest.raises(ValueError, match="X must be 2-D"):
        Mapper().fit(np.arange(10.0))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_rows_are_reported_with_their_position(X, bad):
    X = X.copy()
    X[17, 2] = bad
    X[40, 0] = bad
    with pytest.raises(ValueError, match=r"2 row\(s\) with NaN or Inf \(first: row 17\)"):
        Mapper().fit(X)


def test_one_point_is_noise_or_one_node():
    point = np.array([[1.0, 2.0, 3.0]])
    graph = Mapper(min_samples=5).fit(point).graph_
    assert (graph.n_nodes, graph.n_noise) == (0, 1)
    graph = Mapper(min_samples=1).fit(point).graph_
    assert graph.n_nodes == 1 and graph.node_members[0].tolist() == [0]


def test_all_points_equal_make_one_node_with_everything():
    X = np.ones((50, 3))
    mapper = Mapper(n_intervals=10, min_samples=5).fit(X)
    graph = mapper.graph_
    assert mapper.cover_.n_elements_ == 1  # a constant lens gets a single element
    assert graph.n_nodes == 1
    assert graph.node_members[0].tolist() == list(range(50))


def test_constant_lens_dimension_collapses_to_one_interval():
    X = np.random.default_rng(1).normal(size=(100, 3))
    lens = np.c_[np.zeros(100), X[:, 0]]
    mapper = Mapper(lens=lens, n_intervals=4, eps=5.0).fit(X)
    assert mapper.cover_.n_elements_ == 4


def test_lens_with_nan_is_rejected(X):
    lens = X[:, 0].copy()
    lens[3] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        Mapper(lens=lens).fit(X)


def test_lens_array_of_wrong_length_is_rejected(X):
    with pytest.raises(ValueError, match="lens array has 5 rows but X has 200"):
        Mapper(lens=np.arange(5.0)).fit(X)


def test_cosine_with_zero_rows_is_rejected(X):
    X = X.copy()
    X[3] = 0.0
    with pytest.raises(ValueError, match="cosine distance is undefined for all-zero rows; X has 1"):
        Mapper(metric="cosine").fit(X)


def test_non_numeric_data_is_rejected():
    with pytest.raises(ValueError, match="real numbers"):
        Mapper().fit(np.array([["a", "b"], ["c", "d"]]))
