"""Exact epsilon-neighbour graphs for Mapper, computed once and shared by every cover element.

DBSCAN inside every cover element spends almost all of its time finding, for each
point, the points within ``eps`` of it. Mapper repeats that search in every cover
element, and overlapping elements repeat the pairs they share. This module computes
the epsilon-graph once, only for the pairs of points that share a cover element, and
remembers which pairs it has examined so that a new cover on the same data and
``eps`` only examines what is new (usually nothing).

How the search stays exact and fast:

* Points are grouped by their nearest *pivot* (k-means centres of a seeded sample)
  and, inside a group, cut into small *chunks* of consecutive lens values. Chunks are
  the unit of work.
* Two chunks are compared only if some cover element holds points of both (pairs
  that share no element never matter) and if the triangle inequality through the
  pivots does not already prove every pair between them farther apart than ``eps``.
* The remaining pairs are computed in float32 (``|x|^2 + |y|^2 - 2 x.y``) by a tile
  backend (:mod:`topoact.mapper.tiles`: numpy BLAS, or torch on CPU/CUDA);
  every pair whose float32 value lies within a rigorous rounding bound of ``eps`` is
  recomputed exactly in float64 from the difference vector. The decision
  ``distance <= eps`` is therefore the float64 one, whatever the threads, the
  pivots or the chunking.
* Chunk rows are processed by a thread pool over shared arrays (BLAS limited to one
  thread per worker); the results are merged in chunk order, so the graph is the
  same for any number of jobs.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from topoact.mapper.tiles import TileBackend, make_tiles

__all__ = [
    "EpsilonGraph", "PivotTable", "array_fingerprint", "can_fork", "estimate_pairs_within", "exact_within",
    "forked_map", "kmeans_pivots", "one_blas_thread", "reject_zero_rows", "resolve_n_jobs", "row_sqnorms",
    "search_pivots", "threaded_map",
]

T = TypeVar("T")
R = TypeVar("R")

_U32 = float(np.finfo(np.float32).eps) / 2  # unit round-off of float32
_U64 = float(np.finfo(np.float64).eps) / 2


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Number of worker threads for ``n_jobs`` (scikit-learn's convention).

    ``None`` means 1; ``-1`` means all cores; ``-2`` all but one, and so on.
    """
    import os

    n_cpu = os.cpu_count() or 1
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, n_cpu + 1 + n_jobs)
    return int(n_jobs)


_BLAS: list[ThreadpoolController] = []


def one_blas_thread():
    """Context manager holding BLAS to one thread (thin tiles, or one per worker thread).

    The libraries are found once per process: threadpoolctl's own ``threadpool_limits``
    scans them again on every call (milliseconds, paid per cover element).
    """
    if not _BLAS:
        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


def threaded_map(function: Callable[[T], R], items: Iterable[T], n_jobs: int) -> Iterator[R]:
    """``function(item)`` for each item, in order, on ``n_jobs`` threads with BLAS held to one thread each.

    At most ``n_jobs + 1`` items are in flight, so a caller that stops early (an error, a
    cancelled progress callback) waits for the running ones only. With ``n_jobs <= 1``
    everything runs on the calling thread and BLAS is left as it is.
    """
    items = list(items)
    if n_jobs <= 1 or len(items) < 2:
        for item in items:
            yield function(item)
        return
    with one_blas_thread(), ThreadPoolExecutor(max_workers=n_jobs) as pool:
        running: deque = deque()
        try:
            for item in items:
                running.append(pool.submit(function, item))
                if len(running) > n_jobs:
                    yield running.popleft().result()
            while running:
                yield running.popleft().result()
        finally:
            for future in running:
                future.cancel()


#: Work of the running :func:`forked_map` calls, by token: what a forked worker looks up.
_FORKED: dict[int, Callable] = {}
_FORK_TOKENS = itertools.count()


def _run_forked(token: int, item):
    return _FORKED[token](item)


def can_fork() -> bool:
    """Whether worker processes can be forked here (they then share the caller's arrays)."""
    return "fork" in multiprocessing.get_all_start_methods()


def forked_map(
    function: Callable[[T], R], items: Iterable[T], n_jobs: int, cost: Sequence[float] | None = None,
) -> Iterator[R]:
    """``function(item)`` for each item, in order, on ``n_jobs`` forked processes, BLAS held to one thread each.

    Threads share one interpreter lock, and much of a cover element's search is Python;
    forked processes run it on every core. They inherit the caller's memory (the data,
    the pivots, ``function`` itself: nothing is pickled but the items and the results),
    read-only in practice. Every item is queued at once, the costliest first (``cost``,
    one number per item: the workers then finish together); results are still given in
    item order, and a caller that stops early cancels the items not yet started. A
    worker that dies (the system out of memory) raises a :class:`RuntimeError` that
    says so.
    """
    items = list(items)
    if n_jobs <= 1 or len(items) < 2 or not can_fork():
        yield from threaded_map(function, items, n_jobs)
        return
    order = range(len(items)) if cost is None else np.argsort(-np.asarray(cost, dtype=np.float64), kind="stable")
    token = next(_FORK_TOKENS)
    _FORKED[token] = function  # before the pool forks its workers (on the first submit)
    try:
        with one_blas_thread(), ProcessPoolExecutor(
            max_workers=n_jobs, mp_context=multiprocessing.get_context("fork")
        ) as pool:
            futures: list = [None] * len(items)
            try:
                for k in order:
                    futures[k] = pool.submit(_run_forked, token, items[k])
                for future in futures:
                    yield future.result()
            except BrokenProcessPool as error:
                raise RuntimeError(
                    "a worker process died (often: the system ran out of memory); retry with n_jobs=1"
                ) from error
            finally:
                for future in futures:
                    future.cancel()  # a no-op for those done or running
    finally:
        del _FORKED[token]


def array_fingerprint(array: np.ndarray) -> str:
    """Content hash of an array (shape, dtype and bytes); SHA-256, hardware-accelerated here."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256()
    digest.update(repr((array.shape, array.dtype.str)).encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


@dataclass
class _Layout:
    """Points grouped into chunks: the unit of work of the neighbour search."""

    order: np.ndarray  # permutation: chunk-ordered position -> original row
    position_of_row: np.ndarray  # inverse permutation
    chunk_start: np.ndarray  # (n_chunks + 1,) offsets into ``order``
    chunk_of_point: np.ndarray  # original row -> chunk
    pivot_low: np.ndarray  # (n_chunks, n_pivots) min distance of a chunk's points to each pivot
    pivot_high: np.ndarray  # (n_chunks, n_pivots) max distance
    pivot_slack: float  # rounding bound on the pivot distances

    @property
    def n_chunks(self) -> int:
        return int(self.chunk_start.size - 1)


@dataclass
class EpsilonGraph:
    """The graph of point pairs within ``eps``, restricted to pairs that share a cover element.

    Build it with :meth:`build`, then call :meth:`extend` with the membership of each
    cover you use; pairs already examined are not examined again. No copy of ``X``
    is made: tiles are gathered (and cast to float32) as they are computed.

    Parameters
    ----------
    eps : float
        Neighbourhood radius; a pair is an edge when its distance is ``<= eps``.
    metric : {"euclidean", "cosine"}
        Distance. Cosine distance is ``1 - cos(x, y)``.
    n_jobs : int or None
        Worker threads (scikit-learn convention); the result does not depend on it.
    chunk_size : int
        Largest number of points in a chunk.
    n_pivots : int
        Number of pivots (k-means centres of a sample) used for triangle-inequality pruning.
    random_state : int
        Seed of the pivot sample; affects speed only, never the graph.
    device : {"cpu", "cuda", "cuda:N", "auto"} or TileBackend
        Where the float32 tiles are computed (see :func:`~topoact.mapper.tiles.make_tiles`);
        the graph does not depend on it.
    """

    eps: float
    metric: str = "euclidean"
    n_jobs: int | None = None
    chunk_size: int = 192
    n_pivots: int = 64
    random_state: int = 0
    device: object = "cpu"
    # Fitted state.
    n_points: int = 0
    x_fingerprint: str = ""
    lens_fingerprint: str = ""
    pairs_computed: int = 0
    pairs_rechecked: int = 0
    _layout: _Layout | None = field(default=None, repr=False)
    _tiles: TileBackend | None = field(default=None, repr=False)
    _X: np.ndarray | None = field(default=None, repr=False)  # the caller's data, not copied
    _inv_norm: np.ndarray | None = field(default=None, repr=False)  # cosine: 1/|x|, layout order
    _sqnorm: np.ndarray | None = field(default=None, repr=False)  # squared norms used by tiles, layout order
    _examined: np.ndarray | None = field(default=None, repr=False)  # (n_chunks, n_chunks) bool
    # Edges (first < second, as layout positions) as a CSR matrix over the first end
    # (int8 ones, sorted column indices).
    _edge_matrix: sp.csr_matrix | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        X: np.ndarray,
        lens: np.ndarray,
        eps: float,
        *,
        metric: str = "euclidean",
        n_jobs: int | None = None,
        random_state: int = 0,
        chunk_size: int = 192,
        n_pivots: int = 64,
        device="cpu",
    ) -> "EpsilonGraph":
        """Prepare the search for ``X`` with lens values ``lens`` (no pairs examined yet).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Finite data, float32 or float64. Not copied; must not change afterwards.
        lens : ndarray of shape (n_samples, n_lens_dims)
            Lens values; chunks hold points of similar lens so that cover elements
            select few chunks.
        eps : float
            Neighbourhood radius.
        device : {"cpu", "cuda", "cuda:N", "auto"} or TileBackend
            Where tiles are computed; checked here (CUDA asked for where there is none
            raises ``ValueError``).
        """
        tiles = make_tiles(device)
        graph = cls(
            eps=float(eps),
            metric=metric,
            n_jobs=n_jobs,
            chunk_size=chunk_size,
            n_pivots=n_pivots,
            random_state=random_state,
            device=device,
        )
        graph._tiles = tiles
        graph._prepare(X, np.asarray(lens, dtype=np.float64).reshape(len(X), -1))
        return graph

    def _prepare(self, X: np.ndarray, lens: np.ndarray) -> None:
        if X.dtype not in (np.float32, np.float64):
            raise ValueError(f"X must be float32 or float64, got {X.dtype}")
        self._X = X
        self.n_points = X.shape[0]
        sqnorm = row_sqnorms(X)
        if self.metric == "cosine":
            reject_zero_rows(sqnorm)
            inv_norm = 1.0 / np.sqrt(sqnorm)
            self._layout = _make_layout(X, "cosine", lens, self.chunk_size, self.n_pivots, self.random_state)
            self._inv_norm = inv_norm[self._layout.order]
            self._sqnorm = np.ones(self.n_points, dtype=np.float64)
        else:
            self._layout = _make_layout(X, "euclidean", lens, self.chunk_size, self.n_pivots, self.random_state)
            self._sqnorm = sqnorm[self._layout.order]
        if self._tiles is None:
            self._tiles = make_tiles(self.device)
        self._tiles.bind(self._rows, self._sqnorm)
        n_chunks = self._layout.n_chunks
        self._examined = np.zeros((n_chunks, n_chunks), dtype=bool)
        self._edge_matrix = sp.csr_matrix((self.n_points, self.n_points), dtype=np.int8)

    # ------------------------------------------------------------------ search
    def extend(self, membership: sp.spmatrix, progress=None) -> int:
        """Examine every not-yet-examined chunk pair that shares a cover element.

        Parameters
        ----------
        membership : sparse matrix of shape (n_samples, n_elements), bool
            Cover membership of each point.
        progress : callable(done, total) or None
            Called as chunk rows finish.

        Returns
        -------
        int
            Number of chunk pairs examined by this call.
        """
        layout = self._layout
        chunk_member = _chunk_membership(layout, membership)
        shares = (chunk_member @ chunk_member.T).toarray() > 0
        needed = np.triu(shares) & ~self._examined
        rows = np.flatnonzero(needed.any(axis=1))
        if rows.size == 0:
            return 0
        # Triangle inequality through each pivot: every pair between chunks a and b is
        # at least gap(a, b) apart. Computed per row to keep memory at n_chunks x n_pivots.
        threshold = self._euclidean_threshold() + layout.pivot_slack
        candidates: list[np.ndarray] = []
        for a in rows:
            cols = np.flatnonzero(needed[a])
            gap = np.maximum(
                layout.pivot_low[cols] - layout.pivot_high[a],
                layout.pivot_low[a] - layout.pivot_high[cols],
            ).max(axis=1)
            candidates.append(cols[gap <= threshold])
        n_workers = min(resolve_n_jobs(self.n_jobs) if self._tiles.threaded else 1, len(rows))
        results: list = [None] * len(rows)

        def work(k: int):
            return self._search_row(int(rows[k]), candidates[k])

        with one_blas_thread():
            if n_workers <= 1:
                outcomes = map(work, range(len(rows)))
                self._collect(outcomes, results, progress)
            else:
                with ThreadPoolExecutor(max_workers=n_workers) as pool:
                    self._collect(pool.map(work, range(len(rows))), results, progress)
        for _, _, n_pairs, n_rechecked in results:
            self.pairs_computed += n_pairs
            self.pairs_rechecked += n_rechecked
        self._merge([(int(rows[k]), counts, second) for k, (counts, second, _, _) in enumerate(results)])
        # Only now: a search interrupted midway must not leave pairs marked as done.
        self._examined |= needed
        self._examined |= needed.T
        return int(needed.sum())

    @staticmethod
    def _collect(outcomes, results: list, progress) -> None:
        total = len(results)
        for k, outcome in enumerate(outcomes):
            results[k] = outcome
            if progress is not None:
                progress(k + 1, total)

    def _merge(self, blocks: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        """Add per-chunk edge blocks ``(chunk, counts per row, second ends)`` to the edge matrix.

        The new edges form their own CSR matrix (each row's block is sorted, rows of one
        chunk are contiguous), added to the old one by scipy's compiled sum: no pass in
        Python over the edges already held, which a re-cover of a dense graph would pay
        for every new element.
        """
        start = self._layout.chunk_start
        counts = np.zeros(self.n_points, dtype=np.int64)
        for chunk, chunk_counts, _ in blocks:
            counts[start[chunk] : start[chunk + 1]] += chunk_counts
        if not counts.any():
            return
        # Blocks in chunk order: their second ends concatenate into the rows' CSR order.
        ordered = sorted((b for b in blocks if b[2].size), key=lambda b: b[0])
        second = np.concatenate([b[2] for b in ordered])
        ptr = np.concatenate([[0], np.cumsum(counts)])
        index_dtype = np.int32 if ptr[-1] + self._edge_matrix.nnz < np.iinfo(np.int32).max else np.int64
        added = sp.csr_matrix(
            (np.ones(second.size, dtype=np.int8), second.astype(index_dtype), ptr.astype(index_dtype)),
            shape=(self.n_points, self.n_points),
        )
        added.sum_duplicates()  # canonical (sorted rows) for the compiled sum; a check when already so
        self._edge_matrix = self._edge_matrix + added if self._edge_matrix.nnz else added

    def _euclidean_threshold(self) -> float:
        """The radius in the space the chunks live in (unit vectors for cosine)."""
        if self.metric == "cosine":
            return float(np.sqrt(2.0 * self.eps))
        return self.eps

    def _rows(self, positions) -> np.ndarray:
        """float32 rows at layout ``positions`` (unit vectors for cosine)."""
        rows = np.asarray(self._X[self._layout.order[positions]], dtype=np.float32)
        if self._inv_norm is not None:
            rows = rows * self._inv_norm[positions, None].astype(np.float32)
        return rows

    def _search_row(self, a: int, cols: np.ndarray):
        """All pairs within eps between chunk ``a`` and chunks ``cols`` (each pair once)."""
        start = self._layout.chunk_start
        a0, a1 = int(start[a]), int(start[a + 1])
        no_edges = np.zeros(a1 - a0, dtype=np.int64), np.empty(0, dtype=np.int32)
        if cols.size == 0:
            return *no_edges, 0, 0
        lengths = start[cols + 1] - start[cols]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        col_pos = np.repeat(start[cols] - offsets, lengths) + np.arange(int(lengths.sum()))
        row_norm_max = float(self._sqnorm[a0:a1].max())
        col_norm_max = float(self._sqnorm[col_pos].max())
        threshold = self._euclidean_threshold()
        eps2 = threshold * threshold
        # Rigorous bound on |float32 value - exact value| for this tile, whatever the
        # summation order: rounding of the dot product and of the norms (gamma_D each),
        # the float32 cast of the inputs and the final additions.
        dim = self._X.shape[1]
        margin = 1.1 * (2 * dim + 16) * _U32 * (row_norm_max + col_norm_max) + 4 * _U32 * eps2
        diagonal = a1 - a0 if cols[0] == a else 0  # within chunk a: each pair once, i < j
        ri, ci, unsure = self._tiles.candidates(a0, a1, col_pos, eps2 + margin, eps2 - margin, diagonal)
        n_pairs = (a1 - a0) * col_pos.size
        if ri.size == 0:
            return *no_edges, n_pairs, 0
        second = col_pos[ci].astype(np.int32)
        n_unsure = int(unsure.sum())
        if n_unsure:
            keep = ~unsure
            keep[np.flatnonzero(unsure)] = self._exact_within(ri[unsure] + a0, second[unsure])
            ri, second = ri[keep], second[keep]
        return np.bincount(ri, minlength=a1 - a0), second, n_pairs, n_unsure

    def _exact_within(self, pos_a: np.ndarray, pos_b: np.ndarray) -> np.ndarray:
        """float64 decision ``distance <= eps`` for pairs given by layout positions."""
        order = self._layout.order
        return exact_within(self._X, order[pos_a], order[pos_b], self.eps, self.metric)

    # ------------------------------------------------------------------ result
    @property
    def n_edges(self) -> int:
        """Number of point pairs found within eps so far."""
        return int(self._edge_matrix.nnz)

    def element_graph(self, members: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """The epsilon-graph among ``members`` (row indices) as a one-way CSR matrix.

        Local vertex numbers follow the search layout. The matrix holds each unordered
        pair once, in the row of its smaller local number (sorted column indices), so
        ``first`` of :meth:`edges_within` is non-decreasing. The submatrix is cut
        by scipy's compiled CSR indexing (one pass over the members' edges).

        Returns
        -------
        graph : csr_matrix of shape (n_members, n_members), int8 ones
        local_of_member : ndarray of int64
            Local number of ``members[i]``.
        """
        members = np.asarray(members, dtype=np.int64)
        positions = self._layout.position_of_row[members]
        order = np.argsort(positions, kind="stable")
        local_of_member = np.empty(members.size, dtype=np.int64)
        local_of_member[order] = np.arange(members.size)
        sorted_positions = positions[order]
        sub = self._edge_matrix[sorted_positions][:, sorted_positions]
        sub.sort_indices()
        return sub, local_of_member

    def edges_within(self, members: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edges between ``members`` (row indices), in a local numbering.

        Local vertex numbers follow the search layout, which makes the returned
        ``first`` sorted, so a CSR matrix can be formed without sorting.

        Returns
        -------
        first, second : ndarray of int64
            Local numbers of both ends of each edge; each unordered pair once;
            ``first`` is non-decreasing.
        local_of_member : ndarray of int64
            Local number of ``members[i]``.
        """
        sub, local_of_member = self.element_graph(members)
        first = np.repeat(np.arange(sub.shape[0], dtype=np.int64), np.diff(sub.indptr))
        return first, sub.indices.astype(np.int64), local_of_member


def reject_zero_rows(sqnorm: np.ndarray) -> None:
    """Raise the cosine metric's error when some squared row norms are zero."""
    zero = int(np.sum(sqnorm == 0))
    if zero:
        raise ValueError(
            f"cosine distance is undefined for all-zero rows; X has {zero} such rows: "
            "drop them or use metric='euclidean'"
        )


def exact_within(X: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray, eps: float, metric: str) -> np.ndarray:
    """The float64 decision ``distance(X[rows_a[i]], X[rows_b[i]]) <= eps``: the rule every search follows.

    Euclidean: the norm of the float64 difference vector; cosine: ``1 - cos`` from
    float64 dot products and norms.
    """
    xa = np.asarray(X[rows_a], dtype=np.float64)
    xb = np.asarray(X[rows_b], dtype=np.float64)
    if metric == "cosine":
        na = np.sqrt(np.einsum("ij,ij->i", xa, xa))
        nb = np.sqrt(np.einsum("ij,ij->i", xb, xb))
        cosine = np.einsum("ij,ij->i", xa, xb) / (na * nb)
        return (1.0 - cosine) <= eps
    diff = xa - xb
    return np.sqrt(np.einsum("ij,ij->i", diff, diff)) <= eps


def row_sqnorms(X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Squared norms of ``X[rows]`` (all rows by default) in float64, block-wise (no full float64 copy)."""
    n = X.shape[0] if rows is None else rows.size
    out = np.empty(n, dtype=np.float64)
    for s in range(0, n, 8192):
        block = np.asarray(X[s : s + 8192] if rows is None else X[rows[s : s + 8192]], dtype=np.float64)
        out[s : s + 8192] = np.einsum("ij,ij->i", block, block)
    return out


def kmeans_pivots(sample: np.ndarray, n_pivots: int, random_state: int) -> np.ndarray:
    """k-means centres (float64) of ``sample``: pivots whose groups follow the data's clusters.

    Ten Lloyd iterations from random points, one run: pivots steer pruning, never a result.
    """
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # duplicates give fewer distinct centres: harmless
        return (
            KMeans(n_clusters=n_pivots, init="random", n_init=1, max_iter=10, random_state=random_state)
            .fit(np.asarray(sample, dtype=np.float64))
            .cluster_centers_
        )


@dataclass(frozen=True)
class PivotTable:
    """Bounds on the distances of rows of ``X`` to k-means pivots: one table per Mapper.

    Built once by :func:`search_pivots` (float32 products). For each row and pivot,
    ``low <= d(x, p) <= high`` holds for the exact row (float64, unit length for
    cosine) and the pivot, whatever the rounding: float32 values rounded outwards from
    a rigorous error bound. Pruning with them never changes a decision; pivots steer
    the work only. The shared epsilon-graph's layout and the pruned DBSCAN's leaves
    both read them.
    """

    pivots: np.ndarray  # (n_pivots, n_features) float32 values held as float64
    low: np.ndarray  # (n_rows, n_pivots) float32
    high: np.ndarray  # (n_rows, n_pivots) float32
    position: np.ndarray | None  # X row -> table row (None: the table covers X in order)

    @property
    def n_pivots(self) -> int:
        return int(self.pivots.shape[0])

    def lookup(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``low`` and ``high`` of X ``rows``."""
        at = rows if self.position is None else self.position[rows]
        return self.low[at], self.high[at]


def search_pivots(X: np.ndarray, rows: np.ndarray | None = None, *, metric: str = "euclidean",
                  random_state: int = 0, n_pivots: int = 64, points_per_pivot: int = 32,
                  n_jobs: int | None = None) -> PivotTable:
    """The :class:`PivotTable` of ``X[rows]`` (all rows by default).

    Pivots are the k-means centres of a seeded sample (of unit vectors for cosine), at
    most one per ``points_per_pivot`` rows. Every row's distance to them is one float32
    product; its bound allows for the product (``|fl(d^2) - d^2| <= gamma (|x|^2 + |p|^2)``),
    the square root, and the rows' float32 cast (float64 X, or unit length for cosine,
    normalised in float64). ``n_jobs`` threads share the rows; the table does not depend on it.
    """
    all_rows = rows is None
    rows = np.arange(X.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    n_pivots = int(max(1, min(n_pivots, rows.size // max(points_per_pivot, 1), rows.size)))
    rng = np.random.default_rng(random_state)
    sample = np.asarray(X[np.sort(rng.choice(rows, min(rows.size, 32 * n_pivots), replace=False))], dtype=np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(sample, axis=1, keepdims=True)
        sample = sample / np.where(norms > 0, norms, 1.0)
    pivots32 = kmeans_pivots(sample, n_pivots, random_state).astype(np.float32)
    pivots = pivots32.astype(np.float64)  # the pivots are the float32 points themselves
    pivot_sq = np.einsum("ij,ij->i", pivots, pivots)
    pivot_sq32 = np.nextafter(pivot_sq.astype(np.float32), np.float32(np.inf))  # rounded up
    dim = X.shape[1]
    gamma = 1.1 * (2 * dim + 8) * _U32  # |float32 d^2 - d^2| <= gamma (|x|^2 + |p|^2)
    # The float32 rows lie within cast_error |x| of the exact ones.
    cast_error = 0.0 if (X.dtype == np.float32 and metric != "cosine") else 4.0 * _U32
    low = np.empty((rows.size, n_pivots), dtype=np.float32)
    high = np.empty((rows.size, n_pivots), dtype=np.float32)
    down, up = np.float32(-np.inf), np.float32(np.inf)

    def bound_block(s: int) -> None:
        if metric == "cosine":
            block64 = np.asarray(X[rows[s : s + 8192]], dtype=np.float64)
            norms = np.sqrt(np.einsum("ij,ij->i", block64, block64))
            block = (block64 / np.where(norms > 0, norms, 1.0)[:, None]).astype(np.float32)
            del block64
        else:
            block = np.asarray(X[rows[s : s + 8192]], dtype=np.float32)
        block_sq = np.einsum("ij,ij->i", block, block)
        row_sq = block_sq * np.float32(1.0 + 2 * gamma) + np.float32(1e-30)  # upper bounds of |x|^2
        d = block @ pivots32.T
        d *= -2.0
        d += block_sq[:, None]
        d += pivot_sq32[None, :]
        np.maximum(d, 0.0, out=d)
        np.sqrt(d, out=d)
        e2 = (row_sq[:, None] + pivot_sq32[None, :]) * np.float32(gamma)
        # |d - d~| = |d^2 - d~^2| / (d + d~) <= min(sqrt(E), E / d~); plus the square root's
        # rounding and the rows' cast. Computed in float32: its own few roundings (all terms
        # positive, under 16 u32 relative) are covered by the factor 1.0001.
        error = np.minimum(np.sqrt(e2), e2 / np.maximum(d, np.float32(1e-30)))
        error += d * np.float32(4 * _U32)
        if cast_error:
            error += (np.sqrt(row_sq) * np.float32(cast_error))[:, None]
        error *= np.float32(1.0001)
        np.nextafter(d - error, down, out=low[s : s + 8192])
        np.nextafter(d + error, up, out=high[s : s + 8192])

    # Blocks on threads: their numpy passes release the interpreter lock.
    for _ in threaded_map(bound_block, range(0, rows.size, 8192), resolve_n_jobs(n_jobs)):
        pass
    position = None
    if not all_rows:
        position = np.full(X.shape[0], -1, dtype=np.int64)
        position[rows] = np.arange(rows.size)
    return PivotTable(pivots, low, high, position)


def estimate_pairs_within(X: np.ndarray, eps: float, metric: str = "euclidean", *,
                          membership: sp.spmatrix | None = None, sample_size: int = 2000,
                          random_state: int = 0) -> float:
    """Estimated number of point pairs of ``X`` within ``eps`` (that share a cover element,
    with ``membership``): their share among the pairs of a seeded sample of rows, times all
    pairs (float64 distances)."""
    from sklearn.metrics import pairwise_distances

    n = X.shape[0]
    if n < 2:
        return 0.0
    rows = np.sort(np.random.default_rng(random_state).choice(n, min(n, sample_size), replace=False))
    within = pairwise_distances(np.asarray(X[rows], dtype=np.float64), metric=metric) <= eps
    np.fill_diagonal(within, False)
    if membership is not None:
        members = sp.csr_matrix(membership)[rows].astype(np.float32)
        within &= (members @ members.T).toarray() > 0
    return float(np.count_nonzero(within) / 2) * (n * (n - 1)) / (rows.size * (rows.size - 1))


def _make_layout(
    X: np.ndarray,
    metric: str,
    lens: np.ndarray,
    chunk_size: int,
    n_pivots: int,
    random_state: int,
) -> _Layout:
    """Group points by nearest pivot, then cut each group into lens-sorted chunks.

    For the cosine metric the pivots and their distances are those of the unit vectors.
    """
    n = X.shape[0]
    n_pivots = int(max(1, min(n_pivots, n // max(chunk_size, 1) + 1, n)))
    # Pivots: k-means centres of a seeded sample, so that groups follow the data's
    # clusters (random points prune about half as well), with float32 distance bounds
    # that keep the pruning exact (one PivotTable, as the pruned DBSCAN reads).
    table = search_pivots(X, metric=metric, random_state=random_state, n_pivots=n_pivots, points_per_pivot=1)
    n_pivots = table.n_pivots
    group = table.low.argmin(axis=1)
    # gap() subtracts float32 bounds in float64: exact but for values far apart in scale.
    pivot_slack = 1e-12 * (1.0 + float(table.high.max()))

    order_parts: list[np.ndarray] = []
    chunk_sizes: list[int] = []
    lens_span = np.ptp(lens, axis=0)
    lens_span[lens_span == 0] = 1.0
    for g in range(n_pivots):
        members = np.flatnonzero(group == g)
        if members.size == 0:
            continue
        for chunk in _split_by_lens(members, lens, chunk_size, lens_span / 64.0):
            order_parts.append(chunk)
            chunk_sizes.append(chunk.size)
    order = np.concatenate(order_parts).astype(np.int64)
    chunk_start = np.concatenate([[0], np.cumsum(chunk_sizes)]).astype(np.int64)
    n_chunks = len(chunk_sizes)
    chunk_of_point = np.empty(n, dtype=np.int64)
    chunk_of_point[order] = np.repeat(np.arange(n_chunks), chunk_sizes)
    # Each chunk's range of distances to each pivot, a few chunks at a time.
    pivot_low = np.empty((n_chunks, n_pivots))
    pivot_high = np.empty((n_chunks, n_pivots))
    first = 0
    while first < n_chunks:
        last = int(np.searchsorted(chunk_start, chunk_start[first] + 8192, side="right")) - 1
        last = min(max(last, first + 1), n_chunks)
        lo, hi = int(chunk_start[first]), int(chunk_start[last])
        idx = order[lo:hi]
        offsets = chunk_start[first:last] - lo
        pivot_low[first:last] = np.minimum.reduceat(table.low[idx], offsets, axis=0)
        pivot_high[first:last] = np.maximum.reduceat(table.high[idx], offsets, axis=0)
        first = last
    del table
    position_of_row = np.empty(n, dtype=np.int64)
    position_of_row[order] = np.arange(n)
    return _Layout(order, position_of_row, chunk_start, chunk_of_point, pivot_low, pivot_high, float(pivot_slack))


def _split_by_lens(
    members: np.ndarray, lens: np.ndarray, chunk_size: int, max_span: np.ndarray
) -> list[np.ndarray]:
    """Recursively halve a group at the lens median until chunks are small and narrow."""
    values = lens[members]
    span = np.ptp(values, axis=0) if members.size else np.zeros(lens.shape[1])
    if members.size <= chunk_size and np.all(span <= max_span):
        return [members[np.lexsort(values.T[::-1])]]
    if members.size <= max(1, chunk_size // 8):
        return [members[np.lexsort(values.T[::-1])]]  # tiny chunks cost more than they prune
    dim = int(np.argmax(span / max_span))
    ranked = members[np.argsort(values[:, dim], kind="stable")]
    half = ranked.size // 2
    return _split_by_lens(ranked[:half], lens, chunk_size, max_span) + _split_by_lens(
        ranked[half:], lens, chunk_size, max_span
    )


def _chunk_membership(layout: _Layout, membership: sp.spmatrix) -> sp.csr_matrix:
    """(n_chunks, n_elements) matrix: does chunk c hold a point of element e."""
    membership = sp.csr_matrix(membership, dtype=np.float32)
    n = membership.shape[0]
    indicator = sp.csr_matrix(
        (np.ones(n, dtype=np.float32), (layout.chunk_of_point, np.arange(n))),
        shape=(layout.n_chunks, n),
    )
    chunk_member = indicator @ membership
    chunk_member.data[:] = 1.0
    return chunk_member.tocsr()
