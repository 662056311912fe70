"""Clustering one cover element on its own: the unit of work an engine distributes.

The local engine clusters all elements of a fast DBSCAN from one shared epsilon-graph;
an engine that runs elements elsewhere (:class:`~topoact.mapper.protocols.ElementRunner`)
sends each element :class:`ElementClustering`, which computes that element's exact
epsilon-graph alone (:func:`~topoact.mapper.cluster.dbscan_rows`) or fits a fresh clone
of a generic clusterer. Both give the same labels, so the same graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import clone

from topoact.mapper.cluster import DBSCAN, dbscan_rows

__all__ = ["ElementClustering", "generic_labels", "is_fast_dbscan", "min_cluster_samples"]


def is_fast_dbscan(clusterer) -> bool:
    """Whether ``clusterer`` is a topoact DBSCAN that the shared epsilon-graph can serve."""
    return isinstance(clusterer, DBSCAN) and clusterer.fast_metric is not None


def generic_labels(X: np.ndarray, members: np.ndarray, clusterer, min_size: int) -> np.ndarray | None:
    """Labels of a cover element from a fresh clone of a scikit-learn clusterer (None when too small)."""
    if members.size < min_size:
        return None
    return np.asarray(clone(clusterer).fit_predict(X[members]))


def min_cluster_samples(clusterer) -> int:
    """Smallest element worth clustering (KeplerMapper's rule for generic clusterers)."""
    params = clusterer.get_params() if hasattr(clusterer, "get_params") else {}
    for name in ("n_clusters", "min_cluster_size", "min_samples"):
        value = params.get(name)
        if value and isinstance(value, Integral):
            return int(value)
    return 2


@dataclass(frozen=True)
class ElementClustering:
    """How one cover element is clustered alone; picklable, so an engine can ship it to workers.

    Build it with :meth:`of` (which resolves DBSCAN's eps once, on the caller) and call
    it as ``job(X, members)`` for each element.

    Parameters
    ----------
    clusterer : topoact DBSCAN or scikit-learn clusterer
    eps : float or None
        The resolved DBSCAN radius (fast DBSCAN only; None for a generic clusterer).
    min_size : int, default=2
        Smallest element a generic clusterer is run on.
    """

    clusterer: Any
    eps: float | None = None
    min_size: int = 2

    @classmethod
    def of(cls, X: np.ndarray, clusterer: Any) -> ElementClustering:
        """The work for ``clusterer`` on ``X``, eps resolved here."""
        if is_fast_dbscan(clusterer):
            eps = float(clusterer.eps_) if hasattr(clusterer, "eps_") else clusterer.resolve_eps(X)
            return cls(clusterer, eps=eps)
        return cls(clusterer, min_size=min_cluster_samples(clusterer))

    def __call__(self, X: np.ndarray, members: np.ndarray, stats: dict | None = None) -> np.ndarray | None:
        """Labels of ``X[members]`` (``-1`` noise), or None for an element a generic clusterer skips.

        ``stats`` (fast DBSCAN) receives ``pairs_computed`` and ``n_edges``.
        """
        if self.eps is None:
            return generic_labels(X, members, self.clusterer, self.min_size)
        clusterer = self.clusterer
        labels, _ = dbscan_rows(
            X, members, self.eps, int(clusterer.min_samples), metric=clusterer.fast_metric,
            border=clusterer.border, random_state=int(clusterer.random_state), stats=stats,
        )
        return labels
