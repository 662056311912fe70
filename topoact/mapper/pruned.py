"""Exact DBSCAN that does not list dense neighbourhoods: early-stopped core tests and union-find.

Real activations are dense in places: at the usual eps a point can have thousands of
points within ``eps``, and an epsilon-graph (scikit-learn's ``radius_neighbors``, or
:class:`~topoact.mapper.neighbors.EpsilonGraph`) lists every one of those pairs
although DBSCAN needs far less:

* **core test**: a point is core once ``min_samples`` points are found within
  ``eps``; the search stops there;
* **clusters**: the connected components of the core points; a pair of leaves whose
  core points are already in one component need not be compared at all;
* **border points**: only the non-core points need their whole neighbourhood.

The points are grouped by their nearest k-means pivot (:class:`PivotTable`, shared by
the cover elements of one Mapper) and each group is cut into compact *leaves* (halved
along the direction between two far points until at most ``leaf_size`` remain). Each
leaf has a centre, a radius and its range of distances to every pivot; the triangle
inequality through them proves pairs of leaves entirely beyond ``eps`` (never
compared) or entirely within it (counted without computing a distance).

The work, in three passes over float32 tiles:

1. each leaf's points against its candidate leaves, nearest first, in batches that
   double; a point stops once core. Points still short after the 15 nearest leaves
   (mostly the non-core ones) are searched again from the start in blocks of ~512
   rows, one large product per run of contiguous leaves. Every tile also gives each
   point's first and last neighbour (*hints*);
2. clusters: the hints between core points are joined first, then the candidate leaf
   pairs are visited nearest first with a union-find, skipping a pair whose core
   points already share one root (most of them);
3. border points from the complete neighbour lists of the non-core points.

Every tile is ``|x|^2 + |y|^2 - 2 x.y`` with the rigorous rounding bound of
:mod:`topoact.mapper.neighbors`: a pair inside that bound of ``eps`` is decided again
in float64, so every decision is the float64 one of
:func:`~topoact.mapper.neighbors.exact_within`, and the labels equal those of the
epsilon-graph path and of scikit-learn (``border="first"``) whatever the leaves, the
pivots, the threads, the order of the work or the seed.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from topoact.mapper.neighbors import (
    PivotTable, exact_within, one_blas_thread, reject_zero_rows, resolve_n_jobs, row_sqnorms, search_pivots,
    threaded_map,
)

__all__ = ["PivotTable", "pruned_dbscan", "assign_border_points", "search_pivots", "sparse_nonzero"]

_U32 = float(np.finfo(np.float32).eps) / 2
_U64 = float(np.finfo(np.float64).eps) / 2


def pruned_dbscan(
    X: np.ndarray,
    rows: np.ndarray | None,
    eps: float,
    min_samples: int,
    *,
    metric: str = "euclidean",
    border: str = "nearest",
    weights: np.ndarray | None = None,
    leaf_size: int = 512,
    random_state: int = 0,
    n_jobs: int | None = None,
    pivots: "PivotTable | None" = None,
    stats: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """DBSCAN labels of ``X[rows]``, exact, without listing dense neighbourhoods.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite float32/float64 data; ``X[rows]`` is copied once as float32.
    rows : ndarray of int or None
        The points, in increasing order (a cover element's members); None for all of ``X``.
    eps : float
        Neighbourhood radius (``distance <= eps``).
    min_samples : int
        Points within eps, the point itself included, that make a point core.
    metric : {"euclidean", "cosine"}
    border : {"nearest", "first"}
        How a border point next to several clusters is assigned (see
        :mod:`topoact.mapper.cluster`).
    weights : ndarray of shape (n_rows,), optional
        How much each point counts in the core test (scikit-learn's ``sample_weight``).
    leaf_size : int
        Largest number of points in a leaf (512 measured best on the benchmark rows; 256
        and 768 slower); grown for large inputs so that there are at most 4,096 leaves.
        Changes the speed only.
    random_state : int
        Seed of the leaves' splitting directions; changes the speed only.
    n_jobs : int or None
        Threads for the core test (scikit-learn convention; BLAS held to one thread each),
        used from 20,000 points on; never changes the result.
    pivots : PivotTable, optional
        Pivots and the rows' distances to them (:func:`search_pivots`), shared by the cover
        elements of one Mapper; by default made for ``X[rows]``. Leaves never mix two
        pivots' groups, and their distance ranges to the pivots prune leaf pairs. Changes
        the speed only.
    stats : dict, optional
        Filled with ``pairs_computed`` (distances evaluated), ``pairs_rechecked``
        (decided again in float64) and ``leaf_pairs_skipped``.

    Returns
    -------
    labels : ndarray of int64, shape (n_rows,)
        Cluster of each point, ``-1`` for noise; clusters numbered by their smallest
        core row, as scikit-learn numbers them.
    is_core : ndarray of bool, shape (n_rows,)
    """
    rows = np.arange(X.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    n = rows.size
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
    if pivots is None:
        pivots = search_pivots(X, rows, metric=metric, random_state=random_state)
    search = _PrunedSearch(X, rows, float(eps), metric, weights, leaf_size, random_state, pivots)
    # Threads pay off only on large sets: small ones are bound by Python, not by BLAS.
    is_core, point, neighbour = search.core_points(min_samples, resolve_n_jobs(n_jobs) if n >= 20_000 else 1)
    component = search.core_components(is_core)
    labels = np.full(n, -1, dtype=np.int64)
    if is_core.any():
        # Clusters by their smallest core row (leaf positions -> local numbers, which follow rows).
        core_pos = np.flatnonzero(is_core)
        local = search.order[core_pos]
        roots = component[core_pos]
        unique_roots, inverse = np.unique(roots, return_inverse=True)
        smallest = np.full(unique_roots.size, n, dtype=np.int64)
        np.minimum.at(smallest, inverse, local)
        rank = np.empty(unique_roots.size, dtype=np.int64)
        rank[np.argsort(smallest)] = np.arange(unique_roots.size)
        labels[local] = rank[inverse]
    core_local = np.zeros(n, dtype=bool)
    core_local[search.order[is_core]] = True
    if point.size:
        point_local, neighbour_local = search.order[point], search.order[neighbour]
        towards_core = core_local[neighbour_local] & ~core_local[point_local]
        labels = assign_border_points(
            labels, point_local[towards_core], neighbour_local[towards_core], border=border,
            points=X, point_rows=rows, metric=metric,
        )
    if stats is not None:
        stats.update(search.stats)
    return labels, core_local


def assign_border_points(
    labels: np.ndarray,
    point: np.ndarray,
    neighbour: np.ndarray,
    *,
    border: str = "nearest",
    points: np.ndarray | None = None,
    point_rows: np.ndarray | None = None,
    metric: str = "euclidean",
) -> np.ndarray:
    """Give border points a cluster from the pairs (non-core ``point``, core ``neighbour``) within eps.

    ``labels`` holds the core points' clusters (``-1`` elsewhere) and is updated in
    place. ``border="first"``: the smallest cluster number among a point's core
    neighbours (the one scikit-learn reaches first); ``"nearest"``: the cluster of the
    nearest core neighbour in ``points[point_rows]``, exact ties to the smaller number.
    """
    if point.size == 0:
        return labels
    rows = np.arange(labels.size) if point_rows is None else np.asarray(point_rows)
    n = labels.size
    neighbour_label = labels[neighbour]
    # First rule: the smallest cluster number among the core neighbours.
    first_label = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_label, point, neighbour_label)
    border_points = np.unique(point)
    labels[border_points] = first_label[border_points]
    if border == "first":
        return labels
    last_label = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_label, point, neighbour_label)
    ambiguous = border_points[last_label[border_points] != first_label[border_points]]
    if ambiguous.size == 0:
        return labels
    if points is None:
        raise ValueError("border='nearest' needs the points to resolve ambiguous border points")
    pick = np.isin(point, ambiguous)
    point, neighbour, neighbour_label = point[pick], neighbour[pick], neighbour_label[pick]
    a = np.asarray(points[rows[point]], dtype=np.float64)
    b = np.asarray(points[rows[neighbour]], dtype=np.float64)
    if metric == "cosine":
        distance = 1.0 - np.einsum("ij,ij->i", a, b) / (
            np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        )
    else:
        diff = a - b
        distance = np.einsum("ij,ij->i", diff, diff)
    # Nearest core neighbour per point; exact ties go to the smaller cluster number.
    order = np.lexsort((neighbour_label, distance, point))
    point, neighbour_label = point[order], neighbour_label[order]
    starts = np.flatnonzero(np.r_[True, point[1:] != point[:-1]])
    labels[point[starts]] = neighbour_label[starts]
    return labels


class _PrunedSearch:
    """Leaves, their bounds and the float32 tiles with exact re-check, for one set of points."""

    def __init__(self, X, rows, eps, metric, weights, leaf_size, random_state, pivots):
        self.X, self.rows, self.eps, self.metric = X, rows, eps, metric
        n = rows.size
        data = np.asarray(X[rows], dtype=np.float32)
        if metric == "cosine":
            sqnorm = row_sqnorms(X, rows)  # of X itself: a tiny row must not pass as non-zero
            reject_zero_rows(sqnorm)
            data *= (1.0 / np.sqrt(sqnorm)).astype(np.float32)[:, None]
            sqnorm = np.ones(n)
            self.threshold = float(np.sqrt(2.0 * eps))  # unit vectors: |u - v|^2 = 2 (1 - cos)
        else:
            # Of the float32 rows (one gather of X): the tiles' norms are rounded to float32
            # anyway and every margin allows for the rows' cast.
            sqnorm = row_sqnorms(data)
            self.threshold = eps
        leaf_size = max(int(leaf_size), -(-n // 4096))
        self.rng = np.random.default_rng(random_state)
        self.table = pivots
        pivot_low_rows, pivot_high_rows = pivots.lookup(rows)
        # Leaves inside each pivot's group: a leaf never spans two of the data's clusters.
        # A small element uses its most populated pivots only (tiny leaves cost more than
        # they prune).
        n_pivots = pivots.n_pivots
        nearest = pivot_low_rows.argmin(axis=1)
        n_groups = max(1, min(n_pivots, n // 32))
        if n_groups < n_pivots:
            kept = np.argsort(-np.bincount(nearest, minlength=n_pivots), kind="stable")[:n_groups]
            group = kept[pivot_low_rows[:, kept].argmin(axis=1)]
        else:
            group = nearest
        by_group = np.argsort(group, kind="stable")
        cuts = np.flatnonzero(np.diff(group[by_group])) + 1
        pieces = [_leaves(data, leaf_size, self.rng, members) for members in np.split(by_group, cuts)]
        self.order = np.concatenate([order for order, _ in pieces])
        sizes = np.concatenate([np.diff(start) for _, start in pieces])
        self.start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.sqnorm = sqnorm[self.order]
        # Rows in leaf order with two more columns, [x, |x|^2, 1]: a tile is then one
        # product, (-2 x, 1, |x|^2) . (y, |y|^2, 1) = |x|^2 + |y|^2 - 2 x.y, with no
        # passes to add the norms.
        dim = X.shape[1]
        self.extended = np.empty((n, dim + 2), dtype=np.float32)
        self.extended[:, :dim] = data[self.order]
        del data
        self.extended[:, dim] = self.sqnorm
        self.extended[:, dim + 1] = 1.0
        self.data = self.extended[:, :dim]  # a view: the rows themselves
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)[self.order]
        self.n_leaves = self.start.size - 1
        self.dim = dim
        self.eps2 = self.threshold * self.threshold
        self._bounds(pivot_low_rows, pivot_high_rows)
        self.stats = {"pairs_computed": 0, "pairs_rechecked": 0, "leaf_pairs_skipped": 0}
        self.hints: tuple[np.ndarray, np.ndarray] | None = None  # pairs within eps met by the core test

    # ------------------------------------------------------------------ leaves
    def _bounds(self, pivot_low_rows: np.ndarray, pivot_high_rows: np.ndarray) -> None:
        """Centres, radii, and per leaf its candidate leaves (by centre distance) and which are entirely within."""
        start, data = self.start, self.data
        n_leaves = self.n_leaves
        centres = np.empty((n_leaves, self.dim))
        radius = np.empty(n_leaves)
        first = 0
        while first < n_leaves:  # a few thousand rows at a time, whole leaves
            last = int(np.searchsorted(start, start[first] + 8192, side="right")) - 1
            last = min(max(last, first + 1), n_leaves)
            block = data[start[first] : start[last]]
            offsets = start[first:last] - start[first]
            sizes = np.diff(start[first : last + 1])
            mean = sparse.csr_matrix((np.repeat(1.0 / sizes, sizes).astype(np.float32), np.arange(block.shape[0]),
                                      np.concatenate([[0], np.cumsum(sizes)])), shape=(sizes.size, block.shape[0]))
            # Any centre serves a ball bound: the float32 mean (a sparse product), held
            # exactly in float64, with a radius that bounds the float32 arithmetic.
            centre32 = np.asarray(mean @ block, dtype=np.float32)
            centres[first:last] = centre32
            diff = block - np.repeat(centre32, sizes, axis=0)
            spread = np.sqrt(np.maximum.reduceat(np.einsum("ij,ij->i", diff, diff), offsets).astype(np.float64))
            # |fl(x - c)| is within u32 |x - c| per coordinate and the sum of squares within
            # (dim + 2) u32: a rigorous upper bound of the exact |x - c|.
            radius[first:last] = spread * (1.0 + (self.dim + 4) * _U32)
            first = last
        largest_norm = float(np.sqrt(self.sqnorm.max()))
        # The float32 rows differ from the exact (float64) ones by at most a few units of
        # float32 round-off times their norm; float64 sums are far below that. Pairs are
        # pruned or counted whole only outside this slack, so the decision stays the
        # float64 one.
        cast = 8 * _U32 * largest_norm
        radius += cast
        slack = cast + 1e-9 * self.threshold + 1e-300
        centre_sq = np.einsum("ij,ij->i", centres, centres)
        gamma = 1.1 * (self.dim + 4) * _U64  # |fl(|a|^2 + |b|^2 - 2 a.b) - |a - b|^2| <= gamma (|a|^2 + |b|^2)
        # The table's bounds are float32 rounded outwards already: the leaves' ranges (their
        # minima and maxima) serve both the float64 leaf test and the float32 point test.
        self.pivot_low32, self.pivot_high32 = self._pivot_ranges(pivot_low_rows, pivot_high_rows)
        pivot_low, pivot_high = self.pivot_low32.astype(np.float64), self.pivot_high32.astype(np.float64)
        self.centres = centres
        # Limit of the centre-line test (_across), float32 throughout: the projections' gap
        # allows for both rows' cast, the float32 dot products (|fl(x.u) - x.u| <=
        # 1.1 (d + 2) u32 |x| |u|) and the unit vector's rounding to float32.
        self.line_limit = np.float32(((self.threshold + 2 * cast + 1e-9 * self.threshold) * (1 + 8 * _U32)
                                      + 2 * (1.1 * (self.dim + 2) + 4) * _U32 * largest_norm) * (1 + 8 * _U32) + 1e-30)
        # A limit rounded up: the point-to-leaf test (_reach) in float32 only ever keeps
        # more points than the exact bound would.
        self.reach_limit = np.nextafter(np.float32(self.threshold + slack), np.float32(np.inf)) * np.float32(1 + 4 * _U32)
        n_pivots = pivot_low.shape[1]
        self.candidates: list[np.ndarray] = []
        self.full: list[np.ndarray] = []
        self.centre_distance: list[np.ndarray] = []
        rows_per_block = max(1, min(256, 4_000_000 // max(1, n_leaves * n_pivots)))
        for first in range(0, n_leaves, rows_per_block):
            block = slice(first, min(n_leaves, first + rows_per_block))
            norms = centre_sq[block, None] + centre_sq[None, :]
            d2 = norms - 2.0 * (centres[block] @ centres.T)
            distance = np.sqrt(np.maximum(d2, 0.0))
            error = np.sqrt(gamma * norms)  # |sqrt(x) - sqrt(y)| <= sqrt(|x - y|)
            reach = radius[block, None] + radius[None, :]
            near = distance - error - reach <= self.threshold + slack
            within = distance + error + reach <= self.threshold - slack
            if n_pivots:
                # Triangle inequality through each pivot: every pair of leaves a, b is at
                # least max_z (low_b(z) - high_a(z), low_a(z) - high_b(z)) apart.
                gap = np.maximum(pivot_low[None, :, :] - pivot_high[block, None, :],
                                 pivot_low[block, None, :] - pivot_high[None, :, :]).max(axis=2)
                near &= gap <= self.threshold + slack
            for k, leaf in enumerate(range(block.start, block.stop)):
                cols = np.flatnonzero(near[k])
                order = np.lexsort((cols, distance[k, cols]))
                cols = cols[order]
                # The leaf itself first.
                cols = np.concatenate([[leaf], cols[cols != leaf]])
                self.candidates.append(cols)
                self.full.append(within[k, cols])
                self.centre_distance.append(distance[k, cols])

    def _pivot_ranges(self, low_rows: np.ndarray, high_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each point's and each leaf's range of distances to the pivots (from the :class:`PivotTable`).

        The ranges hold the exact distances of the exact (float64) points, so pruning
        with them never changes a decision: pivots steer the work only. Point ranges
        (``point_low``/``point_high``, leaf order) are the table's float32 bounds; the
        leaves' ranges are returned, float32 as well.
        """
        n_leaves = self.n_leaves
        if n_leaves <= 1 or self.table.n_pivots == 0:
            n = self.order.size
            self.point_low = self.point_high = np.empty((n, 0), dtype=np.float32)
            return np.empty((n_leaves, 0), dtype=np.float32), np.empty((n_leaves, 0), dtype=np.float32)
        self.point_low = low_rows[self.order]
        self.point_high = high_rows[self.order]
        # Reduced along the contiguous axis (reduceat across rows is slow).
        offsets = self.start[:-1]
        low = np.minimum.reduceat(np.ascontiguousarray(self.point_low.T), offsets, axis=1).T
        high = np.maximum.reduceat(np.ascontiguousarray(self.point_high.T), offsets, axis=1).T
        return low, high

    def _reach(self, positions: np.ndarray, leaf: int) -> np.ndarray:
        """Which of the points at ``positions`` may have a point of ``leaf`` within eps.

        Through each pivot z, ``d(p, q) >= |d(p, z) - d(q, z)|``: with p's own distance
        (and its error bound) against the leaf's range, a point-to-leaf bound far
        tighter than the leaf-to-leaf one for clustered data.
        """
        if self.pivot_low32.shape[1] == 0:
            return np.ones(positions.size, dtype=bool)
        low = self.point_low[positions]
        high = self.point_high[positions]
        gap = np.maximum(self.pivot_low32[leaf] - high, low - self.pivot_high32[leaf]).max(axis=1)
        return gap <= self.reach_limit

    def _across(self, core_a: np.ndarray, core_b: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """The points of ``core_a`` and ``core_b`` (of leaves ``a`` and ``b``) that may be within eps of the other side.

        Along the unit vector u between the two leaves' centres, ``d(p, q) >= |(q - p).u|``:
        a point of ``a`` projecting more than eps below every point of ``b`` reaches none
        of them, and the other way round. Leaves on either side of a gap between clusters
        overlap as balls yet separate along this line, so most of their tile is never
        computed (``line_limit`` keeps the test rigorous; it only ever keeps more points).
        """
        u = self.centres[b] - self.centres[a]
        length = float(np.sqrt(u @ u))
        if length == 0.0:
            return core_a, core_b
        u = (u / length).astype(np.float32)
        # Whole leaves are contiguous rows: project them, then pick (no gather of rows).
        along_a = (self.data[self._leaf_slice(a)] @ u)[core_a - self.start[a]]
        along_b = (self.data[self._leaf_slice(b)] @ u)[core_b - self.start[b]]
        keep_a = along_a >= along_b.min() - self.line_limit
        if not keep_a.any():
            return core_a[:0], core_b[:0]
        keep_b = along_b <= along_a[keep_a].max() + self.line_limit
        return core_a[keep_a], core_b[keep_b]

    def _leaf_slice(self, leaf: int) -> slice:
        return slice(int(self.start[leaf]), int(self.start[leaf + 1]))

    def _positions(self, leaves: np.ndarray) -> np.ndarray:
        start = self.start
        lengths = start[leaves + 1] - start[leaves]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return np.repeat(start[leaves] - offsets, lengths) + np.arange(int(lengths.sum()))

    def _within(self, row_pos: np.ndarray, col_leaves: np.ndarray, col_pos: np.ndarray | None = None) -> np.ndarray:
        """Boolean matrix ``distance <= eps`` (the float64 decision): points ``row_pos`` x the
        points of ``col_leaves`` in leaf order (or, with ``col_pos``, those positions)."""
        dim = self.dim
        rows_x = np.empty((row_pos.size, dim + 2), dtype=np.float32)
        np.multiply(self.data[row_pos], -2.0, out=rows_x[:, :dim])
        rows_x[:, dim] = 1.0
        rows_x[:, dim + 1] = self.extended[row_pos, dim]
        if col_pos is not None:
            d2 = rows_x @ self.extended[col_pos].T
        else:
            # Runs of consecutive leaves are contiguous in the data: one product per run
            # into its columns of the tile, no gather of their rows.
            start = self.start
            breaks = np.flatnonzero(np.diff(col_leaves) != 1) + 1
            runs = np.split(col_leaves, breaks)
            lengths = [int(start[run[-1] + 1] - start[run[0]]) for run in runs]
            d2 = np.empty((row_pos.size, sum(lengths)), dtype=np.float32)
            offset = 0
            for run, length in zip(runs, lengths):
                first = int(start[run[0]])
                np.matmul(rows_x, self.extended[first : first + length].T, out=d2[:, offset : offset + length])
                offset += length
            col_pos = self._positions(col_leaves)
        # Rigorous bound on |float32 value - exact value| (see neighbors._search_row): the
        # product's d + 2 terms sum to at most 2 (|x|^2 + |y|^2) in magnitude, and the norms
        # were rounded to float32 once.
        margin = (1.1 * (2 * dim + 16) * _U32 * (float(self.sqnorm[row_pos].max()) + float(self.sqnorm[col_pos].max()))
                  + 4 * _U32 * self.eps2)
        within = d2 <= np.float32(self.eps2 - margin)
        loose = d2 <= np.float32(self.eps2 + margin)
        ri = ci = np.empty(0, dtype=np.int64)
        if np.count_nonzero(loose) != np.count_nonzero(within):  # some pairs inside the bound
            ri, ci = np.nonzero(loose ^ within)
        if ri.size:
            order = self.order
            within[ri, ci] = exact_within(
                self.X, self.rows[order[row_pos[ri]]], self.rows[order[col_pos[ci]]], self.eps, self.metric,
            )
        return within, d2.size, ri.size

    # ------------------------------------------------------------------ core test
    def core_points(self, min_samples, n_jobs: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which points are core, and every pair within eps of each non-core point.

        For each leaf, its points are compared with candidate leaves nearest first
        (batches doubling in size); a point leaves the search once ``min_samples``
        points (weights) are found. Points never reaching it have seen every
        candidate, so their count, and their list of neighbours, is complete. Leaves
        are independent: ``n_jobs`` threads share them, merged in leaf order.

        Returns
        -------
        is_core : ndarray of bool (leaf positions)
        point, neighbour : ndarray of int64
            Every pair within eps of a non-core ``point`` (leaf positions).
        """
        results = _map(lambda leaf: self._core_leaf(leaf, min_samples), range(self.n_leaves), n_jobs)
        is_core = np.concatenate([r[0] for r in results])
        # Points still short of min_samples after their leaf's nearest candidates: mostly
        # the non-core ones, which must see every candidate. They are searched again from
        # the start in blocks of many rows (one large product per block of columns instead
        # of a thin one per leaf).
        deferred = np.concatenate([r[6] for r in results])
        blocks = self._row_blocks(deferred)
        results += _map(lambda rows: self._core_rows(rows, min_samples), blocks, n_jobs)
        for rows, result in zip(blocks, results[self.n_leaves:]):
            is_core[rows] = result[0]
        points = [r[1] for r in results if r[1].size]
        neighbours = [r[2] for r in results if r[2].size]
        for _, _, _, computed, rechecked, _, _ in results:
            self.stats["pairs_computed"] += computed
            self.stats["pairs_rechecked"] += rechecked
        hints = [r[5] for r in results if r[5] is not None]
        self.hints = (np.concatenate([h[0] for h in hints]), np.concatenate([h[1] for h in hints])) if hints else None
        point = np.concatenate(points) if points else np.empty(0, dtype=np.int64)
        neighbour = np.concatenate(neighbours) if neighbours else np.empty(0, dtype=np.int64)
        return is_core, point, neighbour

    def _row_blocks(self, rows: np.ndarray, size: int = 512) -> list[np.ndarray]:
        """Sorted positions cut into blocks of whole leaves, about ``size`` rows each."""
        if rows.size == 0:
            return []
        leaf = np.searchsorted(self.start, rows, side="right") - 1
        cuts = np.flatnonzero(np.diff(leaf)) + 1  # where a new leaf starts
        blocks, first = [], 0
        for cut in list(cuts) + [rows.size]:
            if cut - first >= size or cut == rows.size:
                blocks.append(rows[first:cut])
                first = cut
        return blocks

    def _core_rows(self, rows: np.ndarray, min_samples):
        """The full core test of ``rows`` (positions, whole leaves) against every candidate of their leaves."""
        weights = self.weights
        leaves = np.unique(np.searchsorted(self.start, rows, side="right") - 1)
        columns = np.unique(np.concatenate([self.candidates[leaf] for leaf in leaves]))
        count = np.ones(rows.size) if weights is None else weights[rows].copy()
        pending = np.arange(rows.size)  # offsets in rows
        found_rows: list[np.ndarray] = []
        found_cols: list[np.ndarray] = []
        hint_rows: list[np.ndarray] = []
        hint_cols: list[np.ndarray] = []
        computed = rechecked = 0
        lengths = self.start[columns + 1] - self.start[columns]
        chunk_of = np.cumsum(lengths) // 8192  # about 8,192 columns per product
        for chunk in np.unique(chunk_of):
            if pending.size == 0:
                break
            chunk_leaves = columns[chunk_of == chunk]
            within, n_computed, n_rechecked = self._within(rows[pending], chunk_leaves)
            computed += n_computed
            rechecked += n_rechecked
            cols = self._positions(chunk_leaves)
            at = np.searchsorted(cols, rows[pending]).clip(max=cols.size - 1)
            itself = cols[at] == rows[pending]
            within[np.flatnonzero(itself), at[itself]] = False
            # These rows are mostly non-core: few pairs per tile. Counts, hints and pairs all
            # come from one list of the tile's pairs (row-major), not from passes over it.
            ri, ci = sparse_nonzero(within)
            weight = None if weights is None else weights[cols[ci]]
            count[pending] += np.bincount(ri, weights=weight, minlength=pending.size)
            if ri.size:
                first = np.flatnonzero(np.r_[True, ri[1:] != ri[:-1]])
                last = np.r_[first[1:], ri.size] - 1
                hint_rows += [rows[pending[ri[first]]]] * 2
                hint_cols += [cols[ci[first]], cols[ci[last]]]
            still = count[pending] < min_samples
            keep = still[ri]
            found_rows.append(rows[pending[ri[keep]]])
            found_cols.append(cols[ci[keep]])
            pending = pending[still]
        is_core = count >= min_samples
        point = np.concatenate(found_rows).astype(np.int64) if found_rows else np.empty(0, dtype=np.int64)
        neighbour = np.concatenate(found_cols).astype(np.int64) if found_cols else np.empty(0, dtype=np.int64)
        keep = ~is_core[np.searchsorted(rows, point)] if point.size else np.empty(0, dtype=bool)
        hints = (np.concatenate(hint_rows), np.concatenate(hint_cols)) if hint_rows else None
        return is_core, point[keep], neighbour[keep], computed, rechecked, hints, np.empty(0, dtype=np.int64)

    def _core_leaf(self, leaf: int, min_samples, nearest: int = 15):
        """Core flags of one leaf's points, the pairs of its non-core points, and the work done.

        Only the ``nearest`` candidate leaves are searched here; points still short of
        ``min_samples`` with candidates left are returned as deferred (their core flag
        and pairs come from :meth:`_core_rows`)."""
        weights = self.weights
        own = self._leaf_slice(leaf)
        count = np.ones(own.stop - own.start) if weights is None else weights[own].copy()  # the point itself
        pending = np.flatnonzero(count < min_samples)  # offsets in the leaf
        candidates, full = self.candidates[leaf], self.full[leaf]
        found_rows: list[np.ndarray] = []  # pairs of the still-pending points, per batch
        found_cols: list[np.ndarray] = []
        hint_rows: list[np.ndarray] = []  # a few pairs within eps per point, for the clusters
        hint_cols: list[np.ndarray] = []
        computed = rechecked = 0
        k, batch = 0, 1
        limit = min(candidates.size, nearest)
        while pending.size and k < limit:
            leaves = candidates[k : k + batch]
            whole = full[k : k + batch]
            k += batch
            batch *= 2
            if whole.all():
                cols = self._positions(leaves)
                within = np.ones((pending.size, cols.size), dtype=bool)
            else:
                within, n_computed, n_rechecked = self._within(pending + own.start, leaves)
                computed += n_computed
                rechecked += n_rechecked
                cols = self._positions(leaves)
                if whole.any():
                    within[:, np.repeat(whole, self.start[leaves + 1] - self.start[leaves])] = True
            if leaves[0] == leaf:  # the own leaf comes first: not the point itself
                within[np.arange(pending.size), pending] = False
            count[pending] += within.sum(axis=1) if weights is None else within @ weights[cols]
            # The first and last neighbour of each point in this tile: edges that let the
            # cluster search skip most leaf pairs once the core points are known.
            hint_rows, hint_cols = _hints(within, pending, cols, hint_rows, hint_cols)
            still = count[pending] < min_samples
            if not still.all():
                # Points that became core drop the pairs kept for them so far.
                keep = [np.isin(r, pending[still]) for r in found_rows]
                found_rows = [r[m] for r, m in zip(found_rows, keep)]
                found_cols = [c[m] for c, m in zip(found_cols, keep)]
            ri, ci = sparse_nonzero(within[still])
            pending = pending[still]
            found_rows.append(pending[ri])
            found_cols.append(cols[ci])
        is_core = count >= min_samples
        deferred = np.empty(0, dtype=np.int64)
        if pending.size and k < candidates.size:
            deferred, pending = pending + own.start, pending[:0]
        if pending.size:
            point = np.concatenate(found_rows).astype(np.int64) + own.start
            neighbour = np.concatenate(found_cols).astype(np.int64)
        else:
            point = neighbour = np.empty(0, dtype=np.int64)
        hints = (np.concatenate(hint_rows) + own.start, np.concatenate(hint_cols)) if hint_rows else None
        return is_core, point, neighbour, computed, rechecked, hints, deferred

    # ------------------------------------------------------------------ clusters
    def core_components(self, is_core: np.ndarray) -> np.ndarray:
        """Union-find root of each core point (leaf positions; other entries meaningless).

        Leaf pairs are visited nearest first; a pair is skipped when either side has no
        core point or when all its core points already share one root.
        """
        n = is_core.size
        parent = np.arange(n, dtype=np.int64)
        hints = self.hints
        if hints is not None:
            # Pairs the core test met on its way: join their core ends first, all at once.
            joins = is_core[hints[0]] & is_core[hints[1]]
            graph = coo_matrix((np.ones(int(joins.sum()), dtype=np.int8), (hints[0][joins], hints[1][joins])), shape=(n, n))
            _, group = connected_components(graph, directed=False)
            representative = np.full(group.max() + 1, n, dtype=np.int64)
            np.minimum.at(representative, group, np.arange(n))
            parent = representative[group]

        def find(x: np.ndarray) -> np.ndarray:
            root = parent[x]
            while True:
                up = parent[root]
                if np.array_equal(up, root):
                    break
                root = up
            parent[x] = root  # path compression for the queried points
            return root

        def union(roots_a: np.ndarray, roots_b: np.ndarray) -> None:
            ids, inverse = np.unique(np.concatenate([roots_a, roots_b]), return_inverse=True)
            if ids.size < 2:
                return
            half = roots_a.size
            graph = coo_matrix((np.ones(half, dtype=np.int8), (inverse[:half], inverse[half:])), shape=(ids.size,) * 2)
            _, group = connected_components(graph, directed=False)
            representative = np.full(group.max() + 1, n, dtype=np.int64)
            np.minimum.at(representative, group, ids)
            parent[ids] = representative[group]

        core_of = [np.flatnonzero(is_core[self._leaf_slice(leaf)]) + self.start[leaf] for leaf in range(self.n_leaves)]
        has_core = np.array([c.size > 0 for c in core_of])
        whole_leaf = np.array([c.size == self.start[leaf + 1] - self.start[leaf] for leaf, c in enumerate(core_of)])
        # Root shared by all core points of a leaf, or -1 while they have several.
        leaf_root = np.array([c[0] if c.size == 1 else -1 for c in core_of], dtype=np.int64)
        for leaf, core in enumerate(core_of):
            if core.size > 1 and np.all(parent[core] == parent[core[0]]):
                leaf_root[leaf] = parent[core[0]]

        def refresh(leaf: int) -> None:
            roots = find(core_of[leaf])
            leaf_root[leaf] = roots[0] if np.all(roots == roots[0]) else -1

        # Every candidate pair (a <= b), nearest first; the leaves themselves first of all.
        first = np.concatenate([np.full(c.size, leaf) for leaf, c in enumerate(self.candidates)])
        second = np.concatenate(self.candidates)
        whole = np.concatenate(self.full)
        distance = np.concatenate(self.centre_distance)
        keep = (first <= second) & has_core[first] & has_core[second]
        first, second, whole, distance = first[keep], second[keep], whole[keep], distance[keep]
        order = np.lexsort((second, first, first != second, distance))
        first, second, whole = first[order], second[order], whole[order]
        skipped = int((~keep).sum())
        position, batch = 0, 256
        while position < first.size:
            # Drop pairs already joined, all at once.
            rest = slice(position, first.size)
            ra, rb = leaf_root[first[rest]], leaf_root[second[rest]]
            known = (ra >= 0) & (rb >= 0)
            joined = np.zeros(first.size - position, dtype=bool)
            if known.any():
                joined[known] = find(ra[known]) == find(rb[known])
            skipped += int(joined.sum())
            first, second, whole = (np.concatenate([first[:position], a[rest][~joined]]) for a in (first, second, whole))
            stop = min(first.size, position + batch)
            for a, b, entirely in zip(first[position:stop], second[position:stop], whole[position:stop]):
                if leaf_root[a] >= 0 and leaf_root[b] >= 0 and find(leaf_root[[a]])[0] == find(leaf_root[[b]])[0]:
                    skipped += 1
                    continue
                core_a, core_b = core_of[a], core_of[b]
                if entirely:
                    together = np.concatenate([core_a, core_b])
                    roots = find(together)
                    union(roots[:1].repeat(roots.size - 1), roots[1:])
                else:
                    if a != b:
                        # Only the core points of each side that may reach the other leaf.
                        core_a, core_b = self._across(core_a, core_b, a, b)
                        if core_b.size:
                            core_a = core_a[self._reach(core_a, b)]
                            core_b = core_b[self._reach(core_b, a)] if core_a.size else core_b[:0]
                        if core_b.size == 0:
                            refresh(a)
                            refresh(b)
                            continue
                    if a != b or not whole_leaf[b]:
                        within, n_computed, n_rechecked = self._within(core_a, None, core_b)
                    else:
                        within, n_computed, n_rechecked = self._within(core_a, np.array([b]))
                    self.stats["pairs_computed"] += n_computed
                    self.stats["pairs_rechecked"] += n_rechecked
                    if a == b:
                        within = np.triu(within, k=1)
                    if within.any():
                        # Only which roots touch matters: reduce the tile to roots x roots.
                        ids_a, rows_by_root = _group(find(core_a))
                        ids_b, cols_by_root = _group(find(core_b))
                        touching = np.logical_or.reduceat(within[rows_by_root[0]], rows_by_root[1], axis=0)
                        touching = np.logical_or.reduceat(touching[:, cols_by_root[0]], cols_by_root[1], axis=1)
                        ra, rb = np.nonzero(touching)
                        union(ids_a[ra], ids_b[rb])
                refresh(a)
                if b != a:
                    refresh(b)
            position = stop
            batch *= 2
        self.stats["leaf_pairs_skipped"] = skipped
        core = np.flatnonzero(is_core)
        component = np.full(n, -1, dtype=np.int64)
        component[core] = find(core)
        return component


def sparse_nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a C-contiguous 2-D bool matrix, fast when few entries are set.

    Eight entries are read as one 64-bit word: only the words that are not zero are
    looked into. Same pairs, same (row-major) order as ``np.nonzero``.
    """
    if not mask.flags.c_contiguous:
        return np.nonzero(mask)
    n_cols = mask.shape[1]
    flat = mask.reshape(-1)
    whole = flat.size - flat.size % 8  # the last few entries, if any, on their own
    words = np.flatnonzero(flat[:whole].view(np.uint64) != 0)  # nonzero() of a bool array is the fast one
    word_row, byte = np.nonzero(flat[:whole].reshape(-1, 8)[words])
    index = np.concatenate([words[word_row] * 8 + byte, np.flatnonzero(flat[whole:]) + whole])
    return np.divmod(index, n_cols)


def _group(values: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Distinct values, and (order, start offsets) that gather equal values together."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return ordered[starts], (order, starts)


def _hints(within: np.ndarray, rows: np.ndarray, cols: np.ndarray, hint_rows: list, hint_cols: list):
    """Append each row's first and last neighbour in a tile: edges that let the cluster
    search skip most leaf pairs once the core points are known (no copy of the tile)."""
    first = np.argmax(within, axis=1)
    found = within[np.arange(rows.size), first]
    if found.any():
        last = within.shape[1] - 1 - np.argmax(within[:, ::-1], axis=1)
        hint_rows += [rows[found], rows[found]]
        hint_cols += [cols[first[found]], cols[last[found]]]
    return hint_rows, hint_cols


def _map(function, items, n_jobs: int) -> list:
    """``[function(item) ...]`` in order, on ``n_jobs`` threads, BLAS held to one thread (thin tiles)."""
    with one_blas_thread():
        return list(threaded_map(function, items, n_jobs))


def _leaves(data: np.ndarray, leaf_size: int, rng: np.random.Generator,
            members: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut the points (``members`` of ``data``, all by default) into compact leaves: halve
    along the line through two far points until at most ``leaf_size`` remain.

    Returns the points in leaf order and the leaves' start offsets into it.
    """
    pieces: list[np.ndarray] = []
    stack = [np.arange(data.shape[0]) if members is None else members]
    while stack:
        members = stack.pop()
        if members.size <= leaf_size:
            pieces.append(members)
            continue
        sample = data[members[rng.choice(members.size, min(members.size, 64), replace=False)]].astype(np.float64)
        centre = sample.mean(axis=0)
        a = sample[np.argmax(np.einsum("ij,ij->i", sample - centre, sample - centre))]
        b = sample[np.argmax(np.einsum("ij,ij->i", sample - a, sample - a))]
        direction = (b - a).astype(np.float32)
        projection = data[members] @ direction
        half = members.size // 2
        split = np.argpartition(projection, half)
        # Right piece pushed first: the left one is cut next (a fixed, seeded order).
        stack.append(members[split[half:]])
        stack.append(members[split[:half]])
    order = np.concatenate(pieces).astype(np.int64)
    start = np.concatenate([[0], np.cumsum([p.size for p in pieces])]).astype(np.int64)
    return order, start
