"""Datasets: a registry of loaders and the :class:`Dataset` type every loader returns.

Every sample keeps a stable id, its label (``-1`` when unlabelled) and a way to show it
(a PNG thumbnail for images, the text for text).
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from zoo.errors import ZooError, unknown_name_error
from zoo.registry import MODALITIES


class Dataset:
    """Samples of one dataset with their labels, ids and a content hash.

    Parameters
    ----------
    name : str
        Registry name (or a descriptive name for user data).
    modality : {'image', 'text'}
        Kind of sample.
    class_names : list of str
        Name of each label value; ``labels`` index into it.
    labels : array-like of int
        One label per sample, ``-1`` when unlabelled.
    ids : list of str
        One stable id per sample (unchanged by subsampling).
    samples : sequence
        Stored samples: ``HxWxC`` uint8 arrays, image file paths, or strings.
    description : str
        One line about the data and where it came from.
    """

    def __init__(
        self,
        name: str,
        modality: str,
        class_names: Sequence[str],
        labels: Iterable[int],
        ids: Sequence[str],
        samples: Sequence[Any],
        description: str = "",
    ) -> None:
        self.name = name
        self.modality = modality
        self.class_names = list(class_names)
        self.labels = np.asarray(list(labels) if not isinstance(labels, np.ndarray) else labels, dtype=np.int64)
        self.ids = [str(i) for i in ids]
        self._samples = samples
        self.description = description
        if not (len(self.labels) == len(self.ids) == len(samples)):
            raise ValueError(
                f"labels ({len(self.labels)}), ids ({len(self.ids)}) and samples ({len(samples)}) differ in length"
            )
        if len(set(self.ids)) != len(self.ids):
            raise ValueError(f"dataset {name!r} has duplicate sample ids")
        if self.labels.size and (self.labels.max() >= len(self.class_names) or self.labels.min() < -1):
            raise ValueError(f"dataset {name!r} has labels outside 0..{len(self.class_names) - 1} (or -1)")

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"Dataset(name={self.name!r}, modality={self.modality!r}, n={len(self)}, classes={len(self.class_names)})"

    def _item(self, index: int) -> Any:
        sample = self._samples[index]
        if isinstance(sample, Path):
            from PIL import Image

            with Image.open(sample) as image:
                image = image.convert("L") if image.mode in ("L", "I", "I;16", "1") else image.convert("RGB")
                array = np.asarray(image)
            return array[:, :, None] if array.ndim == 2 else array
        return sample

    def items(self, indices: Iterable[int]) -> list:
        """Return the samples at ``indices``.

        Images are ``H x W x C`` uint8 arrays, text samples are strings.
        """
        return [self._item(int(i)) for i in indices]

    def label_name(self, index: int) -> str | None:
        """Class name of sample ``index``, None when unlabelled."""
        label = int(self.labels[index])
        return self.class_names[label] if label >= 0 else None

    def text(self, index: int) -> str:
        """The text of sample ``index`` (text datasets); a caption for images."""
        if self.modality == "text":
            return str(self._samples[index])
        label = self.label_name(index)
        return f"{self.ids[index]}" + (f" ({label})" if label is not None else "")

    def thumbnail(self, index: int, size: int = 96) -> bytes:
        """A PNG of sample ``index``, at most ``size`` pixels a side (small images upscaled).

        Raises
        ------
        ZooError
            For text datasets (use :meth:`text`).
        """
        if self.modality != "image":
            raise ZooError(f"dataset {self.name!r} holds text; use text(i) instead of thumbnail(i)")
        from PIL import Image

        array = self._item(index)
        image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
        scale = size / max(image.size)
        resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), resample)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    @functools.cached_property
    def content_hash(self) -> str:
        """sha256 over every sample's id, label and content (image bytes, file bytes or text)."""
        digest = hashlib.sha256()
        digest.update(f"{self.modality}\n{self.class_names}\n".encode())
        for sample_id, label, sample in zip(self.ids, self.labels, self._samples):
            digest.update(f"{sample_id}\t{int(label)}\t".encode())
            if isinstance(sample, Path):
                digest.update(sample.read_bytes())
            elif isinstance(sample, str):
                digest.update(sample.encode("utf-8"))
            else:
                array = np.ascontiguousarray(sample)
                digest.update(f"{array.shape}{array.dtype}".encode())
                digest.update(array.tobytes())
        return digest.hexdigest()

    def subset(self, indices: Iterable[int]) -> "Dataset":
        """A new dataset with the samples at ``indices`` (ids and labels kept)."""
        rows = [int(i) for i in indices]
        return Dataset(
            self.name,
            self.modality,
            self.class_names,
            self.labels[rows] if rows else np.zeros(0, np.int64),
            [self.ids[i] for i in rows],
            [self._samples[i] for i in rows],
            self.description,
        )


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset of the zoo.

    Parameters
    ----------
    name : str
        Registry name.
    modality : {'image', 'text'}
    description : str
        One line for listings.
    offline : bool
        True when it loads with no network (shipped on PyPI or the user's own files).
    licence : str
        Licence or terms of the data.
    loader : callable
        ``loader(path) -> Dataset`` with every sample (subsampling is done afterwards).
    needs_path : bool
        True when the user must pass ``path=`` (their own folder or file).
    """

    name: str
    modality: str
    description: str
    offline: bool
    licence: str
    loader: Callable[[str | None], Dataset]
    needs_path: bool = False


_DATASETS: dict[str, DatasetEntry] = {}


@dataclass(frozen=True)
class DatasetFamily:
    """Datasets named by a pattern rather than listed one by one (e.g. perturbed sets).

    Parameters
    ----------
    prefix : str
        Names of the family start with ``prefix + ":"``.
    pattern : str
        The name's form, for messages (``"adv:DATASET:MODEL:ATTACK:EPS:sSEED"``).
    entry_for : callable
        ``entry_for(name) -> DatasetEntry``; cheap (no loading), raises ZooError for a
        malformed name.
    available : callable
        ``available() -> list of str``: the names ready without computing (listed by
        :func:`list_datasets`).
    """

    prefix: str
    pattern: str
    entry_for: Callable[[str], DatasetEntry]
    available: Callable[[], list[str]]


_FAMILIES: dict[str, DatasetFamily] = {}


def register_dataset_family(family: DatasetFamily) -> DatasetFamily:
    """Add a family of pattern-named datasets (resolved by :func:`get_dataset`)."""
    _FAMILIES[family.prefix] = family
    return family


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Add ``entry`` to the dataset registry and return it."""
    if entry.modality not in MODALITIES:
        raise ZooError(f"modality must be one of {', '.join(MODALITIES)}; got {entry.modality!r}")
    _DATASETS[entry.name] = entry
    return entry


def get_dataset(name: str) -> DatasetEntry:
    """Return the dataset entry ``name``; unknown names raise a ZooError listing valid ones."""
    if name in _DATASETS:
        return _DATASETS[name]
    family = _FAMILIES.get(name.split(":", 1)[0]) if isinstance(name, str) and ":" in name else None
    if family is not None:
        return family.entry_for(name)
    error = unknown_name_error("dataset", name, _DATASETS)
    if _FAMILIES:
        forms = ", ".join(family.pattern for family in _FAMILIES.values())
        error = ZooError(f"{error}; or a name of the form {forms}")
    raise error from None


def list_datasets(filter: str = "*", modality: str | None = None) -> list[str]:
    """Return the sorted names of registered datasets matching an fnmatch ``filter``.

    Parameters
    ----------
    filter : str
        Case-insensitive :mod:`fnmatch` pattern.
    modality : {'image', 'text'} or None
        Keep only this modality.
    """
    if modality is not None and modality not in MODALITIES:
        raise ZooError(f"modality must be one of {', '.join(MODALITIES)}; got {modality!r}")
    named = [(name, entry.modality) for name, entry in _DATASETS.items()]
    for family in _FAMILIES.values():
        named += [(name, family.entry_for(name).modality) for name in family.available()]
    return sorted(
        name
        for name, kind in named
        if fnmatch.fnmatchcase(name.lower(), filter.lower()) and (modality is None or kind == modality)
    )


@functools.lru_cache(maxsize=16)
def _load_builtin(name: str) -> Dataset:
    return get_dataset(name).loader(None)


def load_dataset(name: str, *, limit: int | None = None, seed: int = 0, path: str | None = None) -> Dataset:
    """Load dataset ``name``, optionally a seeded random subset of ``limit`` samples.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.
    limit : int or None
        Keep at most this many samples, drawn without replacement with ``seed`` and kept
        in their original order. None keeps all.
    seed : int
        Seed of the subsample.
    path : str or None
        The user's folder or file for datasets that need one (``image-folder``,
        ``text-file``, ``imagenet-val``), or a local copy for hub datasets.

    Returns
    -------
    Dataset
    """
    entry = get_dataset(name)
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ZooError(f"limit must be a positive integer or None, got {limit!r}")
    if entry.needs_path and path is None:
        raise ZooError(f"dataset {name!r} needs path=... ({entry.description})")
    dataset = _load_builtin(name) if path is None else entry.loader(str(path))
    if len(dataset) == 0:
        raise ZooError(f"dataset {name!r} has no samples" + (f" under {path}" if path else ""))
    return seeded_subset(dataset, limit, seed)


def seeded_subset(dataset: Dataset, limit: int | None, seed: int = 0) -> Dataset:
    """A seeded random subset of ``limit`` samples kept in their original order (all when None or larger)."""
    if limit is None or limit >= len(dataset):
        return dataset
    rows = np.sort(np.random.default_rng(seed).choice(len(dataset), size=int(limit), replace=False))
    return dataset.subset(rows)
