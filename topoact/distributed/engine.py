"""Which engine runs the heavy stages, and the connection to a Ray cluster.

Importing this module imports neither torch nor Ray: command lines add the engine
arguments cheaply, and the product works where Ray is not installed; only a run that
asks for the Ray engine imports it (:func:`require_ray`).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topoact import TopoactError

#: Engine names: ``local`` (this process, threads) and ``ray`` (a Ray cluster).
ENGINES: tuple[str, ...] = ("local", "ray")

#: How to install the optional engine.
RAY_INSTALL = "pip install -r requirements-ray.txt"

_CONNECTING = threading.Lock()


@dataclass(frozen=True)
class RayEngine:
    """Run extraction and Mapper clustering on a Ray cluster.

    Parameters
    ----------
    address : str, optional
        Cluster to join: ``"auto"`` (a cluster started on this machine with
        ``ray start --head``), ``"HOST:6379"`` or ``"ray://HOST:10001"``. None joins
        the cluster this process is connected to, else ``$RAY_ADDRESS``, else starts
        a local one for this process.
    shard_dir : str, optional
        Folder for the extraction's Parquet shards; on a cluster of several machines
        it must be storage every node and this process share. Default: the cache's
        own ``<cache file>.shards`` folder (a temporary folder without a cache).
    actors : int, optional
        Model actors for extraction. Default: one per GPU with ``device="cuda"``, else
        one per CPU of the cluster.
    batches_per_block : int, default=8
        Forward batches per block: the unit of work of an actor and one Parquet
        shard per layer.
    """

    address: str | None = None
    shard_dir: str | None = None
    actors: int | None = None
    batches_per_block: int = 8

    def cluster_elements(self, X, elements, clusterer, *, progress=None) -> list:
        """Cluster every cover element as a Ray task: the core's ``ElementRunner`` protocol.

        ``Mapper(engine=RayEngine())`` calls it; see
        :func:`topoact.distributed.mapper.cluster_elements`.
        """
        # lazy: topoact.distributed.mapper imports this module (and the Mapper core, with scikit-learn)
        from topoact.distributed.mapper import cluster_elements

        return cluster_elements(X, elements, clusterer, engine=self, progress=progress)

    def __post_init__(self) -> None:
        if self.actors is not None and (isinstance(self.actors, bool) or int(self.actors) < 1):
            raise ValueError(f"actors must be None or an integer >= 1, got {self.actors!r}")
        if isinstance(self.batches_per_block, bool) or int(self.batches_per_block) < 1:
            raise ValueError(f"batches_per_block must be an integer >= 1, got {self.batches_per_block!r}")


def resolve_engine(engine: str | RayEngine | None) -> RayEngine | None:
    """``None`` for the local engine, the :class:`RayEngine` to use otherwise.

    Raises
    ------
    ValueError
        For an unknown engine name (the message lists the valid ones).
    """
    if engine is None or (isinstance(engine, str) and engine == "local"):
        return None
    if isinstance(engine, RayEngine):
        return engine
    if isinstance(engine, str) and engine == "ray":
        return RayEngine()
    raise ValueError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)} or a RayEngine")


def require_ray() -> Any:
    """Import and return the ``ray`` module, or raise one clear error when it is not installed.

    Raises
    ------
    TopoactError
        Ray is not installed (the message says how to install it).
    """
    try:
        import ray
        import ray.data  # noqa: F401  (the extraction needs Ray Data, part of ray[data])
    except ImportError as exc:
        raise TopoactError(
            f"the Ray engine needs Ray, which is not installed here ({exc}); install it with "
            f"`{RAY_INSTALL}` or use --engine local"
        ) from None
    return ray


def connect(engine: RayEngine) -> Any:
    """Connect this process to the engine's Ray cluster unless it already is on one.

    Returns
    -------
    ray : module
    """
    ray = require_ray()
    with _CONNECTING:  # a server's sessions may start Ray stages at once
        if ray.is_initialized():
            return ray
        return _init(ray, engine)


def _init(ray: Any, engine: RayEngine) -> Any:
    address = engine.address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        check_reachable(address)
    import topoact
    import zoo

    options: dict[str, Any] = {"logging_level": logging.WARNING, "include_dashboard": False}
    if address is not None:
        # Ship this process's topoact and zoo to the workers, so every node runs the
        # same code (torch, numpy, ... must be installed there).
        options["runtime_env"] = {
            "py_modules": [os.path.dirname(topoact.__file__), os.path.dirname(zoo.__file__)],
            "excludes": ["__pycache__", "*.pyc"],
        }
    else:
        # A local cluster's workers import topoact and zoo from where this process does.
        roots = dict.fromkeys(str(Path(module.__file__).resolve().parents[1]) for module in (topoact, zoo))
        paths = [*roots, *filter(None, [os.environ.get("PYTHONPATH")])]
        options["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}
    try:
        # "local": a new cluster for this process, not one `ray start` left on this machine
        ray.init(address=address or "local", **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a local cluster"
        hint = ""
        if address is not None and not os.environ.get("RAY_AUTH_MODE"):
            hint = " (a cluster with token authentication, Ray's default, also needs RAY_AUTH_MODE=token)"
        raise TopoactError(f"cannot connect to the Ray cluster at {where}: {str(exc).splitlines()[0]}{hint}") from None
    configure_ray_data()
    return ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast when a ``HOST:PORT`` (or ``ray://HOST:PORT``) address takes no connections.

    Ray itself keeps retrying an unreachable cluster for minutes; a plain TCP connect
    tells in seconds. ``auto`` and other forms are left to Ray.

    Raises
    ------
    TopoactError
        Nothing listens at the address.
    """
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise TopoactError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start one with "
            "`ray start --head` and pass the address it prints, or leave --ray-address out for a local one"
        ) from None


@contextmanager
def ray_session(engine: RayEngine) -> Iterator[RayEngine]:
    """A ``with`` block after which this process leaves the cluster if the block joined it.

    Nothing connects up front: the first Ray stage inside the block does (after its
    arguments were checked); a cluster joined, or started, by the block is left at
    its end, one the process was already on stays.

    Yields
    ------
    RayEngine
    """
    ray = require_ray()
    was_connected = ray.is_initialized()
    try:
        yield engine
    finally:
        if not was_connected and ray.is_initialized():
            ray.shutdown()


def configure_ray_data() -> None:
    """Ray Data as topoact uses it: errors of its own code as they are, no bars or execution logs.

    An exception in an actor reaches this process as itself (not a bare
    ``UserCodeException``), and topoact reports progress itself.
    """
    import ray.data

    context = ray.data.DataContext.get_current()
    context.raise_original_map_exception = True
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    # it warns once that the bars are off, which is what was asked for
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)


def worker_error(exc: BaseException) -> BaseException:
    """The exception user code raised on a worker, unwrapped from Ray's wrappers.

    Ray re-raises a task's error as ``RayTaskError`` (with ``cause``), and Ray Data
    wraps a failing UDF in ``UserCodeException``; the message a user needs is the
    original one (e.g. a ``ValueError`` naming a layer). Returns ``exc`` itself when
    it wraps nothing.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    found = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if not type(current).__module__.startswith("ray."):
            return current
        found = current
        current = getattr(current, "cause", None) or current.__cause__
    return found


def raise_worker_error(exc: BaseException, what: str) -> None:
    """Re-raise ``exc`` as the error a user should read: the worker's own, or one line.

    A user error raised on a worker (a ``ValueError`` naming a layer, ...) is raised
    as itself; a failure of Ray (an actor that died once too often, a lost node)
    becomes a :class:`TopoactError` with its first line; anything raised here in this
    process (an interrupt, a topoact error) is re-raised unchanged.
    """
    error = worker_error(exc)
    if type(error).__module__.startswith("ray."):
        lines = [line for line in str(error).strip().splitlines() if line.strip()]
        raise TopoactError(f"{what} failed on the Ray cluster: {lines[-1] if lines else type(error).__name__}") from None
    if error is exc:
        raise exc
    raise error from None


def add_engine_arguments(parser: argparse.ArgumentParser | Any) -> None:
    """``--engine``, ``--ray-address``, ``--shard-dir`` and ``--actors``."""
    parser.add_argument("--engine", default="local", choices=ENGINES,
                        help="where the heavy stages run: local (default) or ray (a Ray cluster; "
                        f"{RAY_INSTALL})")
    parser.add_argument("--ray-address", default=None, metavar="ADDRESS",
                        help="Ray cluster to join: auto, HOST:6379 or ray://HOST:10001 "
                        "(default: $RAY_ADDRESS, else a local cluster for this run)")
    parser.add_argument("--shard-dir", default=None, metavar="DIR",
                        help="Ray extraction: folder for the Parquet shards, on storage all nodes share "
                        "(default: next to the cache file)")
    parser.add_argument("--actors", type=int, default=None,
                        help="Ray extraction: model actors (default: one per GPU, or one per CPU)")


def engine_from_args(args: argparse.Namespace) -> RayEngine | None:
    """The engine named by :func:`add_engine_arguments`' arguments (None: local)."""
    engine = getattr(args, "engine", "local")
    if engine == "local":
        for flag, value in (("--ray-address", getattr(args, "ray_address", None)),
                            ("--shard-dir", getattr(args, "shard_dir", None)),
                            ("--actors", getattr(args, "actors", None))):
            if value is not None:
                raise TopoactError(f"{flag} applies to --engine ray")
        return None
    if engine != "ray":
        raise TopoactError(f"unknown --engine {engine!r}; valid: {', '.join(ENGINES)}")
    if args.actors is not None and args.actors < 1:
        raise TopoactError(f"--actors must be at least 1; got {args.actors}")
    require_ray()
    return RayEngine(address=args.ray_address, shard_dir=args.shard_dir, actors=args.actors)


@contextmanager
def session_from_args(args: argparse.Namespace) -> Iterator[RayEngine | None]:
    """The engine the arguments name; with Ray, the cluster is left after the block (see :func:`ray_session`)."""
    engine = engine_from_args(args)
    if engine is None:
        yield None
        return
    with ray_session(engine) as connected:
        yield connected
