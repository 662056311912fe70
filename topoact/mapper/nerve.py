"""The nerve: an edge between two nodes that share enough members."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from topoact.mapper.graph import node_membership

__all__ = ["nerve_edges"]


def nerve_edges(
    node_members: list[np.ndarray], n_points: int, min_intersection: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Edges between nodes sharing at least ``min_intersection`` members.

    Parameters
    ----------
    node_members : list of int arrays
        Members of each node.
    n_points : int
        Number of data rows.
    min_intersection : int, default=1

    Returns
    -------
    edges : ndarray of int64, shape (n_edges, 2)
        Node positions ``(i, j)``, ``i < j``, sorted lexicographically.
    shared : ndarray of int64, shape (n_edges,)
        Members each edge's nodes share.
    """
    if min_intersection < 1:
        raise ValueError(f"min_intersection must be >= 1, got {min_intersection}")
    n_nodes = len(node_members)
    if n_nodes < 2:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int64)
    membership = node_membership(node_members, n_points, dtype=np.int32)
    overlap = sp.triu(membership.T @ membership, k=1).tocoo()
    keep = overlap.data >= min_intersection
    edges = np.stack([overlap.row[keep], overlap.col[keep]], axis=1).astype(np.int64)
    shared = overlap.data[keep].astype(np.int64)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    return edges[order], shared[order]
