"""Cache keys: content hashes that change with every input and with the code version."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import topoact
from topoact.cache import SCHEMA_VERSION, cache_key, default_cache_path
from topoact.cache import keys as keys_module

BASE = dict(
    model="timm:mobilenetv2_100",
    weights_sha256="ab" * 32,
    dataset="digits",
    data_sha256="cd" * 32,
    layer="blocks.3",
    sampling={"kind": "random_position", "per_image": 4},
    seed=0,
)


def test_key_is_sha256_hex_and_deterministic():
    key = cache_key(**BASE)
    assert len(key) == 64 and all(c in "0123456789abcdef" for c in key)
    assert cache_key(**BASE) == key


def test_key_ignores_argument_and_dict_order():
    reordered = dict(reversed(list(BASE.items())))
    reordered["sampling"] = {"per_image": 4, "kind": "random_position"}
    assert cache_key(**reordered) == cache_key(**BASE)


def test_tuple_and_list_are_the_same_value():
    assert cache_key(shape=(1, 2)) == cache_key(shape=[1, 2])


@pytest.mark.parametrize(
    "part, value",
    [
        ("model", "timm:resnet18"),
        ("weights_sha256", "ef" * 32),
        ("dataset", "mnist"),
        ("data_sha256", "00" * 32),
        ("layer", "blocks.4"),
        ("sampling", {"kind": "random_position", "per_image": 5}),
        ("seed", 1),
    ],
)
def test_changing_any_part_changes_the_key(part, value):
    assert cache_key(**{**BASE, part: value}) != cache_key(**BASE)


def test_adding_or_removing_a_part_changes_the_key():
    assert cache_key(**BASE, batch_size=32) != cache_key(**BASE)
    smaller = dict(BASE)
    del smaller["seed"]
    assert cache_key(**smaller) != cache_key(**BASE)


def test_int_and_float_and_str_are_distinct():
    assert len({cache_key(seed=1), cache_key(seed=1.0), cache_key(seed="1"), cache_key(seed=True)}) == 4


def test_topoact_version_and_schema_version_are_part_of_the_key(monkeypatch):
    before = cache_key(**BASE)
    monkeypatch.setattr(topoact, "__version__", "99.0.0")
    after_version = cache_key(**BASE)
    assert after_version != before
    monkeypatch.setattr(keys_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    assert cache_key(**BASE) not in (before, after_version)


@pytest.mark.parametrize(
    "value, words",
    [
        (np.int64(3), ["seed", "int64", ".item()"]),
        (np.zeros(3), ["seed", "ndarray"]),
        (Path("/tmp"), ["seed", "PosixPath"]),
        ({"a": {1: "x"}}, ["seed.a", "key 1", "must be str"]),
        ([1, float("nan")], ["seed[1]", "finite"]),
        (math.inf, ["seed", "finite"]),
        ({"a": {1, 2}}, ["seed.a", "set"]),
    ],
)
def test_non_json_values_are_rejected_naming_the_part(value, words):
    with pytest.raises(TypeError) as info:
        cache_key(seed=value)
    for word in words:
        assert word in str(info.value)


def test_no_parts_is_an_error():
    with pytest.raises(ValueError, match="at least one part"):
        cache_key()


def test_default_cache_path_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TOPOACT_CACHE_DIR", str(tmp_path))
    assert default_cache_path() == tmp_path / "topoact.duckdb"
    monkeypatch.delenv("TOPOACT_CACHE_DIR")
    repo = Path(topoact.__file__).resolve().parents[1]
    assert default_cache_path() == repo / "cache" / "topoact.duckdb"
