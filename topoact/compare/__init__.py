"""Comparing Mapper graphs across layers, architectures, weights and parameters.

>>> from topoact.compare import graph_metrics
>>> graph_metrics(graph, labels)  # doctest: +SKIP
{'nodes': 112, 'edges': 131, 'components': 4, 'loops': 23, ...}
"""

from topoact.compare.metrics import (
    ANOMALY_THRESHOLD,
    METRIC_COLUMNS,
    METRIC_DESCRIPTIONS,
    graph_metrics,
    label_separation,
)

__all__ = ["ANOMALY_THRESHOLD", "METRIC_COLUMNS", "METRIC_DESCRIPTIONS", "graph_metrics", "label_separation"]
