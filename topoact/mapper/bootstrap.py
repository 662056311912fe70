"""Bootstrap Mapper graphs: the same parameters on resampled points, for feature confidence.

Carrière, Michel and Oudot ("Statistical analysis and parameter selection for Mapper",
JMLR 19(1), 2018) assess each feature of a Mapper graph by rebuilding the graph on
bootstrap resamples of the points. :func:`bootstrap_graphs` draws ``n`` rows with
replacement ``n_resamples`` times and rebuilds the graph of each resample with the
fitted estimator's lens values, cover and eps held fixed (the parameters whose graph is
being assessed). A row drawn several times counts that many times in DBSCAN's core
test.

With topoact's DBSCAN, a ``warm_start`` mapper's shared epsilon-graph serves every
resample (the edges between the drawn rows; no neighbour search is repeated);
otherwise each element of a resample runs the pruned exact DBSCAN with the rows'
multiplicities as weights, per-element eps (``eps="adaptive"``) included. Other
clusterers re-cluster each element of the resample (duplicates counted once).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from topoact import TopoactError
from topoact.mapper.builder import Mapper, check_data, mapper_graph
from topoact.mapper.elements import is_fast_dbscan
from topoact.mapper.graph import MapperGraph
from topoact.progress import Progress

__all__ = ["bootstrap_graphs", "check_resamples"]


def check_resamples(n_resamples) -> int:
    """``n_resamples`` as an int >= 1, or one clear error."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, Integral) or n_resamples < 1:
        raise TopoactError(
            f"the bootstrap needs a whole number of resamples >= 1, got {n_resamples!r}: "
            "pass e.g. 50 (more resamples, finer confidence)"
        )
    return int(n_resamples)


def bootstrap_graphs(
    mapper: Mapper,
    X,
    n_resamples: int,
    *,
    random_state: int = 0,
    progress: Progress | None = None,
) -> list[MapperGraph]:
    """Graphs of ``n_resamples`` bootstrap resamples of ``X`` with ``mapper``'s fitted parameters.

    Parameters
    ----------
    mapper : Mapper
        Fitted on ``X``.
    X : array-like of shape (n_samples, n_features)
        The data ``mapper`` was fitted on.
    n_resamples : int >= 1
    random_state : int
        Seed of the resamples (the same seed gives the same graphs).
    progress : callable(fraction, message), optional

    Returns
    -------
    list of MapperGraph
        One per resample; node members are rows of ``X`` (each drawn row once), and
        ``params["resample"]`` is the resample's number.
    """
    n_resamples = check_resamples(n_resamples)
    check_is_fitted(mapper, "graph_")
    X = check_data(X)
    if X.shape[0] != mapper.graph_.n_points:
        raise TopoactError(
            f"X has {X.shape[0]} rows but the mapper was fitted on {mapper.graph_.n_points}: "
            "pass the data it was fitted on"
        )
    lens_values = mapper.lens_values_
    membership = sp.csr_matrix(mapper.cover_.transform(lens_values))
    clusterer = mapper.clusterer_
    element_eps = mapper.element_eps_
    fast = is_fast_dbscan(clusterer)
    # A warm-start mapper's epsilon-graph serves every resample; otherwise each element
    # of each resample runs the pruned DBSCAN with the resample's multiplicities.
    neighbors = mapper.neighbors_ if fast and element_eps is None else None
    rng = np.random.default_rng(random_state)
    n = X.shape[0]
    graphs = []
    for r in range(n_resamples):
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n)
        resample_membership = sp.csr_matrix(membership.multiply((counts > 0)[:, None])).astype(bool)
        resample_membership.eliminate_zeros()
        graph = mapper_graph(
            X, lens_values, resample_membership, clusterer, neighbor_graph=neighbors,
            min_intersection=mapper.min_intersection, n_jobs=mapper.n_jobs,
            params={**mapper.graph_.params, "resample": r}, element_eps=element_eps,
            sample_weight=counts.astype(np.float64) if fast else None,
        )
        graphs.append(graph)
        if progress is not None:
            progress((r + 1) / n_resamples, f"resample {r + 1} of {n_resamples}")
    return graphs
