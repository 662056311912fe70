"""The activation table: vectors of one layer with the metadata of the inputs they came from.

Shared by extraction (which produces it), the cache (which stores it) and the analyses
(which read it). One row per activation vector; several rows may come from one input
sample when the sampling keeps several positions or tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ActivationSet:
    """Activation vectors of one layer and, row for row, where each came from.

    Parameters
    ----------
    layer : str
        Dotted module name the vectors were taken from.
    vectors : ndarray of shape (n_rows, dim), float32
        The activation vectors.
    sample_index : ndarray of shape (n_rows,), int64
        Row of the dataset the vector came from.
    position : ndarray of shape (n_rows,), int32
        Spatial position (flattened ``h * W + w``) or token index that was sampled;
        ``-1`` when the vector pools over all positions.
    label : ndarray of shape (n_rows,), int64
        The sample's label in the dataset, ``-1`` when unlabelled.
    prediction : ndarray of shape (n_rows,), int64
        The model's predicted class for the sample, ``-1`` when the model has no head.
    confidence : ndarray of shape (n_rows,), float32
        Softmax probability of the predicted class, NaN when the model has no head.
    meta : dict
        Free-form description (model, dataset, sampling, seed, ...), JSON-serialisable.
    label_probability : ndarray of shape (n_rows,), float32, optional
        Softmax probability the model gives the sample's *label* (not its prediction),
        NaN when the model has no head, the sample no label, or the label is not one of
        the model's classes. Omitted: all NaN.
    """

    layer: str
    vectors: np.ndarray
    sample_index: np.ndarray
    position: np.ndarray
    label: np.ndarray
    prediction: np.ndarray
    confidence: np.ndarray
    meta: dict = field(default_factory=dict)
    label_probability: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D, got shape {self.vectors.shape}")
        n = self.vectors.shape[0]
        self.sample_index = np.asarray(self.sample_index, dtype=np.int64)
        self.position = np.asarray(self.position, dtype=np.int32)
        self.label = np.asarray(self.label, dtype=np.int64)
        self.prediction = np.asarray(self.prediction, dtype=np.int64)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        if self.label_probability is None:
            self.label_probability = np.full(n, np.nan, dtype=np.float32)
        self.label_probability = np.asarray(self.label_probability, dtype=np.float32)
        for name in ("sample_index", "position", "label", "prediction", "confidence", "label_probability"):
            column = getattr(self, name)
            if column.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {column.shape}")

    @property
    def n_rows(self) -> int:
        """Number of activation vectors."""
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        """Width of the layer (length of each vector)."""
        return int(self.vectors.shape[1])
