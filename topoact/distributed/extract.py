"""Extraction on Ray Data: blocks of whole forward batches through a pool of model actors.

The rows an extraction uses (:func:`topoact.extract.sampling.subset_rows`) are cut
into forward batches of ``batch_size`` exactly as the local engine cuts them, and the
batches into *blocks* of ``batches_per_block``. Ray Data streams the block numbers
through an actor pool (``map_batches`` with a callable class): each actor holds one
copy of the model (shipped once through the object store, so every actor runs the
driver's exact weights) and the dataset, reads a block's samples, runs
:func:`topoact.extract.extractor.extract_rows` on them and writes one Parquet shard per
layer (:func:`topoact.cache.parquet.write_shard`). Only a small manifest row per shard
comes back to this process, which reports progress as blocks finish.

Failures: an actor that dies (killed, out of memory, a lost node) is restarted by Ray
and its block is retried; a retried block rewrites the same shard names atomically,
so it cannot leave duplicates. Shards are written into a ``.partial-<run>@<host>@<pid>``
folder that is renamed to ``<run>`` only after every block has reported; an error
removes the folder, so no half-written run is ever registered or left behind (the
folder of a driver killed outright is removed by the next run in the same place).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from topoact import TopoactError
from topoact.activations import ActivationSet
from topoact.cache.parquet import read_shard_set, write_shard
from topoact.distributed.engine import RayEngine, connect, configure_ray_data, raise_worker_error
from topoact.extract.extractor import check_extraction, extract_rows, extraction_progress, layer_meta, run_meta
from topoact.extract.sampling import subset_rows
from topoact.progress import Progress

#: Called on the actor with the block number before the block runs (fault injection).
BlockHook = Callable[[int], Any]

DEVICES: tuple[str, ...] = ("cpu", "cuda", "auto")
#: Name prefix of a run's staging folder (renamed to the run's name once complete).
PARTIAL = ".partial-"


@dataclass(frozen=True)
class ShardSet:
    """One layer's shards from a Ray extraction, in row order."""

    layer: str
    files: tuple[Path, ...]
    n_rows: int
    dim: int
    layer_shape: tuple[int, ...]
    dropped: int


@dataclass(frozen=True)
class BlockTiming:
    """What one block cost on its actor (for throughput measurements)."""

    block: int
    samples: int
    rows: int
    seconds_extract: float
    seconds_write: float


@dataclass
class ShardRun:
    """The outcome of :func:`extract_to_shards`."""

    folder: Path
    sets: dict[str, ShardSet]
    special_tokens: str
    seconds: float
    blocks: list[BlockTiming]
    actors: int
    device: str


def layer_folder(index: int, layer: str) -> str:
    """Folder name of a layer's shards inside a run (any dotted or odd layer name is safe)."""
    return f"{index:03d}-{re.sub(r'[^A-Za-z0-9._-]+', '_', layer)[:60]}"


def shard_name(block: int) -> str:
    """File name of a block's shard."""
    return f"part-{block:07d}.parquet"


class BlockExtractor:
    """A Ray Data actor: one copy of the model; each call extracts whole blocks and writes their shards.

    Parameters
    ----------
    model, dataset
        Loaded model and dataset (unpickled once per actor from the object store).
    layers : list of str
    rows : ndarray of int64
        Every row of the extraction; block ``b`` is ``rows[b * block_rows:(b + 1) * block_rows]``.
    options : dict
        ``sampling``, ``max_positions``, ``seed``, ``batch_size``, ``predictions``,
        ``nonfinite``, ``layout`` for :func:`~topoact.extract.extractor.extract_rows`.
    staging : str
        The run's ``.partial`` folder.
    block_rows : int
    device : {'cpu', 'cuda'}
    on_block : callable, optional
        Called with the block number before it runs.
    """

    def __init__(self, model, dataset, layers, rows, options, staging, block_rows, device, on_block=None) -> None:
        self.model = model
        self.dataset = dataset
        self.layers = list(layers)
        self.rows = rows
        self.options = dict(options)
        self.staging = Path(staging)
        self.block_rows = int(block_rows)
        self.device = device
        self.on_block = on_block
        model.module.to(device)
        model.module.eval()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        out: dict[str, list] = {key: [] for key in (
            "block", "layer", "file", "rows", "dim", "samples", "layer_shape", "dropped",
            "special_tokens", "seconds_extract", "seconds_write")}
        for block in (int(b) for b in batch["id"]):
            if self.on_block is not None:
                self.on_block(block)
            ids = self.rows[block * self.block_rows : (block + 1) * self.block_rows]
            started = time.perf_counter()
            sets, specials = extract_rows(self.model, self.dataset, self.layers, ids, device=self.device, **self.options)
            extracted = time.perf_counter()
            files = [f"{layer_folder(index, layer)}/{shard_name(block)}" for index, layer in enumerate(self.layers)]
            for layer, file in zip(self.layers, files):
                write_shard(sets[layer], self.staging / file)
            written = time.perf_counter()
            for layer, file in zip(self.layers, files):
                acts = sets[layer]
                out["block"].append(block)
                out["layer"].append(layer)
                out["file"].append(file)
                out["rows"].append(acts.n_rows)
                out["dim"].append(acts.dim)
                out["samples"].append(int(ids.size))
                out["layer_shape"].append(",".join(str(s) for s in acts.meta["layer_shape"]))
                out["dropped"].append(int(acts.meta["dropped_nonfinite"]))
                out["special_tokens"].append(specials)
                out["seconds_extract"].append(extracted - started)
                out["seconds_write"].append(written - extracted)
        return out


def remove_abandoned_runs(folder: Path) -> list[Path]:
    """Remove the staging folders of runs whose driver died on this machine (a kill -9).

    A staging folder is named ``.partial-<run>@<host>@<pid>``; one of this host whose
    process is gone will never be finished. Folders of other hosts, and of live
    processes, are left alone. Returns the folders removed.
    """
    removed = []
    host = socket.gethostname()
    for staging in folder.glob(f"{PARTIAL}*@*@*"):
        _, owner_host, pid = staging.name.rsplit("@", 2)
        if owner_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(staging, ignore_errors=True)
        removed.append(staging)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _actor_plan(ray: Any, engine: RayEngine, device: str, n_blocks: int) -> tuple[str, int, float]:
    """(device on the actors, number of actors, GPUs per actor) for this cluster; never more actors than blocks."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r} for the Ray engine; valid: {', '.join(DEVICES)}")
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 1))
    if device == "cuda" and gpus == 0:
        raise TopoactError("device 'cuda' asked for but the Ray cluster has no GPU; use --device cpu or auto")
    on_gpu = device == "cuda" or (device == "auto" and gpus > 0)
    if engine.actors is not None:
        actors = int(engine.actors)
    else:
        actors = gpus if on_gpu else max(1, cpus)
    actors = max(1, min(actors, n_blocks))  # an actor costs a process and a model copy
    return ("cuda" if on_gpu else "cpu"), actors, (1.0 if on_gpu else 0.0)


def extract_to_shards(
    model: Any,
    dataset: Any,
    layers: Sequence[str],
    rows: np.ndarray,
    *,
    folder: str | os.PathLike[str],
    engine: RayEngine,
    sampling: str,
    max_positions: int = 16,
    seed: int = 0,
    batch_size: int = 64,
    device: str = "cpu",
    predictions: bool = True,
    nonfinite: str = "raise",
    layout: str = "nchw",
    progress: Progress | None = None,
    on_block: BlockHook | None = None,
) -> ShardRun:
    """Extract ``layers`` for ``rows`` on the Ray cluster into Parquet shards under ``folder``.

    Parameters
    ----------
    model, dataset
        Loaded model and dataset (checked by the caller); shipped to the actors once.
    layers : sequence of str
    rows : ndarray of int64
        Dataset rows in extraction order (:func:`~topoact.extract.sampling.subset_rows`).
    folder : path-like
        Where the run's folder is created; all nodes must reach it.
    engine : RayEngine
    sampling, max_positions, seed, batch_size, predictions, nonfinite, layout
        As for :func:`topoact.extract.extract_activations`.
    device : {'cpu', 'cuda', 'auto'}
        Where the actors run the model; ``auto``: GPU actors when the cluster has GPUs.
    progress : callable(fraction, message), optional
        Called as blocks finish on the cluster, as the local extraction reports.
    on_block : callable, optional
        Run on the actor with the block number before each block (tests inject faults).

    Returns
    -------
    ShardRun
        Its ``folder`` holds every shard; nothing is left when this raises.
    """
    ray = connect(engine)
    configure_ray_data()
    rows = np.asarray(rows, dtype=np.int64)
    block_rows = int(batch_size) * int(engine.batches_per_block)
    n_blocks = max(1, -(-rows.size // block_rows))
    actor_device, n_actors, gpus_per_actor = _actor_plan(ray, engine, device, n_blocks)
    run_id = f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    remove_abandoned_runs(root)
    staging = root / f"{PARTIAL}{run_id}@{socket.gethostname()}@{os.getpid()}"
    for index, layer in enumerate(layers):
        (staging / layer_folder(index, layer)).mkdir(parents=True, exist_ok=True)
    options = dict(sampling=sampling, max_positions=max_positions, seed=seed, batch_size=batch_size,
                   predictions=predictions, nonfinite=nonfinite, layout=layout)
    started = time.perf_counter()
    try:
        manifest = _run_blocks(
            model, dataset, list(layers), rows, options, staging, block_rows, n_blocks,
            actor_device, n_actors, gpus_per_actor, progress, on_block,
        )
        sets, specials, timings = _check_manifest(manifest, list(layers), n_blocks, staging)
        final = root / run_id
        os.replace(staging, final)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise_worker_error(exc, "the Ray extraction")
    sets = {layer: ShardSet(s.layer, tuple(final / f for f in s.files), s.n_rows, s.dim, s.layer_shape, s.dropped)
            for layer, s in sets.items()}
    return ShardRun(final, sets, specials, time.perf_counter() - started, timings, n_actors, actor_device)


def _run_blocks(model, dataset, layers, rows, options, staging, block_rows, n_blocks,
                actor_device, n_actors, gpus_per_actor, progress, on_block) -> list[dict]:
    """Stream the blocks through the actor pool; return the manifest rows."""
    import ray.data

    # The block numbers are made here, not by read tasks: a read task needs a CPU, and
    # with every CPU held by an actor it would never run (the pool would wait forever).
    blocks = ray.data.from_items([{"id": block} for block in range(n_blocks)], override_num_blocks=n_blocks)
    shards = blocks.map_batches(
        BlockExtractor,
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=n_actors),
        num_cpus=1,
        num_gpus=gpus_per_actor,
        fn_constructor_kwargs=dict(
            model=model, dataset=dataset, layers=layers, rows=rows, options=options,
            staging=str(staging), block_rows=block_rows, device=actor_device, on_block=on_block,
        ),
    )  # Ray Data restarts a dead actor and retries its block; a Python error is final
    manifest: list[dict] = []
    total = int(rows.size)
    done = 0
    if progress is not None:
        progress(*extraction_progress(layers, 0, total))  # the pool is starting: say that extraction has begun
    for row in shards.iter_rows():
        manifest.append(dict(row))
        if row["layer"] == layers[0]:
            done += int(row["samples"])
            if progress is not None:
                progress(*extraction_progress(layers, min(done, total), total))
    return manifest


def _check_manifest(manifest: list[dict], layers: list[str], n_blocks: int, staging: Path):
    """Check that every block reported every layer once and its shard is here; drop stray files."""
    by_layer: dict[str, dict[int, dict]] = {layer: {} for layer in layers}
    for row in manifest:
        seen = by_layer[row["layer"]]
        if int(row["block"]) in seen:
            raise TopoactError(f"block {row['block']} of layer {row['layer']!r} was reported twice")
        seen[int(row["block"])] = row
    sets: dict[str, ShardSet] = {}
    for layer, blocks in by_layer.items():
        missing = sorted(set(range(n_blocks)) - set(blocks))
        if missing:
            raise TopoactError(f"the Ray extraction lost {len(missing)} block(s) of layer {layer!r} (first: {missing[0]})")
        ordered = [blocks[b] for b in range(n_blocks)]
        absent = [row["file"] for row in ordered if not (staging / row["file"]).is_file()]
        if absent:
            raise TopoactError(
                f"the Ray workers wrote shards that this machine cannot see (e.g. {staging / absent[0]}); "
                "give --shard-dir on storage that every node shares"
            )
        dims = {int(row["dim"]) for row in ordered if int(row["rows"])} or {int(ordered[0]["dim"])}
        if len(dims) != 1:
            raise TopoactError(f"layer {layer!r} gave vectors of widths {sorted(dims)} in different blocks")
        last_shape = ordered[-1]["layer_shape"]
        sets[layer] = ShardSet(
            layer=layer,
            files=tuple(Path(row["file"]) for row in ordered),
            n_rows=sum(int(row["rows"]) for row in ordered),
            dim=dims.pop(),
            layer_shape=tuple(int(s) for s in str(last_shape).split(",") if s),
            dropped=sum(int(row["dropped"]) for row in ordered),
        )
    # Temporary files of writers killed mid-shard are not part of the run.
    wanted = {staging / row["file"] for row in manifest}
    for file in staging.rglob("*"):
        if file.is_file() and file not in wanted:
            file.unlink(missing_ok=True)
    first_layer = [by_layer[layers[0]][b] for b in range(n_blocks)]
    timings = [BlockTiming(int(r["block"]), int(r["samples"]), int(r["rows"]), float(r["seconds_extract"]),
                           float(r["seconds_write"])) for r in first_layer]
    return sets, str(first_layer[-1]["special_tokens"]), timings


def extract_with_ray(
    model: Any,
    dataset: Any,
    layers: Sequence[str] | None,
    *,
    engine: RayEngine,
    store: Any | None,
    key_of: Callable[[str], str],
    sampling: str,
    max_positions: int = 16,
    seed: int = 0,
    limit: int | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    predictions: bool = True,
    nonfinite: str = "raise",
    layout: str = "nchw",
    progress: Progress | None = None,
    on_block: BlockHook | None = None,
) -> dict[str, ActivationSet]:
    """:func:`topoact.extract.extract_activations` on a Ray cluster, through Parquet shards.

    With a ``store`` each layer's shards are registered under ``key_of(layer)`` and
    read back through it (DuckDB reads them in place); without one they are read by
    an in-memory DuckDB and removed.

    Returns
    -------
    dict of str to ActivationSet
        Equal to the local engine's sets (``meta['engine']`` is ``"ray"``).
    """

    layers, modality = check_extraction(
        model, dataset, layers, sampling=sampling, max_positions=max_positions, batch_size=batch_size,
        limit=limit, nonfinite=nonfinite, layout=layout,
    )
    rows = subset_rows(len(dataset), limit, seed)
    if engine.shard_dir is not None:
        folder = Path(engine.shard_dir)
    elif store is not None:
        folder = Path(store.shard_dir)
    else:
        folder = Path(tempfile.mkdtemp(prefix="topoact-shards-"))
    run = extract_to_shards(
        model, dataset, layers, rows, folder=folder, engine=engine, sampling=sampling,
        max_positions=max_positions, seed=seed, batch_size=batch_size, device=device,
        predictions=predictions, nonfinite=nonfinite, layout=layout, progress=progress, on_block=on_block,
    )
    meta_common = run_meta(
        model, dataset, modality, sampling=sampling, max_positions=max_positions, seed=seed, limit=limit,
        n_samples=int(rows.size), predictions=predictions, layout=layout, seconds=run.seconds,
        special_tokens=run.special_tokens, engine="ray",
    )
    out: dict[str, ActivationSet] = {}
    registered: set[str] = set()
    try:
        for layer, shards in run.sets.items():
            meta = layer_meta(meta_common, layer, shards.layer_shape, shards.dropped)
            if store is None:
                out[layer] = read_shard_set(shards.files, meta, layer)
                continue
            key = key_of(layer)
            store.put_parquet_activations(key, layer, list(shards.files), meta)
            registered.add(layer)
            acts = store.get_activations(key)
            if acts is None:  # pragma: no cover - registered just above
                raise TopoactError(f"the shards of layer {layer!r} were registered but cannot be read back")
            out[layer] = acts
    except BaseException:
        for layer, shards in run.sets.items():
            if layer not in registered:
                for file in shards.files:
                    file.unlink(missing_ok=True)
        raise
    finally:
        if store is None:
            shutil.rmtree(run.folder, ignore_errors=True)
    _remove_empty_folders(run.folder)
    return out


def _remove_empty_folders(folder: Path) -> None:
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        try:
            sub.rmdir()
        except OSError:
            pass
    try:
        folder.rmdir()
    except OSError:
        pass
