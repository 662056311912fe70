"""Comparing Mapper graphs across layers, architectures, weights and parameters.

>>> from topoact.compare import RunSpec, compare_runs, graph_metrics, member_flow
>>> graph_metrics(graph, labels)  # doctest: +SKIP
{'nodes': 112, 'edges': 131, 'components': 4, 'loops': 23, ...}
>>> comparison = compare_runs([RunSpec("digits_cnn", "block3"), RunSpec("digits_mlp", "hidden2")],
...                           "digits", store=Store())  # doctest: +SKIP
>>> comparison.table  # doctest: +SKIP
>>> comparison.flow(0, 1).splits  # doctest: +SKIP

Figures (trajectory, flow, stability) are in :mod:`topoact.compare.plots` (matplotlib).
"""

from topoact.compare.distance import DISTANCES, flow_distance, graph_distance, shape_distance
from topoact.compare.flow import FLOW_LEVELS, NOISE, FlowEvent, MemberFlow, member_flow, member_shares
from topoact.compare.metrics import (
    ANOMALY_THRESHOLD,
    METRIC_COLUMNS,
    METRIC_DESCRIPTIONS,
    graph_metrics,
    label_separation,
)
from topoact.compare.runs import (
    Comparison,
    Run,
    RunSpec,
    check_same_inputs,
    compare_runs,
    comparison_table,
    relative_depth,
    run_metrics,
)
from topoact.compare.stability import FEATURE_KINDS, StabilityResult, parameter_stability

__all__ = [
    "ANOMALY_THRESHOLD", "METRIC_COLUMNS", "METRIC_DESCRIPTIONS", "graph_metrics", "label_separation",
    "FLOW_LEVELS", "NOISE", "FlowEvent", "MemberFlow", "member_flow", "member_shares",
    "DISTANCES", "flow_distance", "graph_distance", "shape_distance",
    "Comparison", "Run", "RunSpec", "check_same_inputs", "compare_runs", "comparison_table", "relative_depth",
    "run_metrics",
    "FEATURE_KINDS", "StabilityResult", "parameter_stability",
]
