"""Mapper on Ray: every cover element clustered by one Ray task, the nerve built by the caller.

The data goes into the object store once (``ray.put``); a task receives it as a
read-only NumPy view of the node's shared copy (no copy of ``X`` per task) and copies
only its own element's rows. Tasks are submitted largest element first, so the
longest ones start first and the small ones fill the gaps at the end.

This is the Ray engine's side of the core's
:class:`~topoact.mapper.protocols.ElementRunner` protocol
(:meth:`topoact.distributed.RayEngine.cluster_elements` calls :func:`cluster_elements`).
The local engine computes one epsilon-graph for all cover elements and derives each
element's DBSCAN from it; a task here computes its element's epsilon-graph alone
(:class:`topoact.mapper.elements.ElementClustering`). Both decide every pair exactly (float64),
number clusters by their smallest core row and resolve border points from ``X``, so
the labels, and the graph, are the same. The price: pairs that lie in the overlap of
two elements are examined by both tasks (see docs/scaling.md).

A task whose worker dies is retried by Ray (``max_retries``); an error raised by the
clustering itself is not retried and reaches the caller as the original exception.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from topoact.distributed.engine import RayEngine, connect, raise_worker_error
from topoact.mapper.elements import ElementClustering
from topoact.progress import Progress

#: How often Ray reruns an element whose worker died before giving up.
MAX_RETRIES = 3

#: Called on the worker with the element number before it is clustered (fault injection).
ElementHook = Callable[[int], Any]


def _cluster_one(X: np.ndarray, members: np.ndarray, element: int, job: ElementClustering,
                 on_element: ElementHook | None):
    """The body of a task: one element's labels (None when a generic clusterer skips it) and what it cost."""
    if on_element is not None:
        on_element(element)
    started = time.perf_counter()
    stats: dict = {"element": element, "size": int(members.size)}
    labels = job(X, members, stats=stats)
    stats["seconds"] = time.perf_counter() - started
    return labels, stats


def cluster_elements(
    X: np.ndarray,
    elements: Sequence[np.ndarray],
    clusterer: Any,
    *,
    engine: RayEngine,
    progress: Progress | None = None,
    on_element: ElementHook | None = None,
    stats: list[dict] | None = None,
) -> list[np.ndarray | None]:
    """Labels of every cover element, each clustered by a Ray task.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data (checked by the caller); put in the object store once.
    elements : sequence of int arrays
        Sorted rows of each cover element.
    clusterer : topoact DBSCAN or scikit-learn clusterer
        As for :func:`topoact.mapper.mapper_graph`.
    engine : RayEngine
    progress : callable(fraction, message), optional
        Called here as elements finish on the cluster.
    on_element : callable, optional
        Run on the worker with the element number before it is clustered (tests
        inject faults with it).
    stats : list, optional
        Receives one dict per element, in element order: ``element``, ``size``,
        ``seconds`` on its worker and, for DBSCAN, ``pairs_computed`` and ``n_edges``.

    Returns
    -------
    list
        Per element, in element order: labels (``-1`` noise), or None for an element
        a generic clusterer skips as too small.
    """
    ray = connect(engine)
    job = ElementClustering.of(X, clusterer)  # eps resolved here, once
    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(_cluster_one)
    x_ref = ray.put(X)
    job_ref = ray.put(job)
    order = sorted(range(len(elements)), key=lambda e: (-len(elements[e]), e))  # largest first
    pending = {task.remote(x_ref, elements[e], e, job_ref, on_element): e for e in order}
    labels: list[np.ndarray | None] = [None] * len(elements)
    costs: list[dict] = [{} for _ in elements]
    total = len(elements)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                element = pending.pop(ref)
                labels[element], costs[element] = ray.get(ref)
            if progress is not None:
                progress((total - len(pending)) / total, "clustering cover elements on Ray")
    except BaseException as exc:
        for ref in pending:
            ray.cancel(ref, force=False)
        raise_worker_error(exc, "the Mapper clustering")
    if stats is not None:
        stats.extend(costs)
    return labels
