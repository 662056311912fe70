"""The DuckDB store of activations, Mapper graphs, result tables, images and run records.

:class:`Store` is a thin facade over its parts, one module per thing it stores:
:mod:`~topoact.cache.index` (connections, transactions, the entries index),
:mod:`~topoact.cache.files` (``.npy`` vector copies and Parquet shards on disk),
:mod:`~topoact.cache.activation_entries`, :mod:`~topoact.cache.result_entries`
(graphs, tables, run records), :mod:`~topoact.cache.image_entries` and
:mod:`~topoact.cache.maintenance` (size, clear, check, rebuild) and
:mod:`~topoact.cache.cleanup` (per-entry delete, sweep of orphaned files).
"""

from __future__ import annotations

from topoact.cache.activation_entries import ActivationEntries
from topoact.cache.cleanup import Cleanup
from topoact.cache.image_entries import PNG_SIGNATURE, ImageEntries, StoredImages
from topoact.cache.index import ACTIVATION_COMPRESSION, ACTIVATIONS, GRAPH, PARQUET_PREFIX, RUNS
from topoact.cache.maintenance import Maintenance
from topoact.cache.result_entries import ResultEntries

__all__ = [
    "ACTIVATIONS", "ACTIVATION_COMPRESSION", "GRAPH", "PARQUET_PREFIX", "PNG_SIGNATURE", "RUNS",
    "Store", "StoredImages",
]


class Store(ActivationEntries, ResultEntries, ImageEntries, Maintenance, Cleanup):
    """The topoact cache: one DuckDB file shared by the dashboard, the CLI and Python.

    Every operation opens its own short-lived connection and closes it when done, so a
    dashboard and a CLI job can share the file: DuckDB allows one writing process at a
    time (and no reader while it writes), and an operation that finds the file locked
    retries with backoff for up to ``lock_timeout`` seconds. Writes are single
    transactions whose index row is written last; a write that fails or is killed leaves
    nothing behind.

    An activation set can also stay in Parquet shards (the Ray engine writes them, possibly
    on storage a cluster shares): :meth:`put_parquet_activations` registers them and
    :meth:`get_activations` reads them in place through DuckDB.

    Parameters
    ----------
    path : str or Path, optional
        The DuckDB file; default :func:`default_cache_path`. Its folder is created on
        the first write.
    read_only : bool, default False
        Never write; reads of a missing file return nothing.
    lock_timeout : float, default 30.0
        Seconds to wait for another process holding the file before raising
        :class:`CacheLockedError`.

    Attributes
    ----------
    path : Path
        The DuckDB file.
    lock_waits : int
        How many times an operation found the file locked and waited (diagnostics).

    Notes
    -----
    Usable with or without ``with``; :meth:`close` only marks the store closed (no
    connection stays open between calls). Opening the store does no I/O; :meth:`check`
    validates the file up front.
    """
