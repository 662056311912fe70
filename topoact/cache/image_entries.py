"""Images in the cache: named PNG files per entry (feature visualizations, thumbnails)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from topoact.cache.errors import CacheCorruptError
from topoact.cache.index import StoreIndex, _check_key, _check_table_kind
from topoact.cache.keys import canonical_json

#: The first bytes of every PNG file.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class StoredImages:
    """The images of one entry, as :meth:`Store.get_images` returns them.

    Attributes
    ----------
    images : dict of str to bytes
        Name -> PNG bytes, in the order they were stored.
    meta : dict
        The entry's description, as given to :meth:`Store.put_images`.
    """

    images: dict[str, bytes] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


class ImageEntries(StoreIndex):
    """Store and read image entries (a part of :class:`~topoact.cache.Store`)."""

    def put_images(self, kind: str, key: str, images: Mapping[str, bytes], meta: dict) -> None:
        """Store named PNG images as entry (kind, key), replacing any previous one, atomically.

        Parameters
        ----------
        kind : str
            What the images are, e.g. ``"featvis"`` (lowercase identifier, not one of
            ``activations``, ``graph``, ``runs``).
        key : str
            Cache key.
        images : mapping of str to bytes
            Name -> PNG file bytes; the order is kept. May be empty (a computed "nothing").
        meta : dict
            JSON-able description (what the images show, scores, parameters ...).

        Raises
        ------
        ValueError
            A value that is not PNG bytes, or a name that is not a non-empty str.
        CacheError
            If the file is locked, damaged or the write fails (nothing is stored then).
        """
        _check_table_kind(kind)
        _check_key(key)
        rows = []
        for ordinal, (name, png) in enumerate(images.items()):
            if not isinstance(name, str) or not name:
                raise ValueError(f"image names must be non-empty str, got {name!r}")
            if not isinstance(png, (bytes, bytearray)) or not bytes(png).startswith(PNG_SIGNATURE):
                raise ValueError(f"image {name!r} is not PNG bytes")
            rows.append([kind, key, ordinal, name, bytes(png)])
        meta_text = canonical_json(meta)
        with self._writing() as con:
            self._drop_entry(con, kind, key)
            if rows:
                con.executemany("INSERT INTO images VALUES (?, ?, ?, ?, ?)", rows)
            layer = meta.get("layer") if isinstance(meta, dict) else None
            self._write_index_row(con, {"kind": kind, "key": key, "meta": meta_text, "n_rows": len(rows),
                                        "layer": layer if isinstance(layer, str) else None,
                                        "n_bytes": sum(len(row[4]) for row in rows)})

    def get_images(self, kind: str, key: str) -> StoredImages | None:
        """Return the images stored as entry (kind, key), or None on a miss.

        Returns
        -------
        StoredImages or None
            Name -> PNG bytes in the stored order, and the entry's meta.
        """
        return self.get_images_many(kind, [key]).get(key)

    def get_images_many(self, kind: str, keys: list[str]) -> dict[str, StoredImages]:
        """Return the image entries of ``kind`` stored under any of ``keys``, in one read.

        Parameters
        ----------
        kind : str
        keys : list of str

        Returns
        -------
        dict of str to StoredImages
            Only the keys that are stored (e.g. the nodes of a graph that have a
            visualization already).
        """
        _check_table_kind(kind)
        keys = [_check_key(key) for key in dict.fromkeys(keys)]
        if not keys:
            return {}
        with self._reading() as con:
            if con is None:
                return {}
            entries = con.execute(
                "SELECT key, meta, n_rows FROM entries WHERE kind = ? AND table_name IS NULL "
                "AND list_contains(?, key)", [kind, keys]
            ).fetchall()
            rows = con.execute(
                "SELECT key, name, png FROM images WHERE kind = ? AND list_contains(?, key) ORDER BY key, ordinal",
                [kind, [key for key, _, _ in entries]],
            ).fetchall() if entries else []
        images: dict[str, dict[str, bytes]] = {key: {} for key, _, _ in entries}
        for key, name, png in rows:
            images[key][name] = bytes(png)
        found = {}
        for key, meta, n_rows in entries:
            if len(images[key]) != int(n_rows or 0):
                raise CacheCorruptError(f"cache entry {key} in {self.path} lost images: "
                                        f"{len(images[key])} of {n_rows} found")
            found[key] = StoredImages(images=images[key], meta=json.loads(meta))
        return found

    def has_images(self, kind: str, key: str) -> bool:
        """Return True if images are stored as entry (kind, key)."""
        _check_table_kind(kind)
        _check_key(key)
        with self._reading() as con:
            if con is None:
                return False
            entry = self._entry(con, kind, key)
            return entry is not None and entry[0] is None
