"""Where the cache file lives by default."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the folder for runtime data (shared with ``zoo``).
CACHE_DIR_ENV = "TOPOACT_CACHE_DIR"
#: File name of the DuckDB store inside the cache folder.
CACHE_FILE_NAME = "topoact.duckdb"

_REPO_ROOT = Path(__file__).resolve().parents[2]


def default_cache_dir() -> Path:
    """Return the runtime-data folder: ``$TOPOACT_CACHE_DIR``, else ``<repo>/cache``.

    Returns
    -------
    Path
        The folder (not created here).
    """
    env = os.environ.get(CACHE_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else _REPO_ROOT / "cache"


def default_cache_path() -> Path:
    """Return the default DuckDB file: ``default_cache_dir() / "topoact.duckdb"``.

    Returns
    -------
    Path
        Path of the cache file (neither the file nor its folder is created here).
    """
    return default_cache_dir() / CACHE_FILE_NAME
