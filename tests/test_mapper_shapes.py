"""Known shapes give the topology they should."""

import numpy as np

from topoact.mapper import Mapper
from topoact.synthetic import blobs, noisy_circle, y_shape


def test_noisy_circle_has_one_loop():
    X = noisy_circle(800, noise=0.03, seed=0)
    graph = Mapper(lens=X[:, 0].copy(), n_intervals=8, overlap=0.3, eps=0.15, min_samples=3).fit(X).graph_
    assert graph.n_components == 1
    assert graph.n_loops == 1
    assert graph.branch_points.size == 0


def test_y_has_one_branch_point():
    X = y_shape(400, noise=0.02, seed=0)
    graph = Mapper(lens=X[:, 1].copy(), n_intervals=10, overlap=0.3, eps=0.1, min_samples=3).fit(X).graph_
    assert graph.n_components == 1
    assert graph.n_loops == 0
    assert graph.branch_points.size == 1
    # The branch point sits where the arms meet (lens, i.e. height, near 1).
    branch = graph.branch_points[0]
    assert abs(graph.lens_mean[branch, 0] - 1.0) < 0.25


def test_separated_blobs_give_one_component_each():
    X, labels = blobs(n_blobs=3, n_per_blob=300, dim=5, seed=0)
    graph = Mapper(n_intervals=10, overlap=0.3, eps=2.5, min_samples=5).fit(X).graph_
    assert graph.n_components == 3
    for nodes in graph.components():
        members = np.unique(np.concatenate([graph.node_members[i] for i in nodes]))
        assert np.unique(labels[members]).size == 1  # a component holds one blob only


def test_two_circles_give_two_loops_in_two_components():
    first = noisy_circle(600, seed=1)
    second = noisy_circle(600, seed=2) + np.array([5.0, 0.0])
    X = np.vstack([first, second])
    graph = Mapper(lens="pca", n_intervals=16, overlap=0.35, eps=0.15, min_samples=3).fit(X).graph_
    assert graph.n_components == 2
    assert graph.n_loops == 2
