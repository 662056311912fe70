"""Where the zoo keeps runtime data (converted checkpoints, trained models, datasets)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: Environment variable that overrides the cache folder.
CACHE_ENV_VAR = "TOPOACT_CACHE_DIR"

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Return the runtime cache folder, creating it on demand.

    Returns
    -------
    pathlib.Path
        ``$TOPOACT_CACHE_DIR`` when set, else ``<repo>/cache``.
    """
    folder = Path(os.environ.get(CACHE_ENV_VAR) or REPO_ROOT / "cache")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def zoo_cache_dir(*parts: str) -> Path:
    """Return (and create) a sub-folder of ``cache_dir()/zoo``."""
    folder = cache_dir().joinpath("zoo", *parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file and a rename.

    Two processes preparing the same cached file never see a half-written one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
