"""Perturbed datasets: adversarial and random-noise versions of an image dataset against a zoo model.

A perturbed set is an ordinary zoo dataset with a name that says how it was made::

    adv:DATASET:MODEL:ATTACK:EPS:sSEED[:nLIMIT]      e.g.  adv:digits:digits_cnn:pgd:0.1:s0

``zoo.load_dataset(name)`` computes it on first use and then reads it from
``cache/perturbed/`` (a file named by a content hash of the model's weights, the base
data, the attack and its recipe), so every view that takes a dataset name works on it.

Attacks are L-inf and untargeted. They push each image away from the model's own clean
prediction, so "the prediction flips" is defined for any data, also photos whose labels
are not the model's classes. FGSM and PGD come from the Adversarial Robustness Toolbox
(ART):

``fgsm``
    One signed-gradient step of size eps (Goodfellow et al., 2015).
``pgd``
    :data:`PGD_STEPS` signed-gradient steps of ``PGD_STEP_FACTOR * eps / PGD_STEPS`` from a
    seeded random start inside the eps ball, projected back onto it (Madry et al., 2018).
``noise``
    The control: every pixel moved by +eps or -eps with a seeded random sign, the same
    L-inf and L2 size as an FGSM step but in no chosen direction.

The strength eps is a fraction of the pixel range [0, 1]. Images are 8-bit, so it is
applied in whole grey levels, ``floor(eps * 255)``; eps below 1/255 is refused.

Perturbations are made in the model's input space (after its resize, inside its centre
crop) and stored as the resized image with the perturbed crop pasted in: the model's own
preprocessing gives back the attacked input pixel for pixel.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from zoo.datasets import (
    Dataset,
    DatasetEntry,
    DatasetFamily,
    get_dataset,
    load_dataset,
    register_dataset_family,
    seeded_subset,
)
from zoo.errors import ZooError
from zoo.paths import atomic_write_bytes, cache_dir

if TYPE_CHECKING:  # zoo imports nothing of topoact at run time
    from topoact.progress import Progress

#: Attack name -> one line about it.
ATTACKS: dict[str, str] = {
    "fgsm": "fast gradient sign method, one step (ART FastGradientMethod, L-inf, untargeted)",
    "pgd": "projected gradient descent, 10 steps from a random start (ART ProjectedGradientDescentPyTorch, L-inf)",
    "noise": "control: random +-eps on every pixel, the size of an FGSM step",
}
PREFIX = "adv"
NAME_PATTERN = "adv:DATASET:MODEL:ATTACK:EPS:sSEED[:nLIMIT]"
PGD_STEPS = 10
PGD_STEP_FACTOR = 2.5
#: Samples per attack call; random starts are drawn per chunk, so results do not depend on a batch size.
CHUNK = 32
FILE_FORMAT = "topoact.perturbed/1"
MIN_EPS = 1.0 / 255.0


# ------------------------------------------------------------------------- names


def grey_levels(eps: float) -> int:
    """The strength in whole 8-bit grey levels: ``floor(eps * 255)`` (a tiny tolerance for 8/255)."""
    return int(math.floor(float(eps) * 255.0 + 1e-6))


def check_strength(eps: Any) -> float:
    """Return ``eps`` as a float if it is a usable L-inf radius, else raise a ZooError saying why."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ZooError(f"strength must be a number in [1/255, 1] (e.g. 0.03 or 8/255); got {eps!r}") from None
    if not math.isfinite(value) or value > 1.0 or grey_levels(value) < 1:
        raise ZooError(
            f"strength {eps!r} is out of range: give an L-inf radius in [1/255, 1] of the pixel range "
            "(e.g. 0.03 or 8/255); below 1/255 an 8-bit image cannot change"
        )
    return value


def parse_strength(text: str | float) -> float:
    """A strength from ``"0.03"``, ``"8/255"`` or a number (checked by :func:`check_strength`)."""
    if isinstance(text, str) and "/" in text:
        top, _, bottom = text.partition("/")
        try:
            value = float(top) / float(bottom)
        except (ValueError, ZeroDivisionError):
            raise ZooError(f"strength must be a number or a fraction like 8/255; got {text!r}") from None
        return check_strength(value)
    return check_strength(text)


def format_strength(eps: float) -> str:
    """The canonical text of a strength in dataset names (``0.1``, ``0.0313725``)."""
    return f"{float(eps):g}"


@dataclass(frozen=True)
class PerturbedSpec:
    """What makes a perturbed set: base dataset, model, attack, strength, seed, subset size.

    Parameters
    ----------
    dataset : str
        Zoo name of the clean image dataset.
    model : str
        Zoo name of the image classifier attacked (or whose input space the noise is in).
    attack : {'fgsm', 'pgd', 'noise'}
    eps : float
        L-inf radius as a fraction of the pixel range, in ``[1/255, 1]``.
    seed : int
        Seeds the subset, PGD's random start and the noise signs.
    limit : int or None
        Perturb a seeded random subset of this many samples (the one ``load_dataset(dataset,
        limit=limit, seed=seed)`` gives); None perturbs every sample.
    """

    dataset: str
    model: str
    attack: str
    eps: float
    seed: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.attack not in ATTACKS:
            raise ZooError(f"unknown attack {self.attack!r}; valid attacks: {', '.join(ATTACKS)}")
        object.__setattr__(self, "eps", check_strength(self.eps))
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or self.seed < 0:
            raise ZooError(f"seed must be a non-negative integer; got {self.seed!r}")
        if self.limit is not None and (not isinstance(self.limit, (int, np.integer)) or self.limit < 1):
            raise ZooError(f"limit must be a positive integer or None; got {self.limit!r}")
        for part in (self.dataset, self.model):
            if not part or ":" in part or any(ch.isspace() for ch in part):
                raise ZooError(f"dataset and model names in a perturbed set cannot be empty or hold ':' or spaces; got {part!r}")

    @property
    def name(self) -> str:
        """The zoo dataset name, ``adv:DATASET:MODEL:ATTACK:EPS:sSEED[:nLIMIT]``."""
        tail = f":n{self.limit}" if self.limit is not None else ""
        return f"{PREFIX}:{self.dataset}:{self.model}:{self.attack}:{format_strength(self.eps)}:s{self.seed}{tail}"

    @classmethod
    def parse(cls, name: str) -> "PerturbedSpec":
        """Read a name made by :attr:`name`; a malformed one raises a ZooError showing the form."""
        parts = str(name).split(":")
        problem = None
        if len(parts) not in (6, 7) or parts[0] != PREFIX:
            problem = "wrong number of parts"
        elif not re.fullmatch(r"s\d+", parts[5]):
            problem = f"seed part {parts[5]!r} is not sN"
        elif len(parts) == 7 and not re.fullmatch(r"n\d+", parts[6]):
            problem = f"limit part {parts[6]!r} is not nN"
        if problem:
            raise ZooError(f"perturbed dataset name {name!r} is malformed ({problem}); the form is {NAME_PATTERN}, "
                           f"e.g. adv:digits:digits_cnn:pgd:0.1:s0")
        limit = int(parts[6][1:]) if len(parts) == 7 else None
        return cls(parts[1], parts[2], parts[3], parse_strength(parts[4]), int(parts[5][1:]), limit)


# ------------------------------------------------------------------------- the dataset type


class _PastedImages(Sequence):
    """Each base image resized for the model, with its perturbed crop pasted in (built on access)."""

    def __init__(self, base: Dataset, crops: np.ndarray, boxes: np.ndarray, input_config: dict) -> None:
        self.base, self.crops, self.boxes, self.input_config = base, crops, boxes, input_config

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        from zoo.preprocess import resized_with_crop_box

        resized, (top, left, height, width) = resized_with_crop_box(self.base.items([index])[0], self.input_config)
        image = resized.copy()
        image[top:top + height, left:left + width] = self.crops[index]
        return image


class PerturbedDataset(Dataset):
    """A perturbed image dataset: ordinary :class:`~zoo.Dataset` plus what the attack found.

    Attributes
    ----------
    spec : PerturbedSpec
    base_name : str
        The clean dataset's name.
    clean_prediction, prediction : ndarray of int64
        The model's prediction on the clean and on the perturbed images.
    clean_margin, margin : ndarray of float32
        Softmax probability of the top class minus the runner-up, clean and perturbed.
    levels : int
        Grey levels each pixel moved at most (``floor(eps * 255)``).
    labels_are_classes : bool
        Whether the labels are the model's classes (accuracy is defined).
    from_cache : bool
        Read from ``cache/perturbed`` rather than computed.
    """

    def __init__(self, spec: PerturbedSpec, base: Dataset, crops: np.ndarray, boxes: np.ndarray,
                 input_config: dict, predictions: dict[str, np.ndarray], labels_are_classes: bool = True,
                 from_cache: bool = False) -> None:
        description = (f"{spec.attack} eps {format_strength(spec.eps)} ({grey_levels(spec.eps)}/255) against "
                       f"{spec.model} on {base.name} ({len(base)} samples, seed {spec.seed})")
        super().__init__(spec.name, "image", base.class_names, base.labels, base.ids,
                         _PastedImages(base, crops, boxes, input_config), description)
        self.spec = spec
        self.base_name = base.name
        self.levels = grey_levels(spec.eps)
        self.clean_prediction = np.asarray(predictions["clean_prediction"], dtype=np.int64)
        self.prediction = np.asarray(predictions["prediction"], dtype=np.int64)
        self.clean_margin = np.asarray(predictions["clean_margin"], dtype=np.float32)
        self.margin = np.asarray(predictions["margin"], dtype=np.float32)
        self.labels_are_classes = bool(labels_are_classes)
        self.from_cache = bool(from_cache)
        self._fingerprint = (base.content_hash, crops, boxes, input_config)

    @property
    def flipped(self) -> np.ndarray:
        """Samples whose prediction differs from the clean prediction."""
        return self.prediction != self.clean_prediction

    def accuracy(self, clean: bool = False) -> float | None:
        """Share of labelled samples predicted as their label (None when the labels are not the model's classes)."""
        predicted = self.clean_prediction if clean else self.prediction
        known = self.labels >= 0
        if not self.labels_are_classes or not known.any():
            return None
        return float((predicted[known] == self.labels[known]).mean())

    @functools.cached_property
    def content_hash(self) -> str:
        """sha256 over the base data's hash, the perturbed crops, where they go and the input config."""
        base_hash, crops, boxes, input_config = self._fingerprint
        digest = hashlib.sha256(f"{FILE_FORMAT}\n{base_hash}\n{json.dumps(input_config, sort_keys=True)}\n".encode())
        digest.update(np.ascontiguousarray(boxes, dtype=np.int64).tobytes())
        digest.update(f"{crops.shape}{crops.dtype}".encode())
        digest.update(np.ascontiguousarray(crops).tobytes())
        return digest.hexdigest()


# ------------------------------------------------------------------------- making one


def perturbed_dir() -> Path:
    """``cache_dir()/perturbed``, where perturbed sets are kept (created on demand)."""
    folder = cache_dir() / "perturbed"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_attackable(model: Any, dataset: Any = None) -> None:
    """Raise a ZooError unless ``model`` is an image classifier (and ``dataset`` holds images).

    ``model`` is a LoadedModel or a ModelEntry; ``dataset`` a Dataset or a DatasetEntry.
    """
    from zoo.registry import list_models

    entry = getattr(model, "entry", model)
    if entry.modality != "image":
        image_models = ", ".join(list_models(modality="image", offline=True))
        raise ZooError(f"attacks need an image classifier; {entry.name} is a {entry.modality} model "
                       f"(offline image models: {image_models})")
    if not entry.num_classes:
        raise ZooError(f"attacks need a classifier head; {entry.name} has none")
    if dataset is not None and dataset.modality != "image":
        raise ZooError(f"attacks need image data; dataset {dataset.name!r} holds {dataset.modality}")


def content_key(spec: PerturbedSpec, model: Any, base: Dataset) -> str:
    """sha256 of everything that determines the perturbed images (weights, data, attack, recipe)."""
    parts = {
        "format": FILE_FORMAT, "name": spec.name, "model": model.entry.name, "weights_id": str(model.weights_id),
        "input_config": model.input_config, "dataset": base.name, "content_hash": base.content_hash,
        "attack": spec.attack, "levels": grey_levels(spec.eps), "seed": int(spec.seed),
        "recipe": {"pgd_steps": PGD_STEPS, "pgd_step_factor": PGD_STEP_FACTOR, "chunk": CHUNK},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def perturb(
    model: Any,
    dataset: Dataset,
    attack: str,
    eps: float,
    *,
    seed: int = 0,
    limit: int | None = None,
    progress: Progress | None = None,
    cache: bool = True,
) -> PerturbedDataset:
    """The perturbed version of ``dataset`` against ``model``: read from the cache, else computed and stored.

    Parameters
    ----------
    model : LoadedModel
        An image classifier from :func:`zoo.load_model`.
    dataset : Dataset
        The clean image dataset (all of it; ``limit`` picks the subset).
    attack : {'fgsm', 'pgd', 'noise'}
    eps : float
        L-inf radius, a fraction of the pixel range in ``[1/255, 1]``.
    seed : int, default 0
        Seeds the subset, PGD's random start and the noise.
    limit : int or None
        Perturb only the seeded subset of this many samples.
    progress : callable, optional
        ``progress(fraction, message)``.
    cache : bool, default True
        Read and write ``cache/perturbed/``.

    Returns
    -------
    PerturbedDataset

    Raises
    ------
    ZooError
        A text model, a model without a head, text data, an unknown attack, a strength out of range.
    """
    spec = PerturbedSpec(dataset.name, model.entry.name, attack, eps, int(seed), limit)
    check_attackable(model, dataset)
    report: Progress = progress or (lambda fraction, message: None)
    base = seeded_subset(dataset, limit, spec.seed)
    same_classes = model.class_names is not None and list(model.class_names) == list(base.class_names)
    file = perturbed_dir() / f"{content_key(spec, model, base)[:32]}.npz"
    if cache and file.is_file():
        stored = _read(file)
        if stored is not None and stored["crops"].shape[0] == len(base):
            report(1.0, f"{spec.name} read from the cache")
            return PerturbedDataset(spec, base, stored.pop("crops"), stored.pop("boxes"), model.input_config, stored,
                                    same_classes, from_cache=True)
    crops, boxes, predictions = _compute(spec, model, base, report)
    if cache:
        meta = {"format": FILE_FORMAT, "name": spec.name, "samples": len(base), "levels": grey_levels(spec.eps),
                "flipped": float(np.mean(predictions["prediction"] != predictions["clean_prediction"]))}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, crops=crops, boxes=boxes, meta=np.array(json.dumps(meta)), **predictions)
        atomic_write_bytes(file, buffer.getvalue())
    return PerturbedDataset(spec, base, crops, boxes, model.input_config, predictions, same_classes)


def _read(file: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a stored set, None when the file is unreadable (it is then recomputed)."""
    try:
        with np.load(file, allow_pickle=False) as data:
            return {name: data[name] for name in ("crops", "boxes", "clean_prediction", "prediction",
                                                  "clean_margin", "margin")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _compute(spec: PerturbedSpec, model: Any, base: Dataset, report: Progress):
    from zoo.preprocess import resized_with_crop_box

    report(0.0, f"{spec.name}: preparing {len(base)} images")
    crops, boxes = [], []
    for item in base.items(range(len(base))):
        resized, (top, left, height, width) = resized_with_crop_box(item, model.input_config)
        crops.append(resized[top:top + height, left:left + width])
        boxes.append((top, left))
    clean = np.stack(crops)  # (n, h, w, C) uint8
    network = _normalised_network(model)
    with _one_cpu_thread():
        clean_prediction, clean_margin = _predict(network, clean, model.device)
        adversarial = _attack(network, clean, clean_prediction, spec, model, report)
        prediction, margin = _predict(network, adversarial, model.device)
    report(1.0, f"{spec.name}: done")
    predictions = {"clean_prediction": clean_prediction, "prediction": prediction,
                   "clean_margin": clean_margin, "margin": margin}
    return adversarial, np.asarray(boxes, dtype=np.int64), predictions


def _normalised_network(model: Any):
    """The model as a function of ``[0, 1]`` pixels: its normalisation, then the module (eval mode)."""
    import torch
    from torch import nn

    config = model.input_config
    mean = torch.tensor(config["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(config["std"], dtype=torch.float32).view(1, -1, 1, 1)

    class Normalise(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x - self.mean) / self.std

    class Logits(nn.Module):
        """Only the logits, whatever the module returns (``.logits``, a tuple, a tensor)."""

        def __init__(self, module: nn.Module) -> None:
            super().__init__()
            self.module = module

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.module(x)
            if hasattr(out, "logits"):
                return out.logits
            return out[0] if isinstance(out, (tuple, list)) else out

    return nn.Sequential(Normalise(), Logits(model.module)).to(model.device).eval()


def _as_input(images: np.ndarray) -> np.ndarray:
    """uint8 ``(n, h, w, C)`` -> float32 ``(n, C, h, w)`` in [0, 1]."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)


def _predict(network, images: np.ndarray, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class and top-1 minus top-2 softmax probability of each image."""
    import torch

    predictions, margins = [], []
    with torch.no_grad():
        for start in range(0, len(images), CHUNK):
            x = torch.from_numpy(_as_input(images[start:start + CHUNK])).to(device)
            probabilities = torch.softmax(network(x).float(), dim=1)
            top = torch.topk(probabilities, k=min(2, probabilities.shape[1]), dim=1).values
            predictions.append(probabilities.argmax(1).cpu().numpy())
            margins.append((top[:, 0] - (top[:, 1] if top.shape[1] > 1 else 0.0)).cpu().numpy())
    return np.concatenate(predictions).astype(np.int64), np.concatenate(margins).astype(np.float32)


@contextlib.contextmanager
def _one_cpu_thread() -> Iterator[None]:
    """One torch CPU thread while attacking: with more, the float sums of a large network's
    gradient change with the thread count and a few gradient signs (so pixels) differ."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _numpy_seeded(seed: int, chunk: int) -> Iterator[None]:
    """Seed numpy's global generator (ART draws PGD's random start from it) and restore it after."""
    state = np.random.get_state()
    np.random.seed(np.random.SeedSequence([int(seed), int(chunk)]).generate_state(1)[0])
    try:
        yield
    finally:
        np.random.set_state(state)


def _attack(network, clean: np.ndarray, targets: np.ndarray, spec: PerturbedSpec, model: Any,
            report: Progress) -> np.ndarray:
    """Perturbed uint8 crops: each pixel within ``levels`` grey levels of the clean one."""
    levels = grey_levels(spec.eps)
    if spec.attack == "noise":
        signs = np.random.default_rng(spec.seed).choice(np.array([-1, 1], dtype=np.int16), size=clean.shape)
        report(1.0, f"{spec.name}: noise drawn")
        return np.clip(clean.astype(np.int16) + levels * signs, 0, 255).astype(np.uint8)

    import logging

    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescentPyTorch
    from art.estimators.classification import PyTorchClassifier
    from torch import nn

    logging.getLogger("art").setLevel(logging.WARNING)
    n_classes = int(model.entry.num_classes)
    radius = levels / 255.0
    classifier = PyTorchClassifier(
        model=network, loss=nn.CrossEntropyLoss(), input_shape=(clean.shape[3], clean.shape[1], clean.shape[2]),
        nb_classes=n_classes, clip_values=(0.0, 1.0),
        device_type="gpu" if str(model.device).startswith("cuda") else "cpu",
    )
    if spec.attack == "fgsm":
        method = FastGradientMethod(classifier, norm=np.inf, eps=radius, targeted=False, batch_size=CHUNK)
    else:
        method = ProjectedGradientDescentPyTorch(
            classifier, norm=np.inf, eps=radius, eps_step=PGD_STEP_FACTOR * radius / PGD_STEPS, max_iter=PGD_STEPS,
            targeted=False, num_random_init=1, batch_size=CHUNK, verbose=False,
        )
    one_hot = np.eye(n_classes, dtype=np.float32)[targets]
    out = np.empty_like(clean)
    for start in range(0, len(clean), CHUNK):
        stop = min(start + CHUNK, len(clean))
        x = _as_input(clean[start:stop])
        with _numpy_seeded(spec.seed, start // CHUNK):
            moved = method.generate(x=x, y=one_hot[start:stop])
        delta = np.clip(np.rint((moved - x) * 255.0), -levels, levels).astype(np.int16)
        out[start:stop] = np.clip(clean[start:stop].astype(np.int16) + delta.transpose(0, 2, 3, 1), 0, 255)
        report(stop / len(clean), f"{spec.name}: {stop}/{len(clean)} images attacked")
    return out


# ------------------------------------------------------------------------- the zoo family


def load_perturbed(name: str, progress: Progress | None = None) -> PerturbedDataset:
    """Load (computing on first use) the perturbed set called ``name``."""
    from zoo.models import load_model

    spec = PerturbedSpec.parse(name)
    _entry_for(name)  # checks the parts name an image model and image data
    model = load_model(spec.model)
    base = load_dataset(spec.dataset)
    return perturb(model, base, spec.attack, spec.eps, seed=spec.seed, limit=spec.limit, progress=progress)


def _entry_for(name: str) -> DatasetEntry:
    from zoo.registry import get

    spec = PerturbedSpec.parse(name)
    base = get_dataset(spec.dataset)
    model_entry = get(spec.model)
    check_attackable(model_entry, base)
    if base.needs_path:
        raise ZooError(f"dataset {spec.dataset!r} needs a path, which a perturbed set's name cannot carry; "
                       "use zoo.perturbed.perturb(model, dataset, ...) from Python")
    description = f"{spec.attack} eps {format_strength(spec.eps)} against {spec.model} on {spec.dataset}"
    return DatasetEntry(spec.name, "image", description, base.offline and model_entry.offline, base.licence,
                        lambda path: load_perturbed(name))


def cached_names() -> list[str]:
    """Names of the perturbed sets stored in ``cache/perturbed`` (ready without computing)."""
    folder = cache_dir() / "perturbed"
    names = set()
    for file in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
        try:
            with np.load(file, allow_pickle=False) as data:
                names.add(json.loads(str(data["meta"]))["name"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            continue
    return sorted(names)


register_dataset_family(DatasetFamily(PREFIX, NAME_PATTERN, _entry_for, cached_names))
