"""Member flow between two Mapper graphs built on the same inputs, with its splits and merges.

Graph A and graph B hold the same points (two layers of one model on the same images, one
layer of two models, trained vs untrained). Every point sits in some nodes of A (or in
none: noise) and in some nodes of B; the flow says which nodes of A send their members to
which nodes of B.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from topoact import TopoactError
from topoact.mapper.graph import MapperGraph, majority_labels, node_membership

__all__ = ["NOISE", "FLOW_LEVELS", "FlowEvent", "MemberFlow", "member_flow", "member_shares", "node_majorities"]

#: Name of the extra row / column holding the points no node holds.
NOISE = "noise"


@dataclass
class FlowEvent:
    """A node of one graph whose members go to (or come from) separate places in the other.

    Attributes
    ----------
    kind : {'split', 'merge'}
        ``split``: a node of A sends its members to parts of B that are not connected to
        each other. ``merge``: a node of B takes its members from parts of A that are not
        connected to each other.
    node : str
        The node that splits (in A) or merges (in B).
    size : int
        Its member count.
    parts : list of list of str
        The groups of nodes on the other side (each group connected there), largest first.
    shares : list of float
        Share of ``node``'s members in each group.
    sentence : str
    """

    kind: str
    node: str
    size: int
    parts: list[list[str]]
    shares: list[float]
    sentence: str = ""


@dataclass
class MemberFlow:
    """Shared members of every (node of A, node of B) pair, noise included.

    Attributes
    ----------
    source_ids, target_ids : list of str
        Node ids of A and of B, each followed by :data:`NOISE`.
    source_sizes, target_sizes : ndarray of int64
        Members of each of those (the noise entry: points in no node).
    counts : ndarray of int64, shape (n_a + 1, n_b + 1)
        Members shared by the two nodes (a point in two nodes of A counts in both rows).
    weights : ndarray of float64, shape (n_a + 1, n_b + 1)
        The flow of points: each point spreads one unit evenly over its (A node, B node)
        pairs, so the whole flow sums to the number of points and every point counts once.
    events : list of FlowEvent
        Splits then merges, the largest nodes first.
    names : tuple of str
        What A and B are (for sentences and views).
    level : {'node', 'component'}
        What the rows and columns are.
    """

    source_ids: list[str]
    target_ids: list[str]
    counts: np.ndarray
    weights: np.ndarray
    source_sizes: np.ndarray
    target_sizes: np.ndarray
    events: list[FlowEvent] = field(default_factory=list)
    names: tuple[str, str] = ("A", "B")
    level: str = "node"

    @property
    def splits(self) -> list[FlowEvent]:
        """Nodes of A whose members part ways in B."""
        return [e for e in self.events if e.kind == "split"]

    @property
    def merges(self) -> list[FlowEvent]:
        """Nodes of B that gather members from separate parts of A."""
        return [e for e in self.events if e.kind == "merge"]

    def matrix(self, normalise: str | None = None) -> pd.DataFrame:
        """The shared-member counts as a table (rows: A, columns: B).

        Parameters
        ----------
        normalise : {None, 'source', 'target'}
            ``'source'``: each row as shares of the A node's members; ``'target'``: each
            column as shares of the B node's members.
        """
        values = self.counts.astype(np.float64)
        if normalise == "source":
            values = values / np.maximum(self.source_sizes, 1)[:, None]
        elif normalise == "target":
            values = values / np.maximum(self.target_sizes, 1)[None, :]
        elif normalise is not None:
            raise TopoactError(f"normalise must be None, 'source' or 'target'; got {normalise!r}")
        return pd.DataFrame(values if normalise else self.counts, index=self.source_ids, columns=self.target_ids)

    def links(self, min_weight: float = 0.0) -> pd.DataFrame:
        """The flow as a long table ``source``, ``target``, ``points`` (weights), ``shared`` (counts)."""
        rows, cols = np.nonzero(self.weights > min_weight)
        return pd.DataFrame({
            "source": [self.source_ids[i] for i in rows], "target": [self.target_ids[j] for j in cols],
            "points": self.weights[rows, cols], "shared": self.counts[rows, cols],
        })

    def where_members_went(self, node: str) -> dict[str, float]:
        """Share of an A node's members in each B node (noise included), largest first."""
        if node not in self.source_ids:
            raise TopoactError(f"no node {node!r} in {self.names[0]}")
        i = self.source_ids.index(node)
        size = max(self.source_sizes[i], 1)
        shares = {self.target_ids[j]: self.counts[i, j] / size for j in np.flatnonzero(self.counts[i])}
        return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


#: Parts a sentence names (the rest are counted).
MAX_NAMED_PARTS = 4
#: What a flow's rows and columns are.
FLOW_LEVELS: tuple[str, ...] = ("node", "component")


@dataclass
class _Side:
    """One graph as the flow sees it: groups of points (nodes or components) and their neighbours."""

    ids: list[str]
    members: list[np.ndarray]
    neighbours: list[set]
    n_points: int


def _side(graph: MapperGraph, level: str) -> _Side:
    if level == "node":
        neighbours = [set() for _ in range(graph.n_nodes)]
        for p, q in graph.edges.tolist():
            neighbours[p].add(q)
            neighbours[q].add(p)
        return _Side(list(graph.node_ids), list(graph.node_members), neighbours, graph.n_points)
    # each point's nodes lie in one component (nodes sharing a point share an edge): a partition
    comps = graph.components()
    members = [np.unique(np.concatenate([graph.node_members[i] for i in nodes])) for nodes in comps]
    return _Side([f"component {c + 1}" for c in range(len(comps))], members, [set() for _ in comps], graph.n_points)


def _membership_with_noise(side: _Side) -> sp.csr_matrix:
    """``(n_points, n_groups + 1)`` 0/1 matrix; the last column holds the points in no group."""
    members = node_membership(side.members, side.n_points).tocsr().astype(np.int64)
    in_none = np.asarray(members.sum(axis=1)).ravel() == 0
    noise = sp.csr_matrix(in_none.astype(np.int64)[:, None])
    return sp.hstack([members, noise], format="csr")


def node_majorities(graph: MapperGraph, labels, level: str = "node") -> list:
    """Majority label of each node (or component, largest first) of ``graph``."""
    return majority_labels(_side(graph, level).members, np.asarray(labels))


def member_flow(
    a: MapperGraph,
    b: MapperGraph,
    *,
    labels=None,
    level: str = "node",
    min_share: float = 0.2,
    min_members: int = 2,
    names: tuple[str, str] = ("A", "B"),
) -> MemberFlow:
    """Where the members of each node of ``a`` went in ``b``, and the splits and merges.

    Parameters
    ----------
    a, b : MapperGraph
        Built on the same points (row ``i`` is the same input in both).
    labels : array-like of shape (n_points,), optional
        Classes, named in the sentences ("mostly 7").
    level : {'node', 'component'}, default='node'
        Rows and columns: nodes, or connected components (``"component 1"`` is the
        largest). Every point lies in one component or none, so a component flow is a
        plain cross-tabulation, easy to read across models.
    min_share : float, default=0.2
        A part of a split (merge) holds at least this share of the node's members, or
        most of the members of the node it lands in (a node of B made of the A node's
        members is a part however many other parts there are).
    min_members : int, default=2
        ... and at least this many members.
    names : (str, str)
        How the sentences name the two graphs.

    Returns
    -------
    MemberFlow

    Notes
    -----
    A node of A *splits* when the nodes of B that receive a part of it fall into two or
    more groups with no B edge between them: the cover's overlap spreads a node over
    neighbouring nodes all the time, a split is members parting ways. A *merge* is the
    same seen from a node of B. Components have no edges between them, so a component
    of A that sends parts to two components of B splits.
    """
    if not isinstance(a, MapperGraph) or not isinstance(b, MapperGraph):
        raise TopoactError("member_flow needs two MapperGraphs")
    if a.n_points != b.n_points:
        raise TopoactError(
            f"the graphs hold different inputs ({a.n_points} and {b.n_points} points); "
            "member flow needs graphs built on the same inputs"
        )
    if level not in FLOW_LEVELS:
        raise TopoactError(f"unknown flow level {level!r}; valid: {', '.join(FLOW_LEVELS)}")
    if not 0.0 < min_share <= 1.0:
        raise TopoactError(f"min_share must be in (0, 1]; got {min_share}")
    side_a, side_b = _side(a, level), _side(b, level)
    ma, mb = _membership_with_noise(side_a), _membership_with_noise(side_b)
    counts = np.asarray((ma.T @ mb).todense(), dtype=np.int64)
    wa = sp.diags(1.0 / np.asarray(ma.sum(axis=1)).ravel()) @ ma
    wb = sp.diags(1.0 / np.asarray(mb.sum(axis=1)).ravel()) @ mb
    weights = np.asarray((wa.T @ wb).todense(), dtype=np.float64)
    sizes = (np.asarray(ma.sum(axis=0)).ravel(), np.asarray(mb.sum(axis=0)).ravel())
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (a.n_points,):
            raise TopoactError(f"labels must have one entry per point ({a.n_points}); got shape {labels.shape}")
    events = _events("split", side_a, side_b, counts[:-1, :-1], sizes[0][:-1], sizes[1][:-1], min_share, min_members,
                     names, labels) + \
        _events("merge", side_b, side_a, counts[:-1, :-1].T, sizes[1][:-1], sizes[0][:-1], min_share, min_members,
                names[::-1], labels)
    return MemberFlow(
        source_ids=side_a.ids + [NOISE], target_ids=side_b.ids + [NOISE],
        counts=counts, weights=weights, source_sizes=sizes[0], target_sizes=sizes[1], events=events,
        names=tuple(names), level=level,
    )


def member_shares(graph: MapperGraph, rows) -> np.ndarray:
    """Share of the points ``rows`` that each node of ``graph`` holds (where a node's members went).

    Parameters
    ----------
    graph : MapperGraph
        Built on the same points as the graph ``rows`` came from.
    rows : array-like of int
        Point indices, e.g. the members of a node selected in another graph.

    Returns
    -------
    ndarray of float, shape (n_nodes,)
        0 for nodes holding none of them; a point in two nodes counts in both.
    """
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    if rows.size and (rows[0] < 0 or rows[-1] >= graph.n_points):
        raise TopoactError(f"rows must be point indices below {graph.n_points}")
    if rows.size == 0 or graph.n_nodes == 0:
        return np.zeros(graph.n_nodes)
    held = np.asarray(graph.membership_matrix().tocsr()[rows].sum(axis=0)).ravel()
    return held / rows.size


def _classes(labels: np.ndarray | None, rows: np.ndarray) -> str:
    """``", mostly 7"`` (a majority), ``", mixed, most 7"`` or nothing without labels."""
    if labels is None or rows.size == 0:
        return ""
    values, counts = np.unique(labels[rows], return_counts=True)
    top = int(np.lexsort((values, -counts))[0])
    return f", mostly {values[top]}" if 2 * counts[top] > rows.size else f", mixed, most {values[top]}"


def _connected_groups(nodes: list[int], neighbours: list[set]) -> list[np.ndarray]:
    """The nodes grouped by the edges among them (a handful of nodes: a plain search)."""
    left, groups = set(nodes), []
    while left:
        stack = [min(left)]
        left.discard(stack[0])
        group = []
        while stack:
            node = stack.pop()
            group.append(node)
            reached = neighbours[node] & left
            left -= reached
            stack.extend(reached)
        groups.append(np.array(sorted(group), dtype=np.int64))
    return groups


def _events(kind, here: _Side, there: _Side, counts: np.ndarray, sizes: np.ndarray, sizes_there: np.ndarray,
            min_share: float, min_members: int, names, labels) -> list[FlowEvent]:
    """Groups of ``here`` whose members in ``there`` fall into groups with no edge between them."""
    events = []
    for i in range(len(here.ids)):
        size = int(sizes[i])
        # a part: at least min_members, and a good share of this group or most of the group it lands in
        part = (counts[i] >= min_members) & ((counts[i] >= min_share * size) | (2 * counts[i] > sizes_there))
        receiving = np.flatnonzero(part)
        if receiving.size < 2:
            continue
        groups = _connected_groups(receiving.tolist(), there.neighbours)
        if len(groups) < 2:
            continue
        moved = [np.intersect1d(here.members[i], np.concatenate([there.members[j] for j in nodes])) for nodes in groups]
        order = np.argsort([-rows.size for rows in moved], kind="stable")
        groups, moved = [groups[k] for k in order], [moved[k] for k in order]
        shares = [rows.size / size for rows in moved]
        parts = [[there.ids[j] for j in nodes] for nodes in groups]
        pieces = []
        for ids, rows, share in list(zip(parts, moved, shares))[:MAX_NAMED_PARTS]:
            where = "+".join(ids) if len(ids) <= 3 else f"{len(ids)} nodes from {ids[0]}"
            pieces.append(f"{where} ({share:.0%}{_classes(labels, rows)})")
        mostly_here = _classes(labels, here.members[i])
        verb = f"splits in {names[1]} into" if kind == "split" else f"gathers members from {names[1]}:"
        more = len(groups) - MAX_NAMED_PARTS
        sentence = f"{names[0]} {here.ids[i]} ({size} members{mostly_here}) {verb} " + ", ".join(pieces[:-1]) + \
            (" and " if len(pieces) > 1 and more <= 0 else ", ") + pieces[-1] + (f" and {more} more" if more > 0 else "")
        events.append(FlowEvent(kind, here.ids[i], size, parts, shares, sentence))
    return sorted(events, key=lambda e: -e.size)
