"""The three seams of the Mapper core: what a cover, a clusterer and an engine must offer.

The core (:class:`~topoact.mapper.Mapper`, :func:`~topoact.mapper.mapper_graph`) takes
arrays and returns a :class:`~topoact.mapper.MapperGraph`; it knows no engine. Where the
cover elements are clustered is a plug-in the caller passes as ``engine``: any object with
a ``cluster_elements`` method (an :class:`ElementRunner`), for example
:class:`topoact.distributed.RayEngine`. A runner ships :class:`ElementClustering` (the
work of one element, picklable) to wherever it runs and returns the labels in element
order; the graph is then the one the local engine builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from topoact.progress import Progress

__all__ = ["Cover", "Clusterer", "ElementRunner"]


@runtime_checkable
class Cover(Protocol):
    """Overlapping elements of the lens range (a scikit-learn style estimator, cloned per fit)."""

    def fit(self, lens_values: np.ndarray) -> Any:
        """Learn the elements from the lens values of shape (n_samples, n_lens_dims)."""

    def transform(self, lens_values: np.ndarray) -> sp.spmatrix:
        """Membership matrix of shape (n_samples, n_elements): nonzero where a sample is in an element."""


@runtime_checkable
class Clusterer(Protocol):
    """Clusters the points of one cover element (a scikit-learn clusterer, cloned per element)."""

    def fit_predict(self, X: np.ndarray) -> np.ndarray:
        """One label per row of ``X``; ``-1`` for noise."""


@runtime_checkable
class ElementRunner(Protocol):
    """An engine that clusters every cover element, wherever it runs them.

    ``Mapper(engine=runner)`` and ``mapper_graph(..., engine=runner)`` call it with the
    checked data, the sorted rows of every cover element and the resolved clusterer (a
    topoact DBSCAN with its ``eps_`` set, or a scikit-learn clusterer);
    ``ElementClustering.of(X, clusterer)`` is the per-element work to ship.
    """

    def cluster_elements(
        self,
        X: np.ndarray,
        elements: Sequence[np.ndarray],
        clusterer: Any,
        *,
        progress: Progress | None = None,
    ) -> list[np.ndarray | None]:
        """Per element, in element order: labels (``-1`` noise), or None for an element skipped as too small."""
