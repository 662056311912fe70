"""The error of the feature-visualization package (one clear line on the command line)."""

from __future__ import annotations

from topoact import TopoactError


class FeatvisError(TopoactError):
    """Bad input to a feature visualization: wrong modality, unknown node, mismatched layer ..."""
