"""The functional core of the robustness study: clean and attacked activations in one graph,
per-sample vulnerability, whether the clean graph predicts it, and the strength sweep.

Everything here takes arrays, activation sets and Mapper graphs and returns arrays and
DataFrames; :mod:`topoact.robustness.report` runs the attacks, extraction and caching.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from topoact import TopoactError
from topoact.activations import ActivationSet
from topoact.anomaly.scores import attach_noise
from topoact.mapper.graph import MapperGraph

#: Metrics of one graph for the strength sweep: ``metrics(graph, labels) -> {name: value}``.
GraphMetrics = Callable[[MapperGraph, np.ndarray], Mapping[str, float]]

#: Sample kinds in a combined graph.
CLEAN, ATTACKED = "clean", "attacked"


# ------------------------------------------------------------------------- clean + attacked


def combine_activations(clean: ActivationSet, attacked: ActivationSet) -> tuple[ActivationSet, np.ndarray]:
    """Stack the activations of clean inputs and of their attacked versions into one set.

    Parameters
    ----------
    clean, attacked : ActivationSet
        The same layer of the same model, on a dataset and on its perturbed version (same
        samples in the same order, so ``sample_index`` pairs them).

    Returns
    -------
    combined : ActivationSet
        Clean rows first, then attacked rows; ``meta['kinds']`` names the two sources.
    is_attacked : ndarray of bool, shape (n_rows,)
        The sample kind of each row (the metadata the graph is coloured by).
    """
    if clean.layer != attacked.layer or clean.dim != attacked.dim:
        raise TopoactError(f"clean ({clean.layer}, {clean.dim}-d) and attacked ({attacked.layer}, "
                           f"{attacked.dim}-d) activations are not of the same layer")
    columns = {name: np.concatenate([getattr(clean, name), getattr(attacked, name)])
               for name in ("vectors", "sample_index", "position", "label", "prediction", "confidence")}
    meta = {**clean.meta, "kinds": {CLEAN: clean.meta.get("dataset"), ATTACKED: attacked.meta.get("dataset")},
            "layer": clean.layer, "dataset": f"{clean.meta.get('dataset')} + {attacked.meta.get('dataset')}",
            "dropped_nonfinite": int(clean.meta.get("dropped_nonfinite") or 0)
            + int(attacked.meta.get("dropped_nonfinite") or 0)}
    meta.pop("cached", None)
    if clean.meta.get("content_hash") and attacked.meta.get("content_hash"):
        # the stacked rows' identity, so the shared graph cache can key their graph
        both = f"{clean.meta['content_hash']}+{attacked.meta['content_hash']}".encode()
        meta["content_hash"] = hashlib.sha256(both).hexdigest()
    else:
        meta.pop("content_hash", None)
    combined = ActivationSet(layer=clean.layer, meta=meta, **columns)
    is_attacked = np.r_[np.zeros(clean.n_rows, bool), np.ones(attacked.n_rows, bool)]
    return combined, is_attacked


def attack_mix(graph: MapperGraph, is_attacked, classes) -> pd.DataFrame:
    """Per node of a clean + attacked graph: how attacked it is, and where attacks mix classes.

    Parameters
    ----------
    graph : MapperGraph
        Built on clean and attacked rows together.
    is_attacked : array-like of bool, shape (n_points,)
    classes : array-like, shape (n_points,)
        The class of each row (the dataset label; an attacked row keeps its clean label).

    Returns
    -------
    pandas.DataFrame
        Index = node id; ``size``, ``clean``, ``attacked``, ``attacked_share``,
        ``clean_with_foreign_attacked`` (clean members sharing the node with an attacked
        member of another class), ``foreign_attacked`` (attacked members whose class no
        clean member of the node has) and ``majority_label``; sorted by
        ``clean_with_foreign_attacked`` then ``attacked_share``, descending.
    """
    is_attacked = np.asarray(is_attacked, dtype=bool)
    classes = np.asarray(classes)
    if is_attacked.shape != (graph.n_points,) or classes.shape != (graph.n_points,):
        raise TopoactError(f"is_attacked and classes need one entry per graph point ({graph.n_points})")
    majority = graph.label_summary(classes)["majority_label"] if graph.n_nodes else []
    rows = []
    for i, members in enumerate(graph.node_members):
        attacked_members = members[is_attacked[members]]
        clean_members = members[~is_attacked[members]]
        attacked_classes = np.unique(classes[attacked_members])
        clean_classes = np.unique(classes[clean_members])
        # a clean member is mixed when some attacked member of the node has another class
        if attacked_classes.size == 0:
            mixed = 0
        elif attacked_classes.size == 1:
            mixed = int((classes[clean_members] != attacked_classes[0]).sum())
        else:
            mixed = int(clean_members.size)
        rows.append({
            "node": graph.node_ids[i], "size": int(members.size), "clean": int(clean_members.size),
            "attacked": int(attacked_members.size), "attacked_share": attacked_members.size / max(members.size, 1),
            "clean_with_foreign_attacked": mixed,
            "foreign_attacked": int((~np.isin(classes[attacked_members], clean_classes)).sum()),
            "majority_label": majority[i],
        })
    columns = ["node", "size", "clean", "attacked", "attacked_share", "clean_with_foreign_attacked",
               "foreign_attacked", "majority_label"]
    frame = pd.DataFrame(rows, columns=columns).set_index("node")
    return frame.sort_values(["clean_with_foreign_attacked", "attacked_share"], ascending=False, kind="stable")


# ------------------------------------------------------------------------- vulnerability


def flip_strength(clean_prediction, predictions: Mapping[float, np.ndarray]) -> np.ndarray:
    """Smallest strength at which each sample's prediction differs from its clean one.

    Parameters
    ----------
    clean_prediction : array-like of int, shape (n,)
    predictions : mapping of float to array-like of int
        The prediction under the attack at each strength.

    Returns
    -------
    ndarray of float, shape (n,)
        ``inf`` for samples that never flip at the given strengths.
    """
    clean_prediction = np.asarray(clean_prediction)
    if not predictions:
        raise TopoactError("flip strength needs predictions at one strength at least")
    out = np.full(clean_prediction.shape, np.inf)
    for eps in sorted(predictions, reverse=True):
        predicted = np.asarray(predictions[eps])
        if predicted.shape != clean_prediction.shape:
            raise TopoactError(f"predictions at strength {eps} have shape {predicted.shape}, "
                               f"the clean ones {clean_prediction.shape}")
        out[predicted != clean_prediction] = float(eps)
    return out


def vulnerability_table(
    clean_graph: MapperGraph,
    clean: ActivationSet,
    flip: np.ndarray,
    margin: np.ndarray,
    ids: Sequence[str] | None = None,
    k: int = 10,
) -> pd.DataFrame:
    """Per sample: how easily it flips, and what the clean graph and the model said beforehand.

    Parameters
    ----------
    clean_graph : MapperGraph
        Built on ``clean.vectors``.
    clean : ActivationSet
        Activations of the clean samples (several rows per sample are averaged).
    flip : ndarray of float, shape (n_samples,)
        :func:`flip_strength` per sample (indexed like ``clean.sample_index``).
    margin : ndarray of float, shape (n_samples,)
        The model's clean confidence margin (top-1 minus top-2 softmax probability).
    ids : sequence of str, optional
        Sample ids for the table.
    k : int, default 10
        Neighbours of the k-NN label disagreement (an activation-space reference without the graph).

    Returns
    -------
    pandas.DataFrame
        Index = sample; ``id``, ``label``, ``flip_strength``, ``point_purity`` (mean over
        the sample's nodes of 1 / distinct labels), ``node_mix`` (share of the sample's
        node members with another label), ``lens_position`` (:func:`lens_position`),
        ``knn_disagreement`` and ``margin``. A row no node holds is judged by the nodes
        of its nearest clustered row.
    """
    from topoact.anomaly.scores import graph_scores, vector_scores

    labels = point_classes(clean)
    scores = graph_scores(clean_graph, labels, vectors=clean.vectors)
    knn = vector_scores(clean.vectors, labels, k=k)["knn_disagreement"].to_numpy()
    per_row = pd.DataFrame({
        "sample": clean.sample_index, "point_purity": 1.0 - scores["impurity"].to_numpy(),
        "node_mix": scores["node_disagreement"].to_numpy(),
        "lens_position": lens_position(clean_graph, clean.vectors), "knn_disagreement": knn, "label": clean.label,
    })
    table = per_row.groupby("sample", sort=True).agg(
        label=("label", "first"), point_purity=("point_purity", "mean"), node_mix=("node_mix", "mean"),
        lens_position=("lens_position", "mean"), knn_disagreement=("knn_disagreement", "mean"),
    )
    samples = table.index.to_numpy()
    flip, margin = np.asarray(flip, dtype=np.float64), np.asarray(margin, dtype=np.float64)
    if samples.max(initial=-1) >= flip.size or flip.shape != margin.shape:
        raise TopoactError(f"flip strengths ({flip.size}) and margins ({margin.size}) need one entry per sample")
    table.insert(1, "flip_strength", flip[samples])
    table["margin"] = margin[samples]
    if ids is not None:
        table.insert(0, "id", [str(ids[s]) for s in samples])
    return table


def lens_position(graph: MapperGraph, vectors=None) -> np.ndarray:
    """Where each row sits along the lens inside its connected component, in ``[0, 1]``.

    A node's position is its mean lens value scaled to its component's range of node
    means (0 = the component's low end, 1 = its high end; a one-node component is 0.5);
    a row's position is the mean over its nodes. With TopoAct's L2-norm lens the low end
    of a class's branch holds the weakly activated, atypical samples.

    Parameters
    ----------
    graph : MapperGraph
    vectors : array-like of shape (n_points, dim), optional
        With vectors, a row no node holds gets the position of its nearest clustered row;
        without, NaN.

    Returns
    -------
    ndarray of float, shape (n_points,)
    """
    if graph.n_nodes == 0:
        return np.full(graph.n_points, np.nan)
    means = graph.lens_mean[:, 0].astype(np.float64)
    component = graph.component_of_node
    position = np.full(graph.n_nodes, 0.5)
    for c in range(graph.n_components):
        nodes = component == c
        low, high = means[nodes].min(), means[nodes].max()
        if high > low:
            position[nodes] = (means[nodes] - low) / (high - low)
    membership = graph.membership_matrix().tocsr().astype(np.float64)
    membership = attach_noise(membership,  # the anomaly scores' rule for unclustered rows
                              np.asarray(membership.sum(axis=1)).ravel() > 0, vectors)
    count = np.asarray(membership.sum(axis=1)).ravel()
    total = np.asarray(membership @ position).ravel()
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


#: Vulnerability predictors: column -> (sign that makes "higher = more vulnerable", description).
PREDICTORS: dict[str, tuple[float, str]] = {
    "point_purity": (-1.0, "clean graph: 1 - point purity"),
    "node_mix": (1.0, "clean graph: node mix (share of other labels in the sample's nodes)"),
    "lens_position": (-1.0, "clean graph: low end of its component along the lens"),
    "knn_disagreement": (1.0, "activations: k-NN label disagreement (no graph)"),
    "margin": (-1.0, "baseline: the model's confidence margin (low = vulnerable)"),
    "margin+lens_position": (1.0, "baseline and graph: mean of the two ranks"),
}


def default_small_strength(flip: np.ndarray, strengths: Sequence[float], share: float = 0.1) -> float:
    """The smallest strength at which at least ``share`` of the samples have flipped (else the largest)."""
    flip = np.asarray(flip, dtype=np.float64)
    for eps in sorted(strengths):
        if np.mean(flip <= eps) >= share:
            return float(eps)
    return float(max(strengths))


def vulnerability_prediction(table: pd.DataFrame, small: float) -> pd.DataFrame:
    """How well each clean-time score predicts vulnerability, against the margin baseline.

    Parameters
    ----------
    table : DataFrame
        From :func:`vulnerability_table`.
    small : float
        "Flips at small strength" means ``flip_strength <= small``.

    Returns
    -------
    pandas.DataFrame
        Index = predictor (see :data:`PREDICTORS`); ``spearman`` (rank correlation of the
        oriented score with ``-flip_strength``; samples that never flip rank last),
        ``auroc`` (for flipping at ``small`` or below), ``what``. Positive correlation and
        AUROC above 0.5 mean the score points at the vulnerable samples.
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    flips_small = table["flip_strength"].to_numpy() <= small
    if flips_small.all() or not flips_small.any():
        raise TopoactError(f"at strength {small:g}, {'every' if flips_small.all() else 'no'} sample flips: "
                           "AUROC needs both; choose another small strength or more strengths")
    flip = table["flip_strength"].to_numpy(dtype=np.float64)
    never = ~np.isfinite(flip)
    easiness = -np.where(never, (flip[~never].max() if (~never).any() else 0.0) + 1.0, flip)  # never flips: last
    from scipy.stats import rankdata

    oriented = {column: sign * table[column].to_numpy(dtype=np.float64)
                for column, (sign, _) in PREDICTORS.items() if column in table.columns}
    if "margin" in oriented and "lens_position" in oriented:
        pair = [np.nan_to_num(oriented[c], nan=np.nanmedian(oriented[c])) for c in ("margin", "lens_position")]
        oriented["margin+lens_position"] = (rankdata(pair[0]) + rankdata(pair[1])) / 2.0
    rows = {}
    for column, score in oriented.items():
        known = np.isfinite(score)
        target = flips_small[known]
        varies = known.sum() > 2 and np.ptp(score[known]) > 0
        rho = spearmanr(score[known], easiness[known]).statistic if varies else np.nan
        auroc = roc_auc_score(target, score[known]) if target.any() and not target.all() else np.nan
        rows[column] = {"spearman": float(rho), "auroc": float(auroc), "what": PREDICTORS[column][1]}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "predictor"
    return frame


# ------------------------------------------------------------------------- strength sweep


def strength_sweep(graphs: Mapping[float, MapperGraph], labels, metrics: GraphMetrics) -> pd.DataFrame:
    """Graph metrics of the attacked graphs as the strength grows (strength 0 = the clean graph).

    Parameters
    ----------
    graphs : mapping of float to MapperGraph
        The graph of the attacked activations at each strength.
    labels : array-like or mapping of float to array-like
        The class of every point of each graph (one array for all when they share rows).
    metrics : callable
        ``metrics(graph, labels) -> {name: value}``, the comparison metrics of one graph.

    Returns
    -------
    pandas.DataFrame
        Index = strength (ascending), one column per metric.
    """
    rows = {}
    for eps in sorted(graphs):
        point_labels = np.asarray(labels[eps] if isinstance(labels, Mapping) else labels)
        rows[float(eps)] = dict(metrics(graphs[eps], point_labels))
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "strength"
    return frame


def point_classes(acts: ActivationSet) -> np.ndarray:
    """The class of each row: its dataset label, or the model's prediction where it has none."""
    return np.where(acts.label >= 0, acts.label, acts.prediction)
