"""The registry: listing, lookup, registration, entry metadata, and the ``zoo`` CLI."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import zoo
from zoo import ModelEntry, ZooError
from topoact.cli import main

OFFLINE_MODELS = {"all-MiniLM-L6-v2", "mobilenetv2_100", "tf_efficientnet_lite0", "digits_cnn", "digits_mlp"}
HUB_MODELS = {
    "inception_v3", "resnet18", "resnet50", "vit_small_patch16_224", "convnext_tiny", "googlenet",
    "bert-base-uncased", "distilbert-base-uncased", "roberta-base",
}  # fmt: skip


def test_the_issue_entries_are_registered_with_their_offline_flag():
    assert set(zoo.list_models(offline=True)) >= OFFLINE_MODELS
    assert set(zoo.list_models(offline=False)) >= HUB_MODELS
    assert not (set(zoo.list_models(offline=True)) & HUB_MODELS)


def test_list_models_filters_with_fnmatch_and_modality():
    assert zoo.list_models("resnet*") == ["resnet18", "resnet50"]
    assert zoo.list_models("RESNET1?") == ["resnet18"]
    text = zoo.list_models(modality="text")
    assert {"all-MiniLM-L6-v2", "bert-base-uncased", "roberta-base"} <= set(text)
    assert all(zoo.get(name).modality == "text" for name in text)
    assert zoo.list_models("*digits*", modality="text") == []
    with pytest.raises(ZooError, match="modality"):
        zoo.list_models(modality="audio")


def test_unknown_model_lists_valid_names_closest_first():
    with pytest.raises(ZooError) as error:
        zoo.get("resnet19")
    message = str(error.value)
    assert message.startswith("unknown model 'resnet19'; valid models: resnet18, resnet50")
    assert all(name in message for name in OFFLINE_MODELS)


def test_register_adds_a_custom_entry(request):
    entry = ModelEntry(
        name="my_resnet18_untrained_only", source="timm", hub_id="resnet18.a1_in1k", architecture="resnet18",
        modality="image", input_config=zoo.get("resnet18").input_config, licence="mine",
        default_layers=("layer4",), offline=False, num_classes=1000,
    )  # fmt: skip
    assert zoo.register(entry) is entry
    request.addfinalizer(lambda: zoo.registry._MODELS.pop(entry.name, None))
    assert zoo.get("my_resnet18_untrained_only") is entry
    assert "my_resnet18_untrained_only" in zoo.list_models("my_*")
    model = zoo.load_model("my_resnet18_untrained_only", weights="untrained")
    assert model.check_layers(["layer4"]) == ["layer4"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.name = "other"  # type: ignore[misc]
    with pytest.raises(ZooError, match="register"):
        zoo.register({"name": "not an entry"})  # type: ignore[arg-type]
    with pytest.raises(ZooError, match="source"):
        dataclasses.replace(entry, source="keras")
    zoo.registry.unregister(entry.name)
    with pytest.raises(ZooError, match="unknown model"):
        zoo.get(entry.name)
    zoo.register(entry)


def test_every_entry_has_the_documented_fields():
    for name in zoo.list_models():
        entry = zoo.get(name)
        assert entry.source in ("timm", "torchvision", "transformers", "project")
        assert entry.licence and entry.description and entry.default_layers
        if entry.modality == "image":
            channels, height, width = entry.input_config["input_size"]
            assert channels in (1, 3) and height == width
            assert len(entry.input_config["mean"]) == len(entry.input_config["std"]) == channels
            assert entry.num_classes in (10, 1000)
        else:
            assert entry.input_config["max_length"] > 0 and entry.num_classes is None


@pytest.mark.parametrize("name", ["inception_v3", "resnet18", "resnet50", "vit_small_patch16_224", "convnext_tiny"])
def test_timm_hub_entries_match_timm_pretrained_config(name):
    import timm

    entry = zoo.get(name)
    config = timm.get_pretrained_cfg(entry.hub_id)
    assert config is not None and config.hf_hub_id == f"timm/{entry.hub_id}"
    for key in ("input_size", "mean", "std", "interpolation", "crop_pct"):
        assert entry.input_config[key] == getattr(config, key), key
    assert entry.licence == config.license


@pytest.mark.parametrize("name", ["inception_v3", "resnet18", "resnet50", "vit_small_patch16_224", "convnext_tiny", "googlenet"])
def test_default_layers_of_image_hub_entries_exist_in_the_architecture(name):
    model = zoo.load_model(name, weights="untrained")
    assert model.check_layers(model.entry.default_layers)
    assert len(model.entry.default_layers) < len(model.layers()) / 3  # a short list, not every module


@pytest.mark.parametrize(
    ("name", "config_class"),
    [("bert-base-uncased", "BertConfig"), ("distilbert-base-uncased", "DistilBertConfig"), ("roberta-base", "RobertaConfig")],
)
def test_default_layers_of_text_hub_entries_exist_in_the_architecture(name, config_class):
    import transformers

    # The published depth with tiny widths: the module names are those of the real model.
    config = getattr(transformers, config_class)()
    small = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "vocab_size": 128}
    small |= {"dim": 32, "hidden_dim": 64, "n_heads": 2} if config_class == "DistilBertConfig" else {}
    for key, value in small.items():
        if hasattr(config, key):
            setattr(config, key, value)
    module = transformers.AutoModel.from_config(config)
    names = {n for n, _ in module.named_modules()}
    assert set(zoo.get(name).default_layers) <= names


# ---------------------------------------------------------------- CLI


def test_cli_models_marks_offline_ready_entries(capsys):
    assert main(["zoo", "models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) >= OFFLINE_MODELS | HUB_MODELS
    assert rows["mobilenetv2_100"][3] == "offline" and rows["resnet18"][3] == "hub"
    assert main(["zoo", "models", "--filter", "digits*", "--modality", "image"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["digits_cnn", "digits_mlp"]


def test_cli_datasets_and_layers(capsys):
    assert main(["zoo", "datasets", "--modality", "text"]) == 0
    out = capsys.readouterr().out
    assert "polarity" in out and "digits " not in out
    assert main(["zoo", "layers", "googlenet"]) == 0
    assert capsys.readouterr().out.split() == list(zoo.get("googlenet").default_layers)
    assert main(["zoo", "layers", "digits_mlp", "--all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "hidden1  *" in lines and "hidden1.0" in lines


@pytest.mark.parametrize(
    "argv",
    [["zoo", "layers", "resnt18"], ["zoo", "layers", "resnt18", "--all"]],
)
def test_cli_unknown_model_exits_2_with_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "resnet18" in err and "unknown model" in err


def test_cli_bare_zoo_shows_help(capsys):
    assert main(["zoo"]) == 2
    assert "models" in capsys.readouterr().out


def test_zoo_imports_neither_topoact_nor_streamlit():
    import subprocess
    import sys

    code = "import sys, zoo; print(sorted(m for m in sys.modules if m.split('.')[0] in ('topoact', 'streamlit')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"
