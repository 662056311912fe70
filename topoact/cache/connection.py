"""Short-lived DuckDB connections with lock retry and clear errors.

DuckDB lets one process open a database file read-write; while it does, no other
process can open the file at all, not even read-only (measured with DuckDB 2.0.1:
``IO Error: Could not set lock on file ...: Conflicting lock is held in <exe> (PID n)``).
Several processes may hold it read-only at once, which in turn blocks a writer. So the
store opens a connection per operation, closes it right after, and on a lock conflict
retries with jittered exponential backoff until its ``lock_timeout``.

Inside one process DuckDB shares one database instance per file and refuses a second
connection with a different ``read_only`` setting; a per-file lock serialises the
store's operations in a process, so threads never mix the two.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from topoact.cache.errors import REBUILD_HINT, CacheCorruptError, CacheError, CacheLockedError

_LOCK_MARKERS = ("could not set lock", "conflicting lock")
_CORRUPT_MARKERS = (
    "not a valid duckdb database",
    "could not read enough bytes",
    "corrupt",
    "checksum",
    "version number",
    "storage version",
    "failed to load metadata",
)
_HOLDER = re.compile(r"held in (?P<exe>.+?) \(PID (?P<pid>\d+)\)")

_registry_lock = threading.Lock()
_path_locks: dict[str, threading.RLock] = {}


def is_lock_error(exc: BaseException) -> bool:
    """Return True if ``exc`` is DuckDB refusing the file because another process holds it."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and any(marker in text for marker in _LOCK_MARKERS)


def is_corrupt_error(exc: BaseException) -> bool:
    """Return True if ``exc`` says the file is not a (readable) DuckDB database."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and any(marker in text for marker in _CORRUPT_MARKERS)


def lock_holder(exc: BaseException) -> str | None:
    """Return ``"<exe> (PID n)"`` of the process DuckDB names as holding the lock, if any."""
    match = _HOLDER.search(str(exc))
    return f"{match['exe']} (PID {match['pid']})" if match else None


def translate(exc: duckdb.Error, path: Path, doing: str) -> CacheError:
    """Turn a DuckDB error into a :class:`CacheError` with a message a user can act on."""
    if is_corrupt_error(exc):
        return CacheCorruptError(f"cache file {path} is damaged or unreadable ({exc}); {REBUILD_HINT}")
    return CacheError(f"cache {doing} failed on {path}: {exc}")


@contextmanager
def process_lock(path: Path) -> Iterator[None]:
    """Serialise this process's connections to ``path`` (one at a time, any thread)."""
    key = os.path.realpath(path)
    with _registry_lock:
        lock = _path_locks.setdefault(key, threading.RLock())
    with lock:
        yield


def open_connection(
    path: Path,
    *,
    read_only: bool,
    lock_timeout: float,
    on_wait: Callable[[BaseException], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open ``path``, retrying while another process holds its lock.

    Parameters
    ----------
    path : Path
        The database file.
    read_only : bool
        Open read-only (other readers may share the file) or read-write (exclusive).
    lock_timeout : float
        Seconds to keep retrying on a lock conflict; 0 tries once.
    on_wait : callable, optional
        Called with the DuckDB error each time a lock conflict makes it wait.

    Returns
    -------
    DuckDBPyConnection
        An open connection; the caller closes it.

    Raises
    ------
    CacheLockedError
        The file stayed locked for ``lock_timeout`` seconds (names the holder).
    CacheCorruptError
        The file is not a readable DuckDB database.
    CacheError
        Any other failure to open.
    """
    deadline = time.monotonic() + max(0.0, lock_timeout)
    delay = 0.005
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            if not is_lock_error(exc):
                raise translate(exc, path, "open") from exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                holder = lock_holder(exc) or "another process"
                raise CacheLockedError(
                    f"cache file {path} is locked by {holder} and stayed locked for "
                    f"{lock_timeout:g} s; DuckDB allows one writing process per file. Wait for "
                    f"that job to finish, stop it, or use a longer lock_timeout"
                ) from exc
            if on_wait is not None:
                on_wait(exc)
            time.sleep(min(remaining, delay * (0.5 + random.random())))
            delay = min(delay * 1.6, 0.25)
