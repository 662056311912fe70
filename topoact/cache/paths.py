"""Where the cache file lives by default."""

from __future__ import annotations

from pathlib import Path

#: File name of the DuckDB store inside the cache folder.
CACHE_FILE_NAME = "topoact.duckdb"


def default_cache_dir() -> Path:
    """Return the runtime-data folder: ``$TOPOACT_CACHE_DIR``, else ``<repo>/cache``.

    The rule lives in :func:`zoo.paths.cache_dir` (shared with the zoo's converted and
    trained weights), which also creates the folder.

    Returns
    -------
    Path
    """
    from zoo.paths import cache_dir

    return cache_dir()


def default_cache_path() -> Path:
    """Return the default DuckDB file: ``default_cache_dir() / "topoact.duckdb"``.

    Returns
    -------
    Path
        Path of the cache file (the file itself is not created here).
    """
    return default_cache_dir() / CACHE_FILE_NAME
