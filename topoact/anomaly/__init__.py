"""Anomaly ranking on Mapper graphs: which samples look mislabelled or out of place, and why.

>>> from topoact.anomaly import anomaly_scores, rank_samples
>>> scores = anomaly_scores(graph, labels, vectors=X, prediction=pred, confidence=conf)  # doctest: +SKIP
>>> rank_samples(scores, top=50)  # doctest: +SKIP
"""

from topoact.anomaly.scores import (
    ANOMALY_EPS,
    DEFAULT_WEIGHTS,
    SCORE_COLUMNS,
    aggregate_by_sample,
    anomaly_scores,
    combine_scores,
    graph_scores,
    node_anomaly_summary,
    rank_order,
    rank_samples,
    stability,
    vector_scores,
)

__all__ = [
    "ANOMALY_EPS", "DEFAULT_WEIGHTS", "SCORE_COLUMNS", "aggregate_by_sample", "anomaly_scores", "combine_scores",
    "graph_scores", "node_anomaly_summary", "rank_order", "rank_samples", "stability", "vector_scores",
]

from topoact.anomaly.structure import Finding, GraphFeature, feature_confidence, graph_features, structure_report  # noqa: E402

__all__ += ["Finding", "GraphFeature", "feature_confidence", "graph_features", "structure_report"]

from topoact.anomaly.report import (  # noqa: E402
    SCORES_KIND,
    AnomalyReport,
    anomaly_report,
    combined_per_row,
    default_sweep,
    score_samples,
    scores_key,
)

__all__ += ["SCORES_KIND", "AnomalyReport", "anomaly_report", "combined_per_row", "default_sweep", "score_samples",
            "scores_key"]
