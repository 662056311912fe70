"""Anomaly ranking on known answers: find training labels flipped before training.

A seeded 5 % of the training labels of sklearn digits (80 % stratified split, 1,437
samples) and of MNIST-5000 (80 % split, 4,000 samples) are replaced by another class
**before** the model is trained on them, the real situation of a model that learned
from noisy labels. Activations of the (noisy-labelled) training samples are taken at
several layers with topoact's extractor (``gap`` sampling: one vector per sample), a
Mapper graph is built per layer, and every score of :mod:`topoact.anomaly` is measured
(AUROC and precision@k, k = number flipped) against two baselines computed in the same
run: k-NN label disagreement alone in the same activations, and the model's own
cross-entropy loss on the given label (the confident-learning baseline).

    .venv/bin/python -m bench.anomaly_eval [--no-write]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]

from topoact.anomaly import ANOMALY_EPS, DEFAULT_WEIGHTS, anomaly_scores, combine_scores  # noqa: E402
from topoact.anomaly.evaluation import evaluate_scores, flip_labels  # noqa: E402
from bench.results import markdown  # noqa: E402

SECTION = "## Anomaly evaluation"
NOISE_FRACTION = 0.05
SEED = 0
#: Seeds of the repeated runs (flipped labels, training, Mapper); 0 is the one shown in full.
SEEDS = (0, 1, 2)
#: Scores that come from the Mapper graph (left out in the ``combined_without_graph`` ablation).
GRAPH_SCORES = ("node_disagreement", "impurity", "small_node", "noise")
#: Torch threads for training and extraction: the trained models (and so every figure)
#: depend on it, so it is fixed.
THREADS = 1


@dataclass(frozen=True)
class Setup:
    """One evaluated model: data set, architecture, training settings, layers."""

    dataset: str
    architecture: str
    epochs: int
    learning_rate: float
    layers: tuple[str, ...]
    n_intervals: int = 15
    overlap: float = 0.4
    min_samples: int = 5


SETUPS: tuple[Setup, ...] = (
    Setup("digits", "digits_cnn", 10, 5e-3, ("block1", "block2", "block3", "pool", "classifier")),
    Setup("digits", "digits_mlp", 60, 3e-3, ("hidden1", "hidden2", "classifier")),
    Setup("mnist-5k", "digits_cnn", 10, 5e-3, ("block2", "block3", "pool", "classifier")),
)


def load_data(dataset: str, limit: int | None = None):
    """(zoo dataset, model-ready inputs, clean labels, training rows) of a data set."""
    import zoo
    from sklearn.model_selection import train_test_split
    from zoo.digits import DIGITS_INPUT_CONFIG
    from zoo.preprocess import images_to_tensor

    data = zoo.load_dataset(dataset)
    labels = np.asarray(data.labels, dtype=np.int64)
    rows = np.arange(len(labels))
    if limit is not None and limit < len(rows):
        rows, _ = train_test_split(rows, train_size=limit, stratify=labels, random_state=SEED)
        rows = np.sort(rows)
    train, test = train_test_split(rows, test_size=0.2, stratify=labels[rows], random_state=SEED)
    side = np.asarray(data.items([0])[0]).shape[0]
    config = dict(DIGITS_INPUT_CONFIG, input_size=(1, side, side))
    inputs = images_to_tensor(data.items(range(len(labels))), config)
    return data, inputs, labels, np.sort(train), np.sort(test), config


def train_on_labels(architecture: str, inputs: torch.Tensor, labels: np.ndarray, rows: np.ndarray,
                    epochs: int, learning_rate: float, seed: int = SEED) -> nn.Module:
    """Train a zoo digits architecture on ``inputs[rows]`` with the given (noisy) labels.

    The same recipe as :func:`zoo.digits.train` (Adam, cosine schedule, batches of 64,
    seeded), but on labels the caller chooses.
    """
    from zoo.digits import build

    torch.manual_seed(seed)
    model = build(architecture)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    target = torch.from_numpy(labels)
    train_rows = torch.from_numpy(rows)
    shuffle = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for batch in train_rows[torch.randperm(len(train_rows), generator=shuffle)].split(64):
            optimiser.zero_grad()
            loss_fn(model(inputs[batch]), target[batch]).backward()
            optimiser.step()
        scheduler.step()
    return model.eval()


def evaluate_setup(setup: Setup, limit: int | None = None, layers: tuple[str, ...] | None = None,
                   fraction: float = NOISE_FRACTION, k: int = 10, seed: int = SEED) -> tuple[pd.DataFrame, dict]:
    """Train on noisy labels, extract, score; one row per (layer, score) with AUROC and P@k.

    ``seed`` chooses the flipped labels, the training run and the Mapper's seed; the
    train/test split stays the one of :data:`SEED`.
    """
    from topoact.extract import extract_activations
    from topoact.extract.adapters import Entry, ItemsDataset, ModuleModel
    from topoact.mapper import Mapper
    from zoo.preprocess import images_to_tensor

    started = time.perf_counter()
    data, inputs, clean, train, test, config = load_data(setup.dataset, limit)
    noisy_train, flipped = flip_labels(clean[train], fraction, n_classes=10, seed=seed)
    given = clean.copy()
    given[train] = noisy_train
    model = train_on_labels(setup.architecture, inputs, given, train, setup.epochs, setup.learning_rate, seed)
    with torch.no_grad():
        logits = model(inputs)
    train_seconds = time.perf_counter() - started
    loss = nn.functional.cross_entropy(logits[train], torch.from_numpy(noisy_train), reduction="none").numpy()
    info = {
        "train_samples": int(train.size), "flipped": int(flipped.sum()),
        "test_accuracy_clean": float((logits[test].argmax(1).numpy() == clean[test]).mean()),
        "train_accuracy_given": float((logits[train].argmax(1).numpy() == noisy_train).mean()),
        "flipped_fit": float((logits[train].argmax(1).numpy()[flipped] == noisy_train[flipped]).mean()),
        "train_seconds": round(train_seconds, 1),
    }
    wrapped = ModuleModel(model, Entry(setup.architecture), prepare_fn=lambda items: images_to_tensor(items, config),
                          weights_id=f"{setup.architecture}-noisy{fraction}-seed{seed}")
    images = data.items(train)
    dataset = ItemsDataset(f"{setup.dataset}-train-noisy", list(images), labels=noisy_train)
    acts = extract_activations(wrapped, dataset, list(layers or setup.layers), sampling="gap", seed=seed)
    rows = []
    for layer, act in acts.items():
        order = np.argsort(act.sample_index, kind="stable")
        X = act.vectors[order]
        mapper = Mapper(lens="l2norm", n_intervals=setup.n_intervals, overlap=setup.overlap,
                        min_samples=setup.min_samples, eps=ANOMALY_EPS, random_state=seed)
        graph = mapper.fit(X).graph_
        scores = anomaly_scores(graph, noisy_train, vectors=X, prediction=act.prediction[order],
                                confidence=act.confidence[order], label_probability=act.label_probability[order], k=k)
        columns = {name: scores[name].to_numpy() for name in scores.columns
                   if name not in ("label", "n_nodes", "node_majority", "rank", "reasons")}
        # ablation: the same combination without any Mapper-graph score
        columns["combined_without_graph"] = combine_scores(scores, {**DEFAULT_WEIGHTS, **dict.fromkeys(GRAPH_SCORES, 0.0)})
        columns["baseline_knn"] = scores["knn_disagreement"].to_numpy()
        columns["baseline_loss"] = loss
        table = evaluate_scores(columns, flipped)
        table.insert(0, "layer", layer)
        table.insert(1, "nodes", graph.n_nodes)
        rows.append(table)
    result = pd.concat(rows).rename_axis("score").reset_index()
    info["seconds"] = round(time.perf_counter() - started, 1)
    return result, info


def best_layer(result: pd.DataFrame) -> str:
    """The layer where the combined score's AUROC is highest."""
    combined = result[result["score"] == "combined"]
    return str(combined.loc[combined["auroc"].idxmax(), "layer"])


def summary_rows(result: pd.DataFrame) -> pd.DataFrame:
    """Per layer: combined vs both baselines (AUROC, P@k)."""
    pivot = result.pivot_table(index="layer", columns="score", values=["auroc", "precision_at_k"], sort=False)
    out = pd.DataFrame({
        "nodes": result.groupby("layer", sort=False)["nodes"].first(),
        "AUROC combined": pivot[("auroc", "combined")],
        "AUROC without graph": pivot[("auroc", "combined_without_graph")],
        "AUROC kNN": pivot[("auroc", "baseline_knn")],
        "AUROC loss": pivot[("auroc", "baseline_loss")],
        "P@k combined": pivot[("precision_at_k", "combined")],
        "P@k kNN": pivot[("precision_at_k", "baseline_knn")],
        "P@k loss": pivot[("precision_at_k", "baseline_loss")],
    })
    return out


def verdict(result: pd.DataFrame, layer: str) -> str:
    """Whether the combined rank beats both baselines on AUROC at ``layer`` (4 decimals)."""
    at = result[result["layer"] == layer].set_index("score")["auroc"]
    c, knn, loss = at["combined"], at["baseline_knn"], at["baseline_loss"]
    beats = c > knn and c > loss
    return (f"At {layer}: combined AUROC {c:.4f}, k-NN baseline {knn:.4f}, loss baseline {loss:.4f}: "
            + ("the combined rank beats both baselines." if beats else
               "the combined rank does **not** beat both baselines here."))


def seed_row(result: pd.DataFrame, seed: int) -> dict:
    """One seed's best layer and, there, the combined rank against both baselines."""
    best = best_layer(result)
    at = result[result["layer"] == best].set_index("score")["auroc"]
    def beats(score: str) -> bool:
        return bool(at[score] > at["baseline_knn"] and at[score] > at["baseline_loss"])

    return {"seed": seed, "best layer": best, "AUROC combined": round(float(at["combined"]), 5),
            "AUROC without graph": round(float(at["combined_without_graph"]), 5),
            "AUROC kNN": round(float(at["baseline_knn"]), 5), "AUROC loss": round(float(at["baseline_loss"]), 5),
            "beats both": beats("combined"), "without graph beats both": beats("combined_without_graph")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help=f"how many of the seeds {SEEDS} to run")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    seeds = SEEDS[: max(1, args.seeds)]
    lines = [SECTION, "", __doc__.split("\n\n")[1].replace("\n", " "), "",
             f"Torch threads: {THREADS} (the trained models depend on it). Seeds {', '.join(map(str, seeds))}: "
             "each flips other labels and trains anew; seed 0 is shown in full. `combined_without_graph` is "
             "the same weighted mean with the four Mapper-graph scores left out (what the graph adds).", ""]
    for setup in SETUPS:
        per_seed = []
        for seed in seeds:
            result, info = evaluate_setup(setup, seed=seed)
            per_seed.append(seed_row(result, seed))
            print(setup.dataset, setup.architecture, per_seed[-1], flush=True)
            if seed != seeds[0]:
                continue
            best = best_layer(result)
            summary = summary_rows(result)
            lines += [
                f"### {setup.dataset} / {setup.architecture}",
                "",
                f"Training: {setup.epochs} epochs, Adam lr {setup.learning_rate}, cosine schedule, batch 64, "
                f"seed {seed}, {info['train_samples']} training samples of which {info['flipped']} flipped "
                f"({NOISE_FRACTION:.0%}). Accuracy: {info['test_accuracy_clean']:.3f} on the clean held-out 20 %, "
                f"{info['train_accuracy_given']:.3f} on the given (noisy) training labels; the model fits "
                f"{info['flipped_fit']:.0%} of the flipped labels. Mapper: L2-norm lens, {setup.n_intervals} "
                f"intervals, {setup.overlap:.0%} overlap, DBSCAN min_samples {setup.min_samples}, eps {ANOMALY_EPS} (topoact.anomaly.ANOMALY_EPS); k = 10. "
                f"Run time {info['seconds']} s.",
                "",
                markdown(summary.round(4)),
                "",
                verdict(result, best),
                "",
                f"Best layer (combined AUROC): **{best}**. Every score there:",
                "",
                markdown(result[result["layer"] == best].drop(columns=["layer", "nodes"]).set_index("score").round(4)),
                "",
            ]
        seeds_table = pd.DataFrame(per_seed).set_index("seed")
        wins = int(seeds_table["beats both"].sum())
        lines += [f"All seeds, {setup.dataset} / {setup.architecture} (each at its best layer): the combined rank "
                  f"beats both baselines in {wins} of {len(seeds)}.", "", markdown(seeds_table), ""]
    text = "\n".join(lines)
    if not args.no_write:
        from bench.results import write_section

        write_section(SECTION, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
