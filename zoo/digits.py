"""Two small models the project trains itself on scikit-learn's digits, in seconds.

``digits_cnn`` (three conv blocks) and ``digits_mlp`` (two hidden layers) are trained with a
fixed seed on a stratified 80 % split, evaluated on the other 20 %, and saved with
:mod:`safetensors` (the test accuracy goes into the file's metadata) under ``cache/``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

from zoo.errors import ZooError
from zoo.paths import atomic_write_bytes, zoo_cache_dir

if TYPE_CHECKING:  # zoo imports nothing of topoact at run time
    from topoact.progress import Progress

#: The input config of both digits models: 8x8 grey, pixels scaled to [-1, 1].
DIGITS_INPUT_CONFIG: dict = {
    "input_size": (1, 8, 8),
    "mean": (0.5,),
    "std": (0.5,),
    "interpolation": "bilinear",
    "crop_pct": 1.0,
    "crop_mode": "center",
}
DIGITS_CLASS_NAMES: list[str] = [str(digit) for digit in range(10)]
TRAINING_SEED = 0
TEST_FRACTION = 0.2


class DigitsCNN(nn.Module):
    """Three conv blocks (16, 32, 32 channels) and a linear classifier for 1x8x8 inputs."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.block3 = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.block3(self.block2(self.block1(x)))))


class DigitsMLP(nn.Sequential):
    """Two hidden ReLU layers (dropout after the first) and a linear classifier on the 64 pixels."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(
            OrderedDict(
                flatten=nn.Flatten(),
                hidden1=nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2)),
                hidden2=nn.Sequential(nn.Linear(128, 64), nn.ReLU()),
                classifier=nn.Linear(64, num_classes),
            )
        )


#: builder key -> (architecture class, epochs, learning rate)
ARCHITECTURES: dict[str, tuple[Callable[..., nn.Module], int, float]] = {
    "digits_cnn": (DigitsCNN, 10, 5e-3),
    "digits_mlp": (DigitsMLP, 60, 3e-3),
}


def build(architecture: str, num_classes: int = 10) -> nn.Module:
    """Instantiate a project architecture by key (``"digits_cnn"`` or ``"digits_mlp"``)."""
    try:
        factory = ARCHITECTURES[architecture][0]
    except KeyError:
        raise ZooError(f"unknown project architecture {architecture!r}; valid: {', '.join(ARCHITECTURES)}") from None
    return factory(num_classes=num_classes)


def split_indices(n_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the (train, test) row indices of scikit-learn digits used for training.

    A stratified split with ``TEST_FRACTION`` held out and ``TRAINING_SEED``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    labels = load_digits().target
    rows = np.arange(len(labels))
    train, test = train_test_split(rows, test_size=TEST_FRACTION, stratify=labels, random_state=TRAINING_SEED)
    return np.sort(train), np.sort(test)


def digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as model inputs (through the same preprocessing as inference) and labels."""
    from zoo.datasets import load_dataset
    from zoo.preprocess import images_to_tensor

    dataset = load_dataset("digits")
    inputs = images_to_tensor(dataset.items(range(len(dataset))), DIGITS_INPUT_CONFIG)
    return inputs, torch.from_numpy(dataset.labels)


def accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``inputs`` whose arg-max prediction equals ``labels``."""
    model.eval()
    with torch.no_grad():
        return float((model(inputs).argmax(1) == labels).float().mean())


def train(architecture: str, progress: Progress | None = None, show_bar: bool = True) -> tuple[nn.Module, dict]:
    """Train a digits model with a fixed seed and return it with its metrics.

    Parameters
    ----------
    architecture : {'digits_cnn', 'digits_mlp'}
    progress : callable or None
        ``progress(fraction, message)`` after every epoch.
    show_bar : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    model : torch.nn.Module
        The trained model in eval mode.
    metrics : dict of str
        ``test_accuracy``, ``train_accuracy``, ``epochs``, ``seconds``, ``seed``.
    """
    from tqdm.auto import tqdm

    _, epochs, learning_rate = ARCHITECTURES[architecture]
    started = time.perf_counter()
    inputs, labels = digits_tensors()
    train_rows, test_rows = (torch.from_numpy(rows) for rows in split_indices())
    torch.manual_seed(TRAINING_SEED)
    model = build(architecture)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    shuffle = torch.Generator().manual_seed(TRAINING_SEED)
    bar = tqdm(range(epochs), desc=f"training {architecture}", unit="epoch", disable=not show_bar, leave=False)
    for epoch in bar:
        model.train()
        order = train_rows[torch.randperm(len(train_rows), generator=shuffle)]
        for batch in order.split(64):
            optimiser.zero_grad()
            loss = loss_fn(model(inputs[batch]), labels[batch])
            loss.backward()
            optimiser.step()
        scheduler.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if progress:
            progress((epoch + 1) / epochs, f"training {architecture}: epoch {epoch + 1}/{epochs}")
    bar.close()
    metrics = {
        "test_accuracy": accuracy(model, inputs[test_rows], labels[test_rows]),
        "train_accuracy": accuracy(model, inputs[train_rows], labels[train_rows]),
        "epochs": epochs,
        "seconds": round(time.perf_counter() - started, 2),
        "seed": TRAINING_SEED,
    }
    return model.eval(), metrics


def recipe_fingerprint(architecture: str) -> str:
    """Short hash of everything that makes the trained weights: layer shapes, epochs,
    learning rate, seed and split. A changed recipe never reuses an old file."""
    import hashlib

    shapes = [(name, tuple(tensor.shape)) for name, tensor in build(architecture).state_dict().items()]
    _, epochs, learning_rate = ARCHITECTURES[architecture]
    recipe = repr((shapes, epochs, learning_rate, TRAINING_SEED, TEST_FRACTION))
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def trained_checkpoint(architecture: str, progress: Progress | None = None) -> Path:
    """Return ``cache/zoo/weights/<architecture>-<recipe>.safetensors``, training it the first time."""
    from safetensors.torch import save

    target = zoo_cache_dir("weights") / f"{architecture}-{recipe_fingerprint(architecture)}.safetensors"
    if target.is_file():
        return target
    model, metrics = train(architecture, progress=progress)
    metadata = {key: str(value) for key, value in metrics.items()} | {"dataset": "sklearn digits"}
    atomic_write_bytes(target, save({k: v.contiguous() for k, v in model.state_dict().items()}, metadata=metadata))
    return target


def checkpoint_metadata(path: Path) -> dict[str, str]:
    """Read the metadata (e.g. ``test_accuracy``) stored in a safetensors file."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})
