"""topoact's Mapper equals KeplerMapper's (the library TopoAct used) node for node.

The only differences allowed are those DBSCAN itself leaves open: a border point
next to two clusters, and a pair of points whose distance is within float rounding
of eps. Every difference found is checked to be one of those.
"""

import kmapper
import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.cluster import DBSCAN as SklearnDBSCAN

from topoact.mapper import Mapper
from topoact.synthetic import blobs, noisy_circle, relu_gaussian_mixture, y_shape


def kmapper_graph(X, lens, n_intervals, overlap, eps, min_samples, metric):
    mapper = kmapper.KeplerMapper(verbose=0)
    return mapper.map(
        lens,
        X,
        cover=kmapper.Cover(n_cubes=n_intervals, perc_overlap=overlap),
        clusterer=SklearnDBSCAN(eps=eps, min_samples=min_samples, metric=metric),
    )


def kmapper_nodes_by_cube(graph):
    """kmapper node ids are cube{i}_cluster{j}, i counting non-empty cubes only."""
    by_cube = {}
    for node_id, members in graph["nodes"].items():
        cube = int(node_id.split("_")[0][4:])
        by_cube.setdefault(cube, set()).add(frozenset(members))
    return by_cube


def explained(points, partition_a, partition_b, eps, min_samples, metric):
    """Whether two clusterings of one cover element differ only where DBSCAN is open.

    Returns a list of unexplained differing points (empty when all is explained).
    """
    distance = cdist(points, points, metric=metric)
    within = distance <= eps
    near_eps = np.abs(distance - eps) <= 1e-9 * max(eps, 1.0)
    core = within.sum(axis=1) >= min_samples
    label_a = np.full(len(points), -1)
    label_b = np.full(len(points), -1)
    for k, members in enumerate(sorted(partition_a, key=min)):
        label_a[list(members)] = k
    for k, members in enumerate(sorted(partition_b, key=min)):
        label_b[list(members)] = k
    # Core points must be clustered identically (as a partition).
    pairs = {(a, b) for a, b in zip(label_a[core], label_b[core])}
    a_to_b, b_to_a = {}, {}
    bad = []
    for a, b in pairs:
        if a_to_b.setdefault(a, b) != b or b_to_a.setdefault(b, a) != a:
            bad.append(("core partition differs", a, b))
    for i in range(len(points)):
        same = a_to_b.get(label_a[i], "x") == label_b[i] or (label_a[i] == -1 and label_b[i] == -1)
        if same:
            continue
        rounding = near_eps[i].any() or near_eps[:, within[i]].any()
        clusters_next_to = {label_a[j] for j in np.flatnonzero(within[i] & core)}
        open_border = not core[i] and len(clusters_next_to) >= 2
        if not (rounding or open_border):
            bad.append(i)
    return bad


CASES = [
    # data, lens, n_intervals, overlap, eps, min_samples, metric
    ("blobs", "l2norm", 10, 0.3, 1.9, 5, "euclidean"),
    ("blobs", "l2norm", 5, 0.5, 2.5, 3, "euclidean"),
    ("circle", "x", 8, 0.3, 0.12, 3, "euclidean"),
    ("y", "y", 12, 0.25, 0.1, 4, "euclidean"),
    ("relu", "l2norm", 15, 0.3, None, 5, "euclidean"),
    ("relu", "l2norm", 20, 0.45, None, 10, "euclidean"),
    ("relu", "l2norm", 10, 0.2, None, 5, "cosine"),
    ("relu", "pca2", 6, 0.3, None, 5, "euclidean"),
]


def make_case(name):
    if name == "blobs":
        X, _ = blobs(n_blobs=4, n_per_blob=300, dim=6, seed=1)
    elif name == "circle":
        X = noisy_circle(800, seed=2)
    elif name == "y":
        X = y_shape(300, seed=3)
    else:
        X, _ = relu_gaussian_mixture(2500, dim=48, n_clusters=6, spread=0.4, seed=4, dtype=np.float64)
    return X


def lens_for(X, lens_name):
    if lens_name == "x":
        return X[:, :1].copy()
    if lens_name == "y":
        return X[:, 1:2].copy()
    return lens_name


@pytest.mark.parametrize("border", ["first", "nearest"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}-{c[3]}-{c[6]}" for c in CASES])
def test_same_graph_as_keplermapper(case, border):
    name, lens_name, n_intervals, overlap, eps, min_samples, metric = case
    X = make_case(name)
    ours = Mapper(
        lens=lens_for(X, lens_name), n_intervals=n_intervals, overlap=overlap,
        eps=eps if eps is not None else "auto", min_samples=min_samples, metric=metric, border=border,
    ).fit(X)
    eps_used = ours.eps_
    graph = ours.graph_
    lens_values = ours.lens_values_
    theirs = kmapper_graph(X, lens_values, n_intervals, overlap, eps_used, min_samples, metric)
    assert graph.n_nodes > 3, "the case should produce a non-trivial graph"

    # Node for node, per cover element.
    nonempty = [e for e in range(ours.cover_.n_elements_) if ours.cover_.transform(lens_values)[:, e].nnz]
    kmapper_cube = {element: i for i, element in enumerate(nonempty)}
    their_nodes = kmapper_nodes_by_cube(theirs)
    our_nodes = {}
    for members, element in zip(graph.node_members, graph.node_element):
        our_nodes.setdefault(kmapper_cube[int(element)], set()).add(frozenset(members.tolist()))
    membership = ours.cover_.transform(lens_values).tocsc()
    n_differences = 0
    for element, cube in kmapper_cube.items():
        mine, kms = our_nodes.get(cube, set()), their_nodes.get(cube, set())
        if mine == kms:
            continue
        n_differences += 1
        rows = membership[:, element].nonzero()[0]
        position = {row: k for k, row in enumerate(rows)}
        local = lambda part: [frozenset(position[r] for r in members) for members in part]  # noqa: E731
        bad = explained(X[rows], local(mine), local(kms), eps_used, min_samples, metric)
        assert not bad, f"element {element}: unexplained differences {bad[:5]}"
    if border == "first":
        # scikit-learn's own border rule: nothing is left open but rounding.
        assert n_differences <= 1

    # Edge for edge (when the nodes are the same sets).
    our_sets = [frozenset(m.tolist()) for m in graph.node_members]
    if set(our_sets) == {frozenset(v) for v in theirs["nodes"].values()}:
        their_edges = {
            frozenset((frozenset(theirs["nodes"][a]), frozenset(theirs["nodes"][b])))
            for a, targets in theirs["links"].items()
            for b in targets
        }
        our_edges = {frozenset((our_sets[i], our_sets[j])) for i, j in graph.edges}
        assert our_edges == their_edges


def test_sklearn_dbscan_object_is_accepted_and_matches_exactly():
    X = make_case("relu")
    ours = Mapper(n_intervals=12, overlap=0.3, clusterer=SklearnDBSCAN(eps=2.0, min_samples=5)).fit(X)
    theirs = kmapper_graph(X, ours.lens_values_, 12, 0.3, 2.0, 5, "euclidean")
    assert ours.eps_ == 2.0
    assert {frozenset(m.tolist()) for m in ours.graph_.node_members} == {
        frozenset(v) for v in theirs["nodes"].values()
    }
