"""Perturbed datasets and the robustness study, on the real offline models at small size.

The digits models train (seconds) and MobileNetV2 is converted into a temporary cache
folder shared with the other zoo tests of the session; perturbed sets are stored there too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import zoo
from topoact import TopoactError
from topoact.cli import main
from topoact.mapper.graph import MapperGraph
from topoact.robustness import (
    RobustnessConfig,
    attack_mix,
    flip_strength,
    lens_position,
    robustness_report,
    vulnerability_prediction,
)
from zoo import ZooError
from zoo.perturbed import PerturbedSpec, cached_names, grey_levels, perturb, perturbed_dir

LIMIT = 200


pytestmark = pytest.mark.usefixtures("zoo_cache")  # the session zoo cache (tests/conftest.py)


@pytest.fixture(scope="module")
def digits() -> zoo.Dataset:
    return zoo.load_dataset("digits")


@pytest.fixture(scope="module")
def models() -> dict[str, zoo.LoadedModel]:
    return {name: zoo.load_model(name) for name in ("digits_cnn", "digits_mlp")}


# ---------------------------------------------------------------- the attacks


@pytest.mark.parametrize("name", ["digits_cnn", "digits_mlp"])
def test_attacks_lower_accuracy_and_noise_of_the_same_size_hardly_does(name, models, digits):
    model, eps = models[name], 0.1
    sets = {attack: perturb(model, digits, attack, eps, limit=LIMIT) for attack in ("fgsm", "pgd", "noise")}
    clean_accuracy = sets["noise"].accuracy(clean=True)
    assert clean_accuracy > 0.95
    assert sets["pgd"].accuracy() < clean_accuracy - 0.3, sets["pgd"].accuracy()
    assert sets["fgsm"].accuracy() < clean_accuracy - 0.2, sets["fgsm"].accuracy()
    assert sets["noise"].accuracy() > clean_accuracy - 0.05, sets["noise"].accuracy()
    levels = grey_levels(eps)
    base = zoo.load_dataset("digits", limit=LIMIT, seed=0)
    for attack, made in sets.items():
        assert made.ids == base.ids and np.array_equal(made.labels, base.labels)
        moved = np.stack(made.items(range(len(made)))).astype(int) - np.stack(base.items(range(len(base)))).astype(int)
        assert np.abs(moved).max() == levels, attack  # the stated strength, in grey levels, and no more
    # the control moves every pixel by exactly eps unless clipped at 0 or 255
    noisy = np.stack(sets["noise"].items(range(LIMIT))).astype(int)
    original = np.stack(base.items(range(LIMIT))).astype(int)
    inside = (original >= levels) & (original <= 255 - levels)
    assert np.all(np.abs(noisy - original)[inside] == levels)


def test_perturbed_sets_are_ordinary_cached_zoo_datasets_deterministic_per_seed(models, digits):
    from topoact.extract import extract_activations

    model = models["digits_cnn"]
    first = perturb(model, digits, "pgd", 0.1, seed=0, limit=LIMIT)
    again = perturb(model, digits, "pgd", 0.1, seed=0, limit=LIMIT)
    recomputed = perturb(model, digits, "pgd", 0.1, seed=0, limit=LIMIT, cache=False)
    other_seed = perturb(model, digits, "pgd", 0.1, seed=1, limit=LIMIT)
    assert again.from_cache and not recomputed.from_cache
    assert first.content_hash == again.content_hash == recomputed.content_hash != other_seed.content_hash
    assert other_seed.ids != first.ids  # the seed draws the subset too
    assert first.name in cached_names() and any(perturbed_dir().glob("*.npz"))

    # a name like any other dataset: listed, loadable, same content, thumbnails
    name = "adv:digits:digits_cnn:pgd:0.1:s0:n200"
    assert first.name == name and name in zoo.list_datasets("adv:*", modality="image")
    by_name = zoo.load_dataset(name)
    assert by_name.content_hash == first.content_hash and zoo.get_dataset(name).modality == "image"
    assert by_name.thumbnail(0)[:4] == b"\x89PNG"
    # the model sees exactly the attacked input: extraction reproduces the stored predictions
    acts = extract_activations(model, by_name, ["block3"], sampling="gap")["block3"]
    assert np.array_equal(acts.prediction, first.prediction)
    assert first.flipped.mean() > 0.3


def test_existing_commands_take_a_perturbed_set_by_name(tmp_path, capsys, models, digits):
    perturb(models["digits_cnn"], digits, "fgsm", 0.1, limit=LIMIT)
    name = "adv:digits:digits_cnn:fgsm:0.1:s0:n200"
    argv = ["mapper", "--model", "digits_cnn", "--dataset", name, "--layer", "block3", "--intervals", "8",
            "--cache", str(tmp_path / "c.duckdb"), "--quiet"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["dataset"] == name and summary["points"] == LIMIT and summary["nodes"] > 0


def test_mobilenet_photos_stored_images_give_the_attacked_input_whatever_the_threads():
    """MobileNetV2 resizes to 256 and centre-crops 224: the stored image must survive that exactly."""
    from zoo.preprocess import resized_with_crop_box

    model = zoo.load_model("mobilenetv2_100")
    photos = zoo.load_dataset("skimage-photos")
    made = perturb(model, photos, "fgsm", 2 / 255, limit=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        two_threads = perturb(model, photos, "fgsm", 2 / 255, limit=2, cache=False)
    finally:
        torch.set_num_threads(threads)
    assert two_threads.content_hash == made.content_hash
    assert made.accuracy() is None  # photo names are not ImageNet classes
    base = zoo.load_dataset("skimage-photos", limit=2, seed=0)
    for i in range(2):
        stored = made.items([i])[0]
        resized, (top, left, height, width) = resized_with_crop_box(base.items([i])[0], model.input_config)
        assert stored.shape == resized.shape
        outside = np.ones(stored.shape[:2], bool)
        outside[top:top + height, left:left + width] = False
        assert np.array_equal(stored[outside], resized[outside])  # only the crop the model sees changes
        assert 0 < np.abs(stored.astype(int) - resized.astype(int)).max() <= 2
    with torch.no_grad():
        logits = model.forward(model.prepare(made.items(range(2))))
    assert np.array_equal(logits.argmax(1).numpy(), made.prediction)


# ---------------------------------------------------------------- bad input


def test_bad_input_one_clear_message(capsys, models, digits):
    cases = [
        (["attack", "--model", "all-MiniLM-L6-v2", "--dataset", "polarity"], "attacks need an image classifier"),
        (["attack", "--model", "digits_cnn", "--dataset", "polarity"], "attacks need image data"),
        (["attack", "--model", "digits_cnn", "--dataset", "digits", "--strengths", "0"], "out of range"),
        (["attack", "--model", "digits_cnn", "--dataset", "digits", "--strengths", "1.5"], "out of range"),
        (["attack", "--model", "digits_cnn", "--dataset", "digits", "--strengths", "0.001"], "below 1/255"),
        (["attack", "--model", "digits_cnn", "--dataset", "digits", "--strengths", "big"], "must be a number"),
        (["attack", "--model", "digits_cnn", "--dataset", "digits", "--attacks", "cw"], "valid attacks: fgsm, pgd, noise"),
        (["robustness", "--model", "all-MiniLM-L6-v2", "--dataset", "digits"], "attacks need an image classifier"),
        (["robustness", "--model", "digits_cnn", "--dataset", "digits", "--attack", "noise"], "valid attacks: fgsm, pgd"),
        (["robustness", "--model", "digits_cnn", "--dataset", "digits", "--strengths", "0.1", "--combined-strength",
          "0.2"], "not one of the strengths"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and expected in err and "\n" not in err, (argv, err)
    with pytest.raises(ZooError, match="malformed.*adv:DATASET:MODEL:ATTACK:EPS:sSEED"):
        zoo.load_dataset("adv:digits:digits_cnn:fgsm")
    with pytest.raises(ZooError, match="unknown dataset 'digitz'"):
        zoo.get_dataset("adv:digitz:digits_cnn:fgsm:0.1:s0")
    with pytest.raises(ZooError, match="or a name of the form adv:"):
        zoo.get_dataset("nope")
    with pytest.raises(ZooError, match="out of range"):
        PerturbedSpec("digits", "digits_cnn", "pgd", -0.1)
    with pytest.raises(ZooError, match="attacks need an image classifier"):
        perturb(zoo.load_model("all-MiniLM-L6-v2"), digits, "fgsm", 0.1)


# ---------------------------------------------------------------- the analysis on hand-built data


def _graph(members: list[list[int]], n_points: int, edges=(), lens: list[float] | None = None) -> MapperGraph:
    k = len(members)
    lens_mean = np.asarray(lens if lens is not None else np.zeros(k), dtype=np.float64).reshape(k, 1)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    shared = np.array([len(set(members[a]) & set(members[b])) for a, b in edges], dtype=np.int64)
    return MapperGraph([np.asarray(m, dtype=np.int64) for m in members], np.arange(k), np.zeros(k, np.int64),
                       edges, shared, n_points, lens_mean, lens_mean.copy(), lens_mean.copy())


def test_attack_mix_counts_clean_samples_beside_attacked_ones_of_another_class():
    # rows 0-2 clean (classes 0, 0, 1), rows 3-5 attacked (classes 0, 1, 1)
    graph = _graph([[0, 1, 4], [2, 3, 5], [0, 3]], 6)
    mix = attack_mix(graph, [0, 0, 0, 1, 1, 1], [0, 0, 1, 0, 1, 1])
    assert mix.loc["cube0_cluster0", ["clean", "attacked", "clean_with_foreign_attacked", "foreign_attacked"]].tolist() == [2, 1, 2, 1]
    assert mix.loc["cube1_cluster0", "clean_with_foreign_attacked"] == 1  # clean 2 (class 1) beside attacked 3 (class 0)
    assert mix.loc["cube1_cluster0", "foreign_attacked"] == 1
    assert mix.loc["cube2_cluster0", "clean_with_foreign_attacked"] == 0  # same class
    assert mix.loc["cube1_cluster0", "attacked_share"] == pytest.approx(2 / 3)


def test_flip_strength_and_prediction_of_vulnerability():
    import pandas as pd

    clean = np.array([0, 1, 2, 3])
    predictions = {0.1: np.array([0, 5, 2, 3]), 0.2: np.array([4, 5, 2, 3]), 0.3: np.array([4, 5, 7, 3])}
    assert flip_strength(clean, predictions).tolist() == [0.2, 0.1, 0.3, np.inf]
    flips = np.array([0.1, 0.1, 0.2, 0.3, np.inf, np.inf])
    table = pd.DataFrame({"flip_strength": flips, "point_purity": [0.2, 0.3, 0.5, 0.6, 0.9, 1.0],
                          "node_mix": [0.5] * 6, "lens_position": [0.9, 0.1, 0.5, 0.5, 0.2, 0.8],
                          "knn_disagreement": [0.0] * 6, "margin": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]})
    result = vulnerability_prediction(table, small=0.1)
    assert result.loc["margin", "auroc"] == 1.0 and result.loc["point_purity", "auroc"] == 1.0
    assert result.loc["margin", "spearman"] > 0.9
    assert result.loc["node_mix", "auroc"] == 0.5 and np.isnan(result.loc["node_mix", "spearman"])
    with pytest.raises(TopoactError, match="AUROC needs both"):
        vulnerability_prediction(table, small=0.01)


def test_lens_position_runs_along_each_component():
    # component {0, 1, 2} with lens 1, 2, 3; a one-node component; row 6 in no node
    graph = _graph([[0, 1], [1, 2], [2, 3], [4, 5]], 7, edges=[(0, 1), (1, 2)], lens=[1.0, 2.0, 3.0, 7.0])
    position = lens_position(graph)
    assert position[[0, 1, 2, 3, 4]].tolist() == [0.0, 0.25, 0.75, 1.0, 0.5] and np.isnan(position[6])


# ---------------------------------------------------------------- the study end to end


def test_vulnerability_report_end_to_end_and_cached(tmp_path, models):
    from topoact.cache import Store

    store = Store(tmp_path / "c.duckdb")
    config = RobustnessConfig("digits_mlp", "digits", "hidden2", strengths=(0.05, 0.1, 0.2), limit=LIMIT,
                              n_intervals=8, min_samples=3)
    report = robustness_report(config, store=store, model=models["digits_mlp"])
    vulnerability = report.vulnerability
    assert len(vulnerability) == LIMIT and set(np.unique(vulnerability["flip_strength"])) <= {0.05, 0.1, 0.2, np.inf}
    pgd = report.datasets[("pgd", 0.1)]
    assert np.array_equal(vulnerability["flip_strength"].to_numpy() <= 0.1,
                          pgd.flipped | report.datasets[("pgd", 0.05)].flipped)
    assert list(vulnerability.columns[:3]) == ["id", "label", "flip_strength"]
    assert set(report.prediction.index) >= {"point_purity", "node_mix", "lens_position", "margin"}
    assert report.prediction["auroc"].between(0, 1).all()
    assert report.prediction.loc["margin", "auroc"] > 0.6  # the baseline sees the vulnerable samples
    accuracy = report.accuracy
    assert accuracy.loc[("pgd", 0.2), "accuracy"] < accuracy.loc[("noise", 0.2), "accuracy"] - 0.3
    assert set(report.sweep.index) == {(a, e) for a in ("pgd", "noise") for e in (0.0, 0.05, 0.1, 0.2)}
    sweep = report.sweep["weighted_purity"]
    assert sweep[("pgd", 0.2)] < sweep[("pgd", 0.0)] - 0.2 and sweep[("noise", 0.2)] > sweep[("pgd", 0.2)]
    assert report.combined_graph.n_points == 2 * LIMIT and report.is_attacked.sum() == LIMIT
    assert (report.mix["clean"] + report.mix["attacked"] == report.mix["size"]).all()
    assert report.mix["clean_with_foreign_attacked"].max() > 0

    graphs = len(store.list_entries("graph"))
    assert graphs == 1 + 3 + 3 + 1  # clean, each attacked set, each noise set, clean + attacked
    again = robustness_report(config, store=store, model=models["digits_mlp"])
    assert len(store.list_entries("graph")) == graphs
    assert again.combined_graph == report.combined_graph and again.vulnerability.equals(vulnerability)


def test_robustness_cli_writes_tables_and_coloured_graph(tmp_path, capsys):
    out, csv = tmp_path / "combined.html", tmp_path / "v.csv"
    argv = ["robustness", "--model", "digits_cnn", "--dataset", "digits", "--layer", "block3", "--limit", "150",
            "--strengths", "0.05", "0.1", "--attack", "fgsm", "--intervals", "8", "--min-samples", "3",
            "--cache", str(tmp_path / "c.duckdb"), "--out", str(out), "--csv", str(csv), "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for heading in ("accuracy under attack", "does the clean graph predict vulnerability", "strength sweep",
                    "clean + fgsm 0.1 graph"):  # the upper-middle strength
        assert heading in printed
    summary = json.loads(printed.strip().splitlines()[-1])
    assert summary["samples"] == 150 and summary["attack"] == "fgsm"
    page = out.read_text()
    assert "attacked share" in page and "attacked: " in page and "clean with attacked of another class" in page
    import pandas as pd

    assert len(pd.read_csv(csv)) == 150
    assert main(["attack", "--model", "digits_cnn", "--dataset", "digits", "--limit", "150", "--strengths", "0.05",
                 "0.1", "--attacks", "fgsm", "--quiet"]) == 0
    listing = capsys.readouterr().out
    assert "adv:digits:digits_cnn:fgsm:0.05:s0:n150" in listing and "True" in listing  # made by the run above
