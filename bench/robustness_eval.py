"""Robustness through the lens of topology: does the clean Mapper graph predict which samples an attack flips?

digits_cnn and digits_mlp on all 1,797 scikit-learn digits: PGD (L-inf, untargeted, 10 steps of
2.5 eps / 10 from a seeded random start, through ART) at eight strengths and random +-eps noise of
the same sizes as the control. A sample's vulnerability is the smallest strength that changes
its prediction; "flips at small strength" is flipping at the smallest strength where at least
10 % of the samples flip. Clean-graph scores (1 - point purity, node mix, position along the
lens in its component) are measured against it at several layers (``gap`` sampling: one
vector per sample; Mapper: L2-norm lens, 15 intervals, 40 % overlap, DBSCAN min_samples 5,
eps auto), beside the model's confidence margin (the baseline) and k-NN label disagreement
in the same activations (no graph). The demo timings run each offline demo cold in a fresh
cache folder, then again with everything cached. Seed 0; one torch thread (the attacks
always run on one, so the perturbed images do not depend on the thread count).

    .venv/bin/python -m bench.robustness_eval [--no-write]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]

from topoact.robustness.report import SWEEP_COLUMNS  # noqa: E402

SECTION = "## Robustness evaluation"
SEED = 0
THREADS = 1
DIGITS_STRENGTHS = (0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3)


@dataclass(frozen=True)
class Demo:
    """One offline demo: what `python -m topoact robustness` runs."""

    model: str
    dataset: str
    strengths: tuple[float, ...] | None = None
    attack: str = "pgd"
    layer: str | None = None
    sampling: str = "gap"
    n_intervals: int = 15
    min_samples: int = 5

    def config(self):
        from topoact.robustness import DEFAULT_STRENGTHS, RobustnessConfig

        return RobustnessConfig(self.model, self.dataset, self.layer, attack=self.attack,
                                strengths=self.strengths or DEFAULT_STRENGTHS, seed=SEED, sampling=self.sampling,
                                n_intervals=self.n_intervals, min_samples=self.min_samples)

    def command(self) -> str:
        parts = [f"python -m topoact robustness --model {self.model} --dataset {self.dataset}"]
        if self.strengths:
            parts.append("--strengths " + " ".join(_strength_text(e) for e in self.strengths))
        if self.attack != "pgd":
            parts.append(f"--attack {self.attack}")
        if self.layer:
            parts.append(f"--layer {self.layer}")
        if self.sampling != "gap":
            parts.append(f"--sampling {self.sampling}")
        if self.n_intervals != 15:
            parts.append(f"--intervals {self.n_intervals}")
        if self.min_samples != 5:
            parts.append(f"--min-samples {self.min_samples}")
        return " ".join(parts)


DEMOS: tuple[Demo, ...] = (
    Demo("digits_cnn", "digits"),
    Demo("digits_mlp", "digits"),
    Demo("mobilenetv2_100", "skimage-photos", strengths=(1 / 255, 2 / 255, 4 / 255), layer="blocks.5",
         sampling="all_positions", n_intervals=8, min_samples=3),
)

#: (model, layers) evaluated on digits at DIGITS_STRENGTHS.
EVALUATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("digits_cnn", ("block1", "block2", "block3")),  # pool = block3 under gap sampling
    ("digits_mlp", ("hidden1", "hidden2")),
)


def _strength_text(eps: float) -> str:
    levels = round(eps * 255)
    return f"{levels}/255" if abs(levels / 255 - eps) < 1e-9 else f"{eps:g}"


def markdown(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (the anomaly benchmark's), with NaN shown as n/a."""
    from bench.anomaly_eval import markdown as table

    return table(frame.astype(object).where(frame.notna(), "n/a"))


def time_demo(demo: Demo, store) -> dict:
    """Cold and warm seconds of one demo (models are loaded, and trained or converted, beforehand)."""
    import zoo
    from topoact.robustness import robustness_report

    model = zoo.load_model(demo.model)
    started = time.perf_counter()
    report = robustness_report(demo.config(), store=store, model=model)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    robustness_report(demo.config(), store=store, model=model)
    warm = time.perf_counter() - started
    accuracy = report.accuracy
    middle = report.config.middle_strength
    return {
        "command": demo.command(), "samples": len(report.vulnerability), "layer": report.layer,
        "cold s": round(cold, 1), "cached s": round(warm, 1),
        f"flipped by {demo.attack} at the middle strength": round(float(accuracy.loc[(demo.attack, middle), "flipped"]), 3),
        "flipped by noise of that size": round(float(accuracy.loc[("noise", middle), "flipped"]), 3),
        "AUROC margin": _auroc(report, "margin"),
        "AUROC lens position": _auroc(report, "lens_position"),
    }


def _auroc(report, predictor: str) -> float | str:
    """A predictor's AUROC, or why there is none (every sample flips at the smallest strength)."""
    if report.prediction is None:
        return "n/a: all flip"
    return round(float(report.prediction.loc[predictor, "auroc"]), 3)


def evaluate(model_name: str, layers: tuple[str, ...], store) -> tuple[pd.DataFrame, dict]:
    """Per layer and predictor: Spearman and AUROC for vulnerability; plus the accuracy and sweep tables."""
    import zoo
    from topoact.robustness import RobustnessConfig, robustness_report

    model = zoo.load_model(model_name)
    rows, extra = [], {}
    for layer in layers:
        config = RobustnessConfig(model_name, "digits", layer, attack="pgd", strengths=DIGITS_STRENGTHS, seed=SEED)
        report = robustness_report(config, store=store, model=model)
        flips = report.vulnerability["flip_strength"]
        table = report.prediction.drop(columns=["what"]).reset_index()
        table.insert(0, "layer", layer)
        table.insert(1, "clean graph nodes", report.clean_graph.n_nodes)
        rows.append(table)
        extra.setdefault("small", report.small_strength)
        extra.setdefault("share_small", float((flips <= report.small_strength).mean()))
        extra.setdefault("never", float((flips == float("inf")).mean()))
        extra.setdefault("accuracy", report.accuracy)
        extra[f"sweep {layer}"] = report.sweep
        extra[f"mix {layer}"] = report.mix
    return pd.concat(rows, ignore_index=True), extra


def verdict(result: pd.DataFrame) -> str:
    """Best clean-graph AUROC against the margin baseline."""
    graph = result[result["predictor"].isin(["point_purity", "node_mix", "lens_position"])]
    best = graph.loc[graph["auroc"].idxmax()]
    margin = result[result["predictor"] == "margin"]["auroc"].iloc[0]
    both = result[result["predictor"] == "margin+lens_position"]["auroc"].max()
    word = "beats" if best["auroc"] > margin else "does **not** beat"
    return (f"Best clean-graph score: {best['predictor']} at {best['layer']}, AUROC {best['auroc']:.3f} "
            f"(Spearman {best['spearman']:.3f}); it {word} the confidence-margin baseline (AUROC {margin:.3f}). "
            f"Margin and lens position together (mean rank): best AUROC {both:.3f}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(THREADS)
    folder = tempfile.mkdtemp(prefix="topoact-robustness-bench-")
    os.environ["TOPOACT_CACHE_DIR"] = folder
    from topoact.cache import Store

    store = Store(Path(folder) / "topoact.duckdb")
    import zoo

    started = time.perf_counter()
    for name in dict.fromkeys(d.model for d in DEMOS):
        zoo.load_model(name)  # train / convert into the fresh cache folder first: not part of a study
    setup_seconds = time.perf_counter() - started

    timings = pd.DataFrame([time_demo(demo, store) for demo in DEMOS])
    print(timings.to_string(index=False), flush=True)
    lines = [SECTION, "", " ".join(__doc__.split("\n\n")[1].split()), "",
             f"### Offline demos (cold = fresh cache; models trained or converted beforehand in {setup_seconds:.0f} s)",
             "", markdown(timings.set_index("command")), ""]
    for model_name, layers in EVALUATIONS:
        result, extra = evaluate(model_name, layers, store)
        print(model_name, result.round(3).to_string(), flush=True)
        accuracy = extra["accuracy"].drop(columns=["dataset"]).round(4)
        best_layer = result.loc[result[result["predictor"] == "lens_position"]["auroc"].idxmax(), "layer"]
        lines += [
            f"### {model_name} on digits (1,797 samples), PGD at {', '.join(f'{e:g}' for e in DIGITS_STRENGTHS)}",
            "",
            f"Accuracy under PGD and under noise of the same size (flipped: prediction differs from the clean one):",
            "", markdown(accuracy), "",
            f"Target: flips at strength <= {extra['small']:g}, {extra['share_small']:.1%} of the samples; "
            f"{extra['never']:.1%} never flip up to {max(DIGITS_STRENGTHS):g}. Spearman: rank correlation of each "
            "score (oriented so that high = vulnerable) with how easily the sample flips; AUROC for the target.",
            "", markdown(result.round(3).set_index("layer")), "", verdict(result), "",
            f"Strength sweep at {best_layer} (graph of the attacked activations; strength 0 = the clean graph; "
            "topoact.compare's graph metrics):", "",
            markdown(extra[f"sweep {best_layer}"][list(SWEEP_COLUMNS)].round(3)), "",
        ]
    lines += [f"Run on {THREADS} torch thread; total {time.perf_counter() - started:.0f} s.", ""]
    text = "\n".join(lines)
    if not args.no_write:
        from bench.results import write_section

        write_section(SECTION, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
