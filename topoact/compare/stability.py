"""Parameter stability: which components, loops and branches survive a sweep of the cover.

One activation set is mapped with every ``n_intervals x overlap`` (x ``eps``) setting. The
estimator is refitted with ``warm_start=True``: for one eps the neighbour search runs once
and each further cover costs a re-cover (a fraction of a second at 20k points). The
structure of each graph (:func:`topoact.anomaly.structure_report`: components, loops,
branches) is matched with the structure of the neighbouring settings by shared members,
which gives

* a barcode: each feature is a bar over the resolutions (``n_intervals``) it persists
  through, like a persistence diagram over the cover's scale;
* a stability score per setting: how much of its structure is still there one step away
  in either parameter;
* a suggestion: the most stable setting that shows some structure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from topoact import TopoactError
from topoact.anomaly.structure import structure_report
from topoact.compare.metrics import graph_metrics
from topoact.mapper.builder import Mapper, check_data
from topoact.progress import Progress

__all__ = ["FEATURE_KINDS", "Feature", "StabilityResult", "parameter_stability", "auto_interval_grid"]

#: The structure tracked through a sweep.
FEATURE_KINDS: tuple[str, ...] = ("component", "loop", "branch")


@dataclass
class Feature:
    """One component, loop or branch of one setting's graph."""

    kind: str
    members: np.ndarray
    classes: list


@dataclass
class StabilityResult:
    """What a sweep found.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per setting: ``n_intervals``, ``overlap``, ``eps`` (as asked), ``eps_used``,
        the :func:`~topoact.compare.graph_metrics` numbers, the tracked feature counts
        (``components_tracked``, ``loops_tracked``, ``branches_tracked``), ``stability``
        (mean share of its features matched one step away) and ``seconds`` (its fit).
    bars : pandas.DataFrame
        The barcode: one row per feature chain along ``n_intervals`` at each overlap and
        eps: ``kind``, ``overlap``, ``eps``, ``birth`` and ``death`` (first and last
        ``n_intervals``), ``length`` (settings it lasts), ``classes`` and ``size`` (members at birth).
    suggestion : dict
        ``n_intervals``, ``overlap``, ``eps`` of the suggested setting.
    seconds : float
        Wall time of the whole sweep.
    """

    table: pd.DataFrame
    bars: pd.DataFrame
    suggestion: dict
    seconds: float

    def describe(self) -> str:
        """The suggestion in one sentence."""
        s = self.suggestion
        row = self.table[(self.table["n_intervals"] == s["n_intervals"]) & (self.table["overlap"] == s["overlap"])
                         & (self.table["eps"].astype(str) == str(s["eps"]))].iloc[0]
        counts = ", ".join(_count(int(row[f"{plural}_tracked"]), kind)
                           for kind, plural in zip(FEATURE_KINDS, ("components", "loops", "branches")))
        return (f"most stable: {s['n_intervals']} intervals, overlap {s['overlap']:g}, eps {s['eps']} "
                f"(stability {row['stability']:.2f}: {counts})")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else ("es" if noun.endswith("ch") else "s"))


def _features(graph, labels: np.ndarray, min_component_share: float) -> list[Feature]:
    if graph.n_nodes == 0:
        return []
    found = []
    for finding in structure_report(graph, labels):
        if finding.kind not in FEATURE_KINDS:
            continue
        if finding.kind == "component" and finding.members.size < min_component_share * graph.n_points:
            continue
        found.append(Feature(finding.kind, finding.members, finding.classes))
    return found


def _incidence(features: list[Feature], n_points: int) -> sp.csr_matrix:
    if not features:
        return sp.csr_matrix((0, n_points), dtype=np.float64)
    rows = np.repeat(np.arange(len(features)), [f.members.size for f in features])
    cols = np.concatenate([f.members for f in features])
    return sp.csr_matrix((np.ones(cols.size), (rows, cols)), shape=(len(features), n_points))


def _match(a: list[Feature], b: list[Feature], n_points: int, threshold: float) -> list[tuple[int, int]]:
    """One-to-one pairs of same-kind features whose member Jaccard is at least ``threshold``, best first."""
    if not a or not b:
        return []
    inter = (_incidence(a, n_points) @ _incidence(b, n_points).T).toarray()
    size_a = np.array([f.members.size for f in a], dtype=np.float64)
    size_b = np.array([f.members.size for f in b], dtype=np.float64)
    jaccard = inter / (size_a[:, None] + size_b[None, :] - inter)
    same_kind = np.array([f.kind for f in a])[:, None] == np.array([f.kind for f in b])[None, :]
    jaccard = np.where(same_kind, jaccard, 0.0)
    rows, cols = np.nonzero(jaccard >= threshold)
    order = np.lexsort((cols, rows, -jaccard[rows, cols]))
    used_a, used_b, pairs = set(), set(), []
    for k in order:
        i, j = int(rows[k]), int(cols[k])
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return pairs


def auto_interval_grid(X, mapper: Mapper | None, overlap: float,
                       factors: Sequence[float] = (0.5, 0.75, 1.0, 1.5, 2.0)) -> list[int]:
    """Interval counts around Carrière–Michel–Oudot's resolution for ``mapper``'s lens at ``overlap``.

    Returns
    -------
    list of int
        ``round(f * k)`` for each factor (at least 1, duplicates removed), ``k`` the
        rule's choice (:func:`topoact.mapper.scale.cmo_resolution`).
    """
    from sklearn.base import clone

    from topoact.mapper.lens import make_lens
    from topoact.mapper.scale import cmo_resolution

    base = mapper if mapper is not None else Mapper()
    lens = make_lens(base.lens) if isinstance(base.lens, np.ndarray) else clone(make_lens(base.lens))
    values = np.asarray(lens.fit_transform(X), dtype=np.float64)
    k = cmo_resolution(values, X, overlap, metric=base.metric, random_state=base.random_state)
    return sorted({max(1, int(round(f * k))) for f in factors})


def parameter_stability(
    X,
    labels=None,
    *,
    n_intervals: Sequence[int] | str = (8, 12, 16, 20, 30, 40),
    overlaps: Sequence[float] = (0.2, 0.3, 0.4, 0.5),
    eps: Sequence[float | str] = ("auto",),
    mapper: Mapper | None = None,
    match: float = 0.5,
    min_component_share: float = 0.01,
    progress: Progress | None = None,
) -> StabilityResult:
    """Sweep the cover (and eps) of one activation set and find where its structure is stable.

    Parameters
    ----------
    X : array-like of shape (n_points, dim)
    labels : array-like of shape (n_points,), optional
        Classes, for the metrics and to name what each feature holds.
    n_intervals, overlaps : sequences
        The grid (sorted here); ``n_intervals`` is the barcode's axis.
        ``n_intervals="auto"`` starts from Carrière–Michel–Oudot's resolution ``k``
        for the middle overlap (:func:`topoact.mapper.scale.cmo_resolution`; 1-D
        lenses only) and sweeps ``k/2, 3k/4, k, 3k/2, 2k`` (see :func:`auto_interval_grid`).
    eps : sequence of float or 'auto' / 'knee'
        DBSCAN radii; each value costs one neighbour search, every cover after it a re-cover.
    mapper : Mapper, optional
        Its other parameters (lens, min_samples, metric ...) are kept; it is cloned.
    match : float, default=0.5
        Two features of neighbouring settings are the same when their members' Jaccard
        index is at least this.
    min_component_share : float, default=0.01
        Components holding fewer points than this share are not tracked (specks of noise).
    progress : callable(fraction, message), optional

    Returns
    -------
    StabilityResult
    """
    from sklearn.base import clone

    start = time.perf_counter()
    X = check_data(X)
    n = X.shape[0]
    grid_o = sorted({float(v) for v in overlaps})
    if isinstance(n_intervals, str):
        if n_intervals != "auto":
            raise TopoactError(f"n_intervals must be a sequence of whole numbers or 'auto'; got {n_intervals!r}")
        if not grid_o:
            raise TopoactError("the sweep needs at least one n_intervals, one overlap and one eps")
        n_intervals = auto_interval_grid(X, mapper, grid_o[len(grid_o) // 2])
    grid_n = sorted({int(v) for v in n_intervals})
    grid_e = list(dict.fromkeys(eps))
    if not grid_n or not grid_o or not grid_e:
        raise TopoactError("the sweep needs at least one n_intervals, one overlap and one eps")
    if min(grid_n) < 1 or not all(0.0 <= o < 1.0 for o in grid_o):
        raise TopoactError("n_intervals must be at least 1 and overlaps in [0, 1)")
    if not 0.0 < match <= 1.0:
        raise TopoactError(f"match must be in (0, 1]; got {match}")
    named = np.zeros(n, dtype=np.int64) if labels is None else np.asarray(labels)
    if named.shape != (n,):
        raise TopoactError(f"labels must have one entry per row of X ({n}); got shape {named.shape}")
    report = progress or (lambda fraction, message: None)
    total = len(grid_n) * len(grid_o) * len(grid_e)

    rows, features = [], {}
    for e_index, e in enumerate(grid_e):
        estimator = clone(mapper if mapper is not None else Mapper()).set_params(warm_start=True, eps=e)
        for o in grid_o:
            for k in grid_n:
                done = len(rows)
                report(done / total, f"{k} intervals, overlap {o:g}, eps {e}")
                tick = time.perf_counter()
                try:
                    graph = estimator.set_params(n_intervals=k, overlap=o).fit(X).graph_
                except ValueError as exc:
                    raise TopoactError(str(exc).splitlines()[0]) from None
                seconds = time.perf_counter() - tick
                found = _features(graph, named, min_component_share)
                features[(e_index, o, k)] = found
                counts = {kind: sum(f.kind == kind for f in found) for kind in FEATURE_KINDS}
                rows.append({
                    "n_intervals": k, "overlap": o, "eps": e, "eps_used": graph.params.get("eps_used"),
                    **graph_metrics(graph, labels),
                    "components_tracked": counts["component"], "loops_tracked": counts["loop"],
                    "branches_tracked": counts["branch"], "seconds": seconds,
                })
    report(1.0, "matching features")
    table = pd.DataFrame(rows)
    if labels is None:
        table = table.drop(columns=["mean_purity", "weighted_purity", "point_purity", "label_ami", "anomalies"])

    # Matches between grid neighbours (one step in n_intervals, or in overlap), same eps.
    matched = dict.fromkeys(features, 0.0)
    compared = dict.fromkeys(features, 0)
    along_n: dict[tuple, list[tuple[int, int]]] = {}
    for here in features:
        e_index, o, k = here
        i_n, i_o = grid_n.index(k), grid_o.index(o)
        steps = []
        if i_n + 1 < len(grid_n):
            steps.append((e_index, o, grid_n[i_n + 1]))
        if i_o + 1 < len(grid_o):
            steps.append((e_index, grid_o[i_o + 1], k))
        for there in steps:
            pairs = _match(features[here], features[there], n, match)
            if there[2] != k:
                along_n[here] = pairs
            for key, other in ((here, there), (there, here)):
                compared[key] += 1
                size = len(features[key])
                matched[key] += len(pairs) / size if size else float(not features[other])
    keys = [(e_index, o, k) for e_index in range(len(grid_e)) for o in grid_o for k in grid_n]  # the rows' order
    table["stability"] = [matched[key] / max(compared[key], 1) for key in keys]
    bars = _barcode(features, along_n, grid_n, grid_o, grid_e)
    suggestion = _suggest(table, grid_n, grid_o)
    return StabilityResult(table=table, bars=bars, suggestion=suggestion, seconds=time.perf_counter() - start)


def _barcode(features, along_n, grid_n, grid_o, grid_e) -> pd.DataFrame:
    """Chain each feature through the n_intervals it survives (per overlap and eps)."""
    bars = []
    for e_index, e in enumerate(grid_e):
        for o in grid_o:
            open_chains: dict[int, dict] = {}
            for step, k in enumerate(grid_n):
                found = features[(e_index, o, k)]
                continued = {}
                if step > 0:
                    for i, j in along_n.get((e_index, o, grid_n[step - 1]), []):
                        if i in open_chains:
                            chain = open_chains.pop(i)
                            chain["death"], chain["length"] = k, chain["length"] + 1
                            continued[j] = chain
                bars.extend(open_chains.values())
                for j, feature in enumerate(found):
                    if j not in continued:
                        continued[j] = {"kind": feature.kind, "overlap": o, "eps": e, "birth": k, "death": k,
                                        "length": 1, "classes": "-".join(map(str, feature.classes[:6])),
                                        "size": int(feature.members.size)}
                open_chains = continued
            bars.extend(open_chains.values())
    frame = pd.DataFrame(bars, columns=["kind", "overlap", "eps", "birth", "death", "length", "classes", "size"])
    order = frame.assign(_eps=frame["eps"].map(grid_e.index), _kind=frame["kind"].map(FEATURE_KINDS.index),
                         _length=-frame["length"], _size=-frame["size"])
    order = order.sort_values(["_eps", "overlap", "_kind", "_length", "birth", "_size"], kind="stable")
    return frame.loc[order.index].reset_index(drop=True)


def _suggest(table: pd.DataFrame, grid_n, grid_o) -> dict:
    """The most stable setting with some structure; ties: more features, then the middle of the grid."""
    structured = (table["loops_tracked"] + table["branches_tracked"] > 0) | (table["components_tracked"] > 1)
    pool = table[structured] if structured.any() else table
    centre_n, centre_o = (len(grid_n) - 1) / 2, (len(grid_o) - 1) / 2
    features = pool["components_tracked"] + pool["loops_tracked"] + pool["branches_tracked"]
    off_centre = [abs(grid_n.index(k) - centre_n) + abs(grid_o.index(o) - centre_o)
                  for k, o in zip(pool["n_intervals"], pool["overlap"])]
    ranked = pool.assign(_features=features, _off=off_centre).sort_values(
        ["stability", "_features", "_off"], ascending=[False, False, True], kind="stable")
    best = ranked.iloc[0]
    return {"n_intervals": int(best["n_intervals"]), "overlap": float(best["overlap"]), "eps": best["eps"]}
