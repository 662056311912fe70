"""Distances between Mapper graphs, in [0, 1] so that they compare across models.

:func:`flow_distance`
    How much the grouping of the *same inputs* changes: normalised variation of
    information of the member flow (0: the same nodes hold the same points).
:func:`shape_distance`
    How much the *shape* changes, whatever the inputs: Gromov-Wasserstein distance between
    the graphs as measure networks (nodes weighted by size, hop distances scaled by the
    diameter), as in the optimal-transport comparisons of Mapper graphs of Bei Wang's group.
"""

from __future__ import annotations

import math
import os

import numpy as np
from scipy.sparse.csgraph import shortest_path

from topoact import TopoactError
from topoact.compare.flow import MemberFlow, member_flow
from topoact.mapper.graph import MapperGraph

__all__ = ["flow_distance", "shape_distance", "graph_distance", "DISTANCES", "MAX_SHAPE_NODES"]

#: The distances :func:`graph_distance` knows.
DISTANCES: tuple[str, ...] = ("flow", "shape")
#: Gromov-Wasserstein costs about ``n^3`` per iteration: larger graphs are refused.
MAX_SHAPE_NODES = 1500


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def flow_distance(flow: MemberFlow) -> float:
    """Normalised variation of information between the node groupings of a member flow.

    ``1 - I(A; B) / H(A, B)`` over the joint distribution of points on (node of A, node
    of B), noise counting as a node: 0 when the two graphs group the points identically,
    1 when knowing a point's node in A says nothing about its node in B.

    Parameters
    ----------
    flow : MemberFlow
        From :func:`~topoact.compare.member_flow`.

    Returns
    -------
    float in [0, 1]
    """
    joint = flow.weights / flow.weights.sum()
    h_joint = _entropy(joint.ravel())
    if h_joint == 0.0:
        return 0.0
    mutual = _entropy(joint.sum(axis=1)) + _entropy(joint.sum(axis=0)) - h_joint
    return float(min(max(1.0 - mutual / h_joint, 0.0), 1.0))


def _measure_network(graph: MapperGraph) -> tuple[np.ndarray, np.ndarray]:
    """Node weights (size shares) and hop distances scaled into [0, 1): other components at 1."""
    hops = shortest_path(graph.adjacency_matrix(), directed=False, unweighted=True)
    finite = np.isfinite(hops)
    diameter = hops[finite].max() if finite.any() else 0.0
    distances = np.where(finite, hops / (diameter + 1.0), 1.0)
    sizes = graph.node_sizes.astype(np.float64)
    return distances, sizes / sizes.sum()


def shape_distance(a: MapperGraph, b: MapperGraph, *, max_nodes: int = MAX_SHAPE_NODES) -> float:
    """Gromov-Wasserstein distance between two Mapper graphs as measure networks.

    Each graph is a metric measure space: its nodes, weighted by member count, with hop
    distances divided by (diameter + 1) and distance 1 between components. The distance
    is the square root of the square-loss GW discrepancy found by POT's solver (the better
    of two deterministic starts: the independent coupling, and nodes matched from centre to
    periphery): 0 for the same shape, at most 1.
    It needs no shared inputs, so layers of different models compare on one scale.

    Parameters
    ----------
    a, b : MapperGraph
    max_nodes : int, default=1500
        Larger graphs raise (the solver's time grows with the cube of the node count).

    Returns
    -------
    float in [0, 1]
    """
    for name in ("PYTORCH", "JAX", "CUPY", "TENSORFLOW"):  # numpy arrays only: skip POT's slow backend imports
        os.environ.setdefault(f"POT_BACKEND_DISABLE_{name}", "1")
    import ot

    for graph, name in ((a, "first"), (b, "second")):
        if graph.n_nodes == 0:
            raise TopoactError(f"the {name} graph has no nodes: no shape to compare")
        if graph.n_nodes > max_nodes:
            raise TopoactError(f"the {name} graph has {graph.n_nodes} nodes; shape_distance takes at most {max_nodes} "
                               "(use fewer intervals)")
    ca, pa = _measure_network(a)
    cb, pb = _measure_network(b)
    # GW is not convex: start from the independent coupling and from the monotone coupling of
    # the nodes ranked by eccentricity (centre to periphery), keep the better optimum
    starts = [np.outer(pa, pb), ot.emd_1d(_centrality_rank(ca), _centrality_rank(cb), pa, pb, dense=True)]
    losses = []
    for start in starts:
        _, log = ot.gromov.gromov_wasserstein(ca, cb, pa, pb, loss_fun="square_loss", G0=start, max_iter=200,
                                              tol_rel=1e-6, log=True)
        losses.append(float(log["gw_dist"]))
    return float(math.sqrt(min(max(min(losses), 0.0), 1.0)))


def _centrality_rank(distances: np.ndarray) -> np.ndarray:
    """Each node's rank in (eccentricity, mean distance) order, scaled into [0, 1]."""
    order = np.lexsort((distances.mean(axis=1), distances.max(axis=1)))
    rank = np.empty(order.size, dtype=np.float64)
    rank[order] = np.arange(order.size)
    return rank / max(order.size - 1, 1)


def graph_distance(a: MapperGraph, b: MapperGraph, kind: str = "flow") -> float:
    """The ``kind`` distance of :data:`DISTANCES` between two graphs (``flow`` needs the same inputs)."""
    if kind == "flow":
        return flow_distance(member_flow(a, b))
    if kind == "shape":
        return shape_distance(a, b)
    raise TopoactError(f"unknown distance {kind!r}; valid: {', '.join(DISTANCES)}")
