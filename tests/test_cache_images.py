"""Store.put_images / get_images: PNG bytes in DuckDB, atomic replacement, clearing, old files."""

from __future__ import annotations

import io

import duckdb
import numpy as np
import pytest
from PIL import Image

from topoact.cache import SCHEMA_VERSION, CacheCorruptError, Store, StoredImages, cache_key


def png(value: int, side: int = 6) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((side, side), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


KEY = cache_key(kind="featvis", node="a")
OTHER = cache_key(kind="featvis", node="b")


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "cache.duckdb")


def test_images_round_trip_in_order_with_meta(store):
    images = {"visualization": png(10), "7/0": png(20), "3/0": png(30)}
    assert store.get_images("featvis", KEY) is None and not store.has_images("featvis", KEY)
    store.put_images("featvis", KEY, images, {"layer": "block3", "cosine": 0.91})
    got = Store(store.path, read_only=True).get_images("featvis", KEY)  # a fresh handle on the file
    assert isinstance(got, StoredImages)
    assert list(got.images) == ["visualization", "7/0", "3/0"]
    assert got.images == images and got.meta == {"layer": "block3", "cosine": 0.91}
    assert store.has_images("featvis", KEY)
    (entry,) = store.list_entries("featvis")
    assert entry["layer"] == "block3" and entry["rows"] == 3 and entry["bytes"] == sum(map(len, images.values()))
    # the bytes live in a BLOB column of the images table
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        rows = con.execute("SELECT name, png FROM images WHERE key = ? ORDER BY ordinal", [KEY]).fetchall()
    finally:
        con.close()
    assert [(name, bytes(blob)) for name, blob in rows] == list(images.items())


def test_put_replaces_and_kinds_are_separate(store):
    store.put_images("featvis", KEY, {"a": png(1), "b": png(2)}, {"v": 1})
    store.put_images("featvis", KEY, {"c": png(3)}, {"v": 2})
    store.put_images("featvis_exemplars", KEY, {"x": png(4)}, {"v": 3})
    assert store.get_images("featvis", KEY) == StoredImages({"c": png(3)}, {"v": 2})
    assert store.get_images("featvis_exemplars", KEY).images == {"x": png(4)}
    assert len(store.list_entries("featvis")) == 1


def test_empty_entry_is_a_hit(store):
    store.put_images("featvis_exemplars", KEY, {}, {"classes": []})
    assert store.get_images("featvis_exemplars", KEY) == StoredImages({}, {"classes": []})


def test_many_keys_in_one_read(store):
    store.put_images("featvis", KEY, {"v": png(5)}, {"n": 1})
    store.put_images("featvis", OTHER, {"v": png(6)}, {"n": 2})
    found = store.get_images_many("featvis", [KEY, OTHER, cache_key(kind="featvis", node="missing")])
    assert set(found) == {KEY, OTHER}
    assert found[OTHER].images["v"] == png(6) and found[KEY].meta == {"n": 1}
    assert store.get_images_many("featvis", []) == {}


def test_clear_by_kind_removes_the_image_rows(store):
    store.put_images("featvis", KEY, {"v": png(5)}, {})
    store.put_images("featvis_exemplars", KEY, {"x": png(6)}, {})
    assert store.clear("featvis") == 1
    assert store.get_images("featvis", KEY) is None
    assert store.get_images("featvis_exemplars", KEY) is not None
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM images WHERE kind = 'featvis'").fetchall() == [(0,)]
    finally:
        con.close()


def test_bad_images_are_refused_and_nothing_is_stored(store):
    store.put_images("featvis", KEY, {"v": png(5)}, {"n": 1})
    with pytest.raises(ValueError, match="not PNG bytes"):
        store.put_images("featvis", KEY, {"v": b"GIF89a..."}, {"n": 2})
    with pytest.raises(ValueError, match="names must be non-empty str"):
        store.put_images("featvis", KEY, {"": png(1)}, {})
    with pytest.raises(ValueError, match="reserved"):
        store.put_images("graph", KEY, {"v": png(1)}, {})
    with pytest.raises(TypeError):
        store.put_images("featvis", KEY, {"v": png(1)}, {"bad": np.float32(1.0)})
    assert store.get_images("featvis", KEY).meta == {"n": 1}  # the earlier entry is untouched


def test_a_table_under_the_same_kind_is_not_read_as_images(store):
    import pyarrow as pa

    store.put_table("featvis", KEY, pa.table({"x": [1, 2]}), {})
    assert store.get_images("featvis", KEY) is None and not store.has_images("featvis", KEY)
    store.put_images("featvis", OTHER, {"v": png(1)}, {})
    assert store.get_table("featvis", OTHER) is None


def test_a_schema_2_file_gains_the_images_table(tmp_path):
    path = tmp_path / "cache.duckdb"
    Store(path).check()  # an empty cache
    con = duckdb.connect(str(path))  # turn it into what topoact before the images table wrote
    con.execute("DROP TABLE images")
    con.execute("UPDATE topoact_meta SET value = '2' WHERE name = 'schema_version'")
    con.close()
    Store(path).put_images("featvis", KEY, {"v": png(3)}, {})  # upgraded in place, then written
    assert Store(path).get_images("featvis", KEY).images == {"v": png(3)}


def test_an_unknown_older_schema_is_refused_with_the_rebuild_hint_and_rebuilds(tmp_path):
    path = tmp_path / "cache.duckdb"
    Store(path).put_images("featvis", KEY, {"v": png(1)}, {})
    con = duckdb.connect(str(path))  # a layout this code cannot upgrade
    con.execute("DROP TABLE images")
    con.execute("UPDATE topoact_meta SET value = '1' WHERE name = 'schema_version'")
    con.close()
    with pytest.raises(CacheCorruptError) as info:
        Store(path).get_images("featvis", KEY)
    message = str(info.value)
    assert "schema version 1" in message and f"reads version {SCHEMA_VERSION}" in message
    assert "python -m topoact cache clear --all" in message
    with pytest.raises(CacheCorruptError):
        Store(path).put_images("featvis", KEY, {"v": png(1)}, {})  # never written into
    moved = Store(path).rebuild()
    assert moved is not None and moved.exists()
    Store(path).put_images("featvis", KEY, {"v": png(2)}, {})
    assert Store(path).get_images("featvis", KEY).images == {"v": png(2)}
