"""The topoact cache: activations, Mapper graphs, result tables, images and run records in DuckDB.

Results are keyed by content hashes (:func:`cache_key`) of everything that determines
them, so a changed input never returns a stale result. See :class:`Store`.
"""

from topoact.cache.cleanup import SweepResult
from topoact.cache.errors import CacheCorruptError, CacheError, CacheKeyError, CacheLockedError
from topoact.cache.keys import cache_key, canonical_json
from topoact.cache.paths import default_cache_dir, default_cache_path
from topoact.cache.schema import SCHEMA_VERSION
from topoact.cache.store import Store, StoredImages

__all__ = [
    "SCHEMA_VERSION",
    "CacheCorruptError",
    "CacheError",
    "CacheKeyError",
    "CacheLockedError",
    "Store",
    "StoredImages",
    "SweepResult",
    "cache_key",
    "canonical_json",
    "default_cache_dir",
    "default_cache_path",
]
