"""Robustness through the lens of topology: adversarial inputs in the Mapper graph.

Perturbed datasets (FGSM, PGD and a random-noise control) are ordinary zoo datasets made
by :mod:`zoo.perturbed`; this package puts clean and attacked activations in one graph,
scores how vulnerable each sample is, asks whether the clean graph predicts it, and follows
the graph's metrics as the attack strength grows.

>>> from topoact.robustness import RobustnessConfig, robustness_report  # doctest: +SKIP
>>> result = robustness_report(RobustnessConfig("digits_cnn", "digits", "block3"))  # doctest: +SKIP
>>> result.prediction  # doctest: +SKIP
"""

from topoact.robustness.analysis import (
    ATTACKED,
    CLEAN,
    PREDICTORS,
    attack_mix,
    combine_activations,
    default_small_strength,
    flip_strength,
    lens_position,
    point_classes,
    strength_sweep,
    vulnerability_prediction,
    vulnerability_table,
)
from topoact.robustness.report import (
    DEFAULT_STRENGTHS,
    SWEEP_COLUMNS,
    RobustnessConfig,
    RobustnessReport,
    robustness_report,
)

__all__ = [
    "ATTACKED", "CLEAN", "DEFAULT_STRENGTHS", "SWEEP_COLUMNS", "PREDICTORS", "RobustnessConfig", "RobustnessReport",
    "attack_mix", "combine_activations", "default_small_strength", "flip_strength", "lens_position", "point_classes", "robustness_report",
    "strength_sweep", "vulnerability_prediction", "vulnerability_table",
]
