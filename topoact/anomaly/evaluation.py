"""Measuring a ranking against known answers: injected label noise, precision@k, AUROC."""

from __future__ import annotations

import numpy as np
import pandas as pd

from topoact import TopoactError


def flip_labels(labels, fraction: float, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Give a seeded ``fraction`` of the rows a different, uniformly drawn label.

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        Clean labels in ``0 .. n_classes - 1``.
    fraction : float
        Share of rows to flip, in ``(0, 1)``; ``round(fraction * n)`` rows (at least 1).
    n_classes : int
    seed : int, default=0

    Returns
    -------
    noisy : ndarray of int64
        The labels with the chosen rows flipped (never to their own class).
    flipped : ndarray of bool
        Which rows were flipped.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if not 0.0 < fraction < 1.0:
        raise TopoactError(f"fraction must be in (0, 1); got {fraction}")
    if n_classes < 2:
        raise TopoactError("flipping labels needs at least 2 classes")
    rng = np.random.default_rng(seed)
    n_flip = max(1, int(round(fraction * labels.size)))
    rows = rng.choice(labels.size, size=n_flip, replace=False)
    noisy = labels.copy()
    shift = rng.integers(1, n_classes, size=n_flip)  # 1 .. n_classes-1: never the same class
    noisy[rows] = (labels[rows] + shift) % n_classes
    flipped = np.zeros(labels.size, dtype=bool)
    flipped[rows] = True
    return noisy, flipped


def precision_at_k(scores, truth, k: int | None = None) -> float:
    """Share of true anomalies among the ``k`` highest scores (default ``k`` = number of true ones).

    Ties are broken by row order, as in :func:`topoact.anomaly.rank_order`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    k = int(truth.sum()) if k is None else int(k)
    if k < 1:
        raise TopoactError("precision@k needs k >= 1 (and at least one true anomaly)")
    order = np.lexsort((np.arange(scores.size), -scores))
    return float(truth[order[:k]].mean())


def evaluate_scores(columns: dict[str, np.ndarray], truth) -> pd.DataFrame:
    """AUROC and precision@k (k = number of true anomalies) of each named score.

    Returns
    -------
    pandas.DataFrame
        Index = score name, columns ``auroc`` and ``precision_at_k``.
    """
    from sklearn.metrics import roc_auc_score

    truth = np.asarray(truth, dtype=bool)
    if truth.all() or not truth.any():
        raise TopoactError("evaluation needs both anomalous and normal rows")
    rows = {name: {"auroc": float(roc_auc_score(truth, np.asarray(values, dtype=np.float64))),
                   "precision_at_k": precision_at_k(values, truth)}
            for name, values in columns.items()}
    return pd.DataFrame.from_dict(rows, orient="index")
