"""The Mapper graph: the result type every analysis and view reads."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["MapperGraph", "GRAPH_FORMAT", "node_membership"]

GRAPH_FORMAT = "topoact.mapper-graph/1"


@dataclass(eq=False)
class MapperGraph:
    """Nodes (clusters of points inside cover elements) and the edges between them.

    Parameters
    ----------
    node_members : list of ndarray of int64
        Sorted row indices (into the data the graph was built on) of each node.
    node_element : ndarray of int64, shape (n_nodes,)
        Cover element each node was found in.
    node_cluster : ndarray of int64, shape (n_nodes,)
        The node's cluster number inside its element (0, 1, ... in order of the
        smallest member).
    edges : ndarray of int64, shape (n_edges, 2)
        Node positions ``(i, j)`` with ``i < j``, sorted.
    edge_shared : ndarray of int64, shape (n_edges,)
        Number of members the two nodes share.
    n_points : int
        Number of rows of the data.
    lens_mean, lens_min, lens_max : ndarray of float64, shape (n_nodes, n_lens_dims)
        Lens statistics over each node's members.
    params : dict
        Parameters that produced the graph (JSON-serialisable).
    node_data : dict of str to list
        Optional extra per-node values (e.g. label counts), one entry per node.

    Notes
    -----
    Node ids are ``"cube{element}_cluster{cluster}"`` (KeplerMapper's form); they are
    stable for the same data and parameters.
    """

    node_members: list[np.ndarray]
    node_element: np.ndarray
    node_cluster: np.ndarray
    edges: np.ndarray
    edge_shared: np.ndarray
    n_points: int
    lens_mean: np.ndarray
    lens_min: np.ndarray
    lens_max: np.ndarray
    params: dict = field(default_factory=dict)
    node_data: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ basic facts
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_members)

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return int(self.edges.shape[0])

    @cached_property
    def node_ids(self) -> list[str]:
        """Readable, stable node ids ``cube{element}_cluster{cluster}``."""
        return [f"cube{e}_cluster{c}" for e, c in zip(self.node_element, self.node_cluster)]

    @cached_property
    def node_sizes(self) -> np.ndarray:
        """Number of members of each node."""
        return np.array([m.size for m in self.node_members], dtype=np.int64)

    @cached_property
    def edge_jaccard(self) -> np.ndarray:
        """Jaccard index ``|A & B| / |A | B|`` of each edge's two nodes."""
        if self.n_edges == 0:
            return np.empty(0, dtype=np.float64)
        sizes = self.node_sizes
        union = sizes[self.edges[:, 0]] + sizes[self.edges[:, 1]] - self.edge_shared
        return self.edge_shared / union

    @cached_property
    def covered_points(self) -> np.ndarray:
        """Rows that belong to at least one node, sorted."""
        if not self.node_members:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(self.node_members))

    @property
    def n_noise(self) -> int:
        """Rows that belong to no node (DBSCAN noise in every element holding them)."""
        return int(self.n_points - self.covered_points.size)

    @cached_property
    def degree(self) -> np.ndarray:
        """Number of edges at each node."""
        return np.bincount(self.edges.ravel(), minlength=self.n_nodes).astype(np.int64)

    @cached_property
    def component_of_node(self) -> np.ndarray:
        """Connected-component number of each node (0 = the component of node 0, ...)."""
        if self.n_nodes == 0:
            return np.empty(0, dtype=np.int64)
        _, labels = connected_components(self.adjacency_matrix(), directed=False)
        # Number components by their first node so the numbering is stable.
        _, first = np.unique(labels, return_index=True)
        rank = np.empty(first.size, dtype=np.int64)
        rank[np.argsort(first)] = np.arange(first.size)
        return rank[labels]

    @property
    def n_components(self) -> int:
        """Number of connected components."""
        return int(self.component_of_node.max() + 1) if self.n_nodes else 0

    @property
    def n_loops(self) -> int:
        """Cycle rank (first Betti number of the graph): ``edges - nodes + components``."""
        return int(self.n_edges - self.n_nodes + self.n_components)

    @property
    def branch_points(self) -> np.ndarray:
        """Positions of nodes where the graph branches (degree 3 or more)."""
        return np.flatnonzero(self.degree >= 3)

    def components(self) -> list[np.ndarray]:
        """Node positions of each connected component, largest first."""
        comps = [np.flatnonzero(self.component_of_node == c) for c in range(self.n_components)]
        return sorted(comps, key=lambda nodes: (-nodes.size, nodes[0]))

    def membership_matrix(self) -> sp.csc_matrix:
        """Sparse ``(n_points, n_nodes)`` boolean matrix: row i is in node j."""
        return node_membership(self.node_members, self.n_points)

    def summary(self) -> dict:
        """One-line facts: nodes, edges, components, loops, branch points, noise points."""
        return {
            "nodes": self.n_nodes,
            "edges": self.n_edges,
            "components": self.n_components,
            "loops": self.n_loops,
            "branch_points": int(self.branch_points.size),
            "points": int(self.n_points),
            "noise_points": self.n_noise,
        }

    def adjacency_matrix(self) -> sp.csr_matrix:
        """Sparse symmetric ``(n_nodes, n_nodes)`` 0/1 matrix of the edges."""
        n = self.n_nodes
        e = self.edges
        upper = sp.csr_matrix((np.ones(e.shape[0], dtype=np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
        return (upper + upper.T).tocsr()

    # ------------------------------------------------------------------ label views
    def label_summary(self, labels) -> dict[str, list]:
        """Per-node label counts, majority label and purity for per-row ``labels``.

        Parameters
        ----------
        labels : array-like of shape (n_points,)
            Label of each data row (any hashable values; ``-1`` counts as a label).

        Returns
        -------
        dict
            ``label_counts`` (per node, ``[label, count]`` pairs, most common first),
            ``majority_label`` and ``purity`` (share of the majority label).
        """
        labels = np.asarray(labels)
        if labels.shape[0] != self.n_points:
            raise ValueError(f"labels has {labels.shape[0]} entries, the graph has {self.n_points} points")
        counts_list, majority, purity = [], [], []
        for members in self.node_members:
            values, counts = np.unique(labels[members], return_counts=True)
            order = np.lexsort((values, -counts))
            counts_list.append([[_json_scalar(values[k]), int(counts[k])] for k in order])
            majority.append(_json_scalar(values[order[0]]))
            purity.append(float(counts[order[0]] / members.size))
        return {"label_counts": counts_list, "majority_label": majority, "purity": purity}

    # ------------------------------------------------------------------ conversions
    def to_networkx(self):
        """A ``networkx.Graph`` with node attributes (members, size, lens, element) and
        edge attributes (shared, jaccard); nodes are named by :attr:`node_ids`."""
        import networkx as nx

        graph = nx.Graph(**{k: v for k, v in self.params.items() if _is_json_scalar(v)})
        ids = self.node_ids
        for i, node_id in enumerate(ids):
            attributes = {
                "members": self.node_members[i].tolist(),
                "size": int(self.node_sizes[i]),
                "element": int(self.node_element[i]),
                "lens_mean": self.lens_mean[i].tolist(),
            }
            for key, values in self.node_data.items():
                attributes[key] = values[i]
            graph.add_node(node_id, **attributes)
        for k, (i, j) in enumerate(self.edges):
            graph.add_edge(
                ids[i], ids[j], shared=int(self.edge_shared[k]), jaccard=float(self.edge_jaccard[k])
            )
        return graph

    def to_dict(self) -> dict:
        """JSON-ready dict: ``nodes``, ``edges``, ``params``, ``summary``."""
        ids = self.node_ids
        nodes = []
        for i, node_id in enumerate(ids):
            node = {
                "id": node_id,
                "element": int(self.node_element[i]),
                "cluster": int(self.node_cluster[i]),
                "size": int(self.node_sizes[i]),
                "members": self.node_members[i].tolist(),
                "lens_mean": self.lens_mean[i].tolist(),
                "lens_min": self.lens_min[i].tolist(),
                "lens_max": self.lens_max[i].tolist(),
            }
            for key, values in self.node_data.items():
                node[key] = values[i]
            nodes.append(node)
        edges = [
            {
                "source": ids[i],
                "target": ids[j],
                "shared": int(self.edge_shared[k]),
                "jaccard": float(self.edge_jaccard[k]),
            }
            for k, (i, j) in enumerate(self.edges)
        ]
        return {
            "format": GRAPH_FORMAT,
            "n_points": int(self.n_points),
            "nodes": nodes,
            "edges": edges,
            "params": self.params,
            "node_data_keys": sorted(self.node_data),
            "summary": self.summary(),
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """Serialise to JSON; write it to ``path`` when given. Returns the JSON text."""
        text = json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict) -> "MapperGraph":
        """Inverse of :meth:`to_dict`."""
        if data.get("format") != GRAPH_FORMAT:
            raise ValueError(f"not a topoact Mapper graph (format {data.get('format')!r}, expected {GRAPH_FORMAT!r})")
        nodes = data["nodes"]
        position = {node["id"]: i for i, node in enumerate(nodes)}
        n_dims = len(nodes[0]["lens_mean"]) if nodes else 1
        lens = {
            key: np.array([node[key] for node in nodes], dtype=np.float64).reshape(len(nodes), n_dims)
            for key in ("lens_mean", "lens_min", "lens_max")
        }
        edges = np.array(
            [[position[e["source"]], position[e["target"]]] for e in data["edges"]], dtype=np.int64
        ).reshape(-1, 2)
        return cls(
            node_members=[np.array(node["members"], dtype=np.int64) for node in nodes],
            node_element=np.array([node["element"] for node in nodes], dtype=np.int64),
            node_cluster=np.array([node["cluster"] for node in nodes], dtype=np.int64),
            edges=edges,
            edge_shared=np.array([e["shared"] for e in data["edges"]], dtype=np.int64),
            n_points=int(data["n_points"]),
            params=data.get("params", {}),
            node_data={key: [node[key] for node in nodes] for key in data.get("node_data_keys", [])},
            **lens,
        )

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> "MapperGraph":
        """Read a graph written by :meth:`to_json` (a path, or the JSON text itself)."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"graph file not found: {path}")
            text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"graph JSON is malformed: {exc}") from None
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MapperGraph):
            return NotImplemented
        return self.to_dict() == other.to_dict()


def majority_labels(groups, labels: np.ndarray) -> list:
    """Majority label of each group of rows (ties: the smaller label), as Python scalars.

    Parameters
    ----------
    groups : iterable of ndarray of int
        Row indices per group (e.g. ``MapperGraph.node_members``).
    labels : ndarray of shape (n_points,)
    """
    out = []
    for members in groups:
        values, counts = np.unique(labels[members], return_counts=True)
        out.append(values[np.lexsort((values, -counts))[0]].item())
    return out


def node_membership(node_members: list[np.ndarray], n_points: int, dtype=bool) -> sp.csc_matrix:
    """Sparse ``(n_points, n_nodes)`` matrix with a one where row i is a member of node j."""
    sizes = np.array([m.size for m in node_members], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    indices = np.concatenate(node_members).astype(np.int64) if node_members else np.empty(0, np.int64)
    return sp.csc_matrix(
        (np.ones(indices.size, dtype=dtype), indices, indptr), shape=(n_points, len(node_members))
    )


def _json_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def _is_json_scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None
