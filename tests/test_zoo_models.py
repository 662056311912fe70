"""Offline tests of the model zoo on the real loading paths (timm, torchvision, transformers)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo import ZooError


pytestmark = pytest.mark.usefixtures("zoo_cache")  # the session zoo cache (tests/conftest.py)


@pytest.fixture(scope="module")
def photos() -> zoo.Dataset:
    return zoo.load_dataset("skimage-photos")


@pytest.fixture(scope="module")
def mobilenet() -> zoo.LoadedModel:
    return zoo.load_model("mobilenetv2_100")


def top1(model: zoo.LoadedModel, items: list) -> list[str]:
    logits = model.forward(model.prepare(items))
    return [model.class_names[i] for i in logits.argmax(1).tolist()]


# ---------------------------------------------------------------- converted ImageNet models


def test_mobilenetv2_classifies_scikit_image_photos(mobilenet, photos, zoo_cache):
    coffee = photos.items([photos.ids.index("skimage/coffee")])
    cat = photos.items([photos.ids.index("skimage/chelsea")])
    predicted = top1(mobilenet, coffee + cat)
    assert any(word in predicted[0] for word in ("espresso", "cup", "coffee")), predicted
    assert "cat" in predicted[1], predicted
    assert len(mobilenet.class_names) == 1000
    converted = zoo_cache / "zoo" / "weights" / "mobilenetv2_100.safetensors"
    assert converted.is_file()
    assert mobilenet.weights_source == str(converted)


def test_efficientnet_lite0_classifies_coffee(photos):
    model = zoo.load_model("tf_efficientnet_lite0")
    predicted = top1(model, photos.items([photos.ids.index("skimage/coffee")]))
    assert "espresso" in predicted[0] or "cup" in predicted[0], predicted


def test_reloading_uses_the_cached_conversion(mobilenet, zoo_cache):
    converted = zoo_cache / "zoo" / "weights" / "mobilenetv2_100.safetensors"
    stamp = converted.stat().st_mtime_ns
    again = zoo.load_model("mobilenetv2_100")
    assert converted.stat().st_mtime_ns == stamp
    assert again.weights_id == mobilenet.weights_id
    assert len(mobilenet.weights_id) == 64 and int(mobilenet.weights_id, 16) >= 0


def test_prepare_uses_the_entry_input_config(mobilenet):
    grey = np.zeros((10, 20, 1), np.uint8)
    colour = np.full((300, 200, 3), 255, np.uint8)
    batch = mobilenet.prepare([grey, colour])
    assert batch.shape == (2, 3, 224, 224)
    mean, std = np.array(mobilenet.input_config["mean"]), np.array(mobilenet.input_config["std"])
    np.testing.assert_allclose(batch[0, :, 0, 0].numpy(), -mean / std, atol=1e-5)
    np.testing.assert_allclose(batch[1, :, 100, 100].numpy(), (1 - mean) / std, atol=1e-5)


# ---------------------------------------------------------------- untrained control


def test_untrained_control_is_seeded_and_differs_from_pretrained(mobilenet, photos):
    first = zoo.load_model("mobilenetv2_100", weights="untrained", seed=7)
    second = zoo.load_model("mobilenetv2_100", weights="untrained", seed=7)
    other = zoo.load_model("mobilenetv2_100", weights="untrained", seed=8)
    assert first.weights_id == "untrained-seed7"
    weights = lambda m: m.module.state_dict()["blocks.3.0.conv_pw.weight"]  # noqa: E731
    assert torch.equal(weights(first), weights(second))
    assert not torch.equal(weights(first), weights(other))
    assert not torch.equal(weights(first), weights(mobilenet))
    assert first.layers() == mobilenet.layers()
    coffee = photos.items([photos.ids.index("skimage/coffee")])
    assert "espresso" not in top1(first, coffee)[0]


def test_unknown_weights_choice_and_checkpoint_with_untrained_are_errors(tmp_path):
    with pytest.raises(ZooError, match="pretrained, untrained"):
        zoo.load_model("digits_mlp", weights="imagenet")
    with pytest.raises(ZooError, match="exclude"):
        zoo.load_model("digits_mlp", weights="untrained", checkpoint=tmp_path)


# ---------------------------------------------------------------- project-trained digits models


@pytest.mark.parametrize("name", ["digits_cnn", "digits_mlp"])
def test_digits_models_train_to_97_percent_on_held_out_digits(name, zoo_cache):
    from zoo.digits import recipe_fingerprint, split_indices

    steps: list[tuple[float, str]] = []
    model = zoo.load_model(name, progress=lambda fraction, message: steps.append((fraction, message)))
    assert (zoo_cache / "zoo" / "weights" / f"{name}-{recipe_fingerprint(name)}.safetensors").is_file()
    assert steps[-1][0] == 1.0 and all(0.0 <= f <= 1.0 for f, _ in steps)
    digits = zoo.load_dataset("digits")
    _, test_rows = split_indices()
    logits = model.forward(model.prepare(digits.items(test_rows)))
    accuracy = float((logits.argmax(1).numpy() == digits.labels[test_rows]).mean())
    assert accuracy >= 0.97, accuracy
    assert model.class_names == [str(d) for d in range(10)]

    control = zoo.load_model(name, weights="untrained", seed=0)
    control_logits = control.forward(control.prepare(digits.items(test_rows)))
    assert float((control_logits.argmax(1).numpy() == digits.labels[test_rows]).mean()) < 0.5


def test_digits_training_reports_progress_per_epoch(tmp_path, monkeypatch):
    from zoo import digits

    monkeypatch.setenv("TOPOACT_CACHE_DIR", str(tmp_path))
    steps: list[float] = []
    path = digits.trained_checkpoint("digits_mlp", progress=lambda fraction, message: steps.append(fraction))
    assert path.is_file() and path.is_relative_to(tmp_path)
    assert len(steps) == digits.ARCHITECTURES["digits_mlp"][1]
    assert steps == sorted(steps) and steps[-1] == 1.0
    assert float(digits.checkpoint_metadata(path)["test_accuracy"]) >= 0.97


# ---------------------------------------------------------------- local checkpoints


def test_timm_model_saved_and_reloaded_from_local_checkpoints(tmp_path):
    from safetensors.torch import save_file

    original = zoo.load_model("resnet18", weights="untrained", seed=3)
    state = {k: v.contiguous() for k, v in original.module.state_dict().items()}
    save_file(state, tmp_path / "resnet18.safetensors")
    torch.save({"state_dict": state}, tmp_path / "resnet18.pth")
    (tmp_path / "folder").mkdir()
    save_file(state, tmp_path / "folder" / "model.safetensors")
    batch = original.prepare([np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)])
    expected = original.forward(batch)
    for checkpoint in ("resnet18.safetensors", "resnet18.pth", "folder"):
        reloaded = zoo.load_model("resnet18", checkpoint=tmp_path / checkpoint)
        assert reloaded.weights_source.startswith(str(tmp_path))
        torch.testing.assert_close(reloaded.forward(batch), expected)
        assert reloaded.class_names is not None and len(reloaded.class_names) == 1000
    ids = {zoo.load_model("resnet18", checkpoint=tmp_path / c).weights_id for c in ("resnet18.safetensors", "folder")}
    assert len(ids) == 1 and ids != {original.weights_id}


def test_bad_checkpoints_are_clear_errors(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(ZooError, match="does not exist"):
        zoo.load_model("resnet18", checkpoint=tmp_path / "missing.safetensors")
    (tmp_path / "weights.txt").write_text("hello")
    with pytest.raises(ZooError, match="must end in"):
        zoo.load_model("resnet18", checkpoint=tmp_path / "weights.txt")
    with pytest.raises(ZooError, match="holds none of"):
        zoo.load_model("resnet18", checkpoint=tmp_path)
    mlp = zoo.load_model("digits_mlp", weights="untrained")
    save_file(dict(mlp.module.state_dict()), tmp_path / "mlp.safetensors")
    with pytest.raises(ZooError, match="does not fit resnet18"):
        zoo.load_model("resnet18", checkpoint=tmp_path / "mlp.safetensors")


class NotWeights:
    """Anything but tensors: weights_only loading must refuse to unpickle it."""


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"payload": NotWeights()}, tmp_path / "evil.pth")
    with pytest.raises(ZooError, match="cannot read weights"):
        zoo.load_model("digits_mlp", checkpoint=tmp_path / "evil.pth")


# ---------------------------------------------------------------- text models


def mean_pooled(model: zoo.LoadedModel, sentences: list[str]) -> torch.Tensor:
    inputs = model.prepare(sentences)
    with torch.no_grad():
        hidden = model.module(**inputs).last_hidden_state
    mask = inputs["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)


SENTENCES = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell sharply today."]


def test_minilm_loads_offline_and_embeds_meaningfully():
    model = zoo.load_model("all-MiniLM-L6-v2")
    inputs = model.prepare(SENTENCES)
    assert set(inputs) >= {"input_ids", "attention_mask"}
    assert model.forward(inputs) is None and model.class_names is None
    embedding = mean_pooled(model, SENTENCES)
    assert embedding.shape == (3, 384)
    similar, unrelated = float(embedding[0] @ embedding[1]), float(embedding[0] @ embedding[2])
    assert similar > unrelated + 0.2, (similar, unrelated)
    assert set(model.entry.default_layers) <= set(model.layers())


def test_hf_model_loads_from_a_local_folder(tmp_path):
    minilm = zoo.load_model("all-MiniLM-L6-v2")
    minilm.module.save_pretrained(tmp_path / "bert")
    minilm.tokenizer.save_pretrained(tmp_path / "bert")
    local = zoo.load_model("bert-base-uncased", checkpoint=tmp_path / "bert")
    assert local.weights_id == minilm.weights_id
    torch.testing.assert_close(mean_pooled(local, SENTENCES), mean_pooled(minilm, SENTENCES))
    with pytest.raises(ZooError, match="Hugging Face folder"):
        zoo.load_model("bert-base-uncased", checkpoint=tmp_path)


def test_untrained_text_control_keeps_the_architecture():
    trained = zoo.load_model("all-MiniLM-L6-v2")
    control = zoo.load_model("all-MiniLM-L6-v2", weights="untrained", seed=1)
    assert control.layers() == trained.layers()
    embedding = mean_pooled(control, SENTENCES)
    assert not torch.allclose(embedding, mean_pooled(trained, SENTENCES))


# ---------------------------------------------------------------- hub entries with no hub


@pytest.fixture()
def no_hub(monkeypatch, tmp_path):
    """No network, and empty hub caches, whatever this machine has."""
    import huggingface_hub.constants

    monkeypatch.setenv("TOPOACT_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "bert-base-uncased"])
def test_hub_entries_fail_fast_offline_naming_the_checkpoint_fix(name, no_hub):
    with pytest.raises(ZooError) as error:
        zoo.load_model(name)
    message = str(error.value)
    assert "unreachable" in message and "--checkpoint" in message and "checkpoint=" in message
    assert "mobilenetv2_100" in message  # points at what does work offline
    assert "\n" not in message


def test_untrained_timm_and_torchvision_entries_build_offline(no_hub):
    googlenet = zoo.load_model("googlenet", weights="untrained")
    assert googlenet.class_names is not None and googlenet.class_names[0] == "tench"
    logits = googlenet.forward(googlenet.prepare([np.zeros((50, 50, 3), np.uint8)]))
    assert logits.shape == (1, 1000)


# ---------------------------------------------------------------- layers


def test_layers_accept_any_dotted_name_and_reject_unknown_ones(mobilenet):
    layers = mobilenet.layers()
    assert set(mobilenet.entry.default_layers) <= set(layers)
    deep = "blocks.3.1.conv_dw"
    assert mobilenet.check_layers([deep, "blocks.1"]) == [deep, "blocks.1"]
    assert mobilenet.check_layers("conv_head") == ["conv_head"]
    with pytest.raises(ZooError) as error:
        mobilenet.check_layers(["blocks.1", "blocks.3.1.conv_dww"])
    message = str(error.value)
    assert message.startswith("unknown layer 'blocks.3.1.conv_dww'")
    assert message.split("valid layers: ")[1].startswith("blocks.3.1.conv_dw, ")  # closest first
    assert "zoo layers mobilenetv2_100 --all" in message  # more than fit on the line
    with pytest.raises(ZooError, match="no layer given"):
        mobilenet.check_layers([])


def test_trained_weights_are_named_by_their_recipe(monkeypatch):
    """A changed architecture or recipe must never load an old file (it would not fit)."""
    from zoo import digits

    before = digits.recipe_fingerprint("digits_mlp")
    assert before == digits.recipe_fingerprint("digits_mlp")  # stable
    factory, epochs, learning_rate = digits.ARCHITECTURES["digits_mlp"]
    monkeypatch.setitem(digits.ARCHITECTURES, "digits_mlp", (factory, epochs + 1, learning_rate))
    assert digits.recipe_fingerprint("digits_mlp") != before
    assert digits.recipe_fingerprint("digits_cnn") != before
