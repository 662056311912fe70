"""Two and more real processes on one cache file: waiting, sharing, timing out, being killed.

Steps are ordered with pipes (a child prints a line, the parent reads it; the parent
writes a line, the child reads it), never with sleeps; where the parent waits for a
condition it polls it in a bounded loop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from topoact.activations import ActivationSet
from topoact.cache import CacheLockedError, Store, cache_key

REPO = Path(__file__).resolve().parents[1]

# Shared by the parent and the child scripts: deterministic activation sets per (tag, i).
MAKE = '''
import numpy as np
from topoact.activations import ActivationSet
from topoact.cache import cache_key

def make(tag, i, n=2000, dim=64):
    rng = np.random.default_rng([ord(c) for c in tag] + [i])
    return ActivationSet(
        layer=f"{tag}.layer", vectors=rng.standard_normal((n, dim), dtype=np.float32),
        sample_index=np.arange(n) + 1000 * i, position=np.full(n, i, np.int32),
        label=rng.integers(0, 10, n), prediction=rng.integers(0, 10, n),
        confidence=rng.random(n, dtype=np.float32), meta={"tag": tag, "i": i})

def key(tag, i):
    return cache_key(test="processes", tag=tag, i=i)
'''
exec(MAKE)  # defines make() and key() here too


def same(a: ActivationSet, b: ActivationSet) -> bool:
    return (
        a.layer == b.layer and a.meta == b.meta
        and all(getattr(a, n).tobytes() == getattr(b, n).tobytes()
                for n in ("vectors", "sample_index", "position", "label", "prediction", "confidence"))
    )


def spawn(tmp_path: Path, name: str, body: str, *args: str) -> subprocess.Popen:
    """Start ``python <script>`` where the script is MAKE + body; stdin/stdout are pipes."""
    script = tmp_path / f"{name}.py"
    script.write_text(MAKE + body)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(script), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO),
    )


def expect_line(proc: subprocess.Popen, prefix: str) -> str:
    line = proc.stdout.readline()
    if not line.startswith(prefix):
        proc.kill()
        raise AssertionError(f"expected {prefix!r} from child, got {line!r}; stderr: {proc.stderr.read()}")
    return line.strip()


def finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"child failed ({proc.returncode}): {err}"
    return out


WORKER = '''
import sys, time
from topoact.cache import Store
path, tag, other, n, mode = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
store = Store(path, read_only=(mode == "reader"), lock_timeout=60)
print("ready", flush=True)
assert sys.stdin.readline().strip() == "go"
if mode == "writer":
    for i in range(n):
        store.put_activations(key(tag, i), make(tag, i))
        store.record_run(key(tag, i), "test", {"i": i}, {"tag": tag})
# read everything the other processes write, as it appears (bounded wait)
deadline = time.monotonic() + 90
wanted = {key(t, i): (t, i) for t in other.split(",") for i in range(n)}
seen = set()
while len(seen) < len(wanted) and time.monotonic() < deadline:
    listed = {e["key"] for e in store.list_entries("activations")}
    for k in sorted((listed & wanted.keys()) - seen):
        t, i = wanted[k]
        got = store.get_activations(k)
        want = make(t, i)
        assert got.vectors.tobytes() == want.vectors.tobytes() and got.meta == want.meta, (t, i)
        assert got.label.tobytes() == want.label.tobytes(), (t, i)
        seen.add(k)
print("done", len(seen), store.lock_waits, flush=True)
'''


def test_two_writers_and_a_reader_share_one_file(tmp_path):
    path = tmp_path / "cache.duckdb"
    n = 8
    procs = [
        spawn(tmp_path, "a", WORKER, str(path), "a", "b", str(n), "writer"),
        spawn(tmp_path, "b", WORKER, str(path), "b", "a", str(n), "writer"),
        spawn(tmp_path, "r", WORKER, str(path), "r", "a,b", str(n), "reader"),
    ]
    for proc in procs:
        expect_line(proc, "ready")
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outs = [finish(proc).split() for proc in procs]
    # every process saw every entry of the others, complete and correct
    assert [int(o[1]) for o in outs] == [n, n, 2 * n]
    # they really contended for the file (each open that met a lock waited and retried)
    assert sum(int(o[2]) for o in outs) > 0
    store = Store(path, read_only=True)
    assert len(store.list_entries("activations")) == 2 * n
    assert len(store.list_runs(kind="test")) == 2 * n
    for tag in "ab":
        for i in range(n):
            assert same(store.get_activations(key(tag, i)), make(tag, i))


HOLDER = '''
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=(sys.argv[2] == "ro"))
print("held", flush=True)
sys.stdin.readline()
con.close()
print("released", flush=True)
'''


def test_writer_waits_for_a_process_holding_the_file_then_succeeds(tmp_path):
    path = tmp_path / "cache.duckdb"
    Store(path).check()  # create the file
    holder = spawn(tmp_path, "holder", HOLDER, str(path), "rw")
    expect_line(holder, "held")
    store = Store(path, lock_timeout=60)
    errors: list[BaseException] = []

    def put():
        try:
            store.put_activations(key("w", 0), make("w", 0))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=put)
    thread.start()
    deadline = time.monotonic() + 30
    while store.lock_waits == 0 and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.01)  # polling a condition, not ordering by time
    assert store.lock_waits > 0, "the put never met the lock"
    holder.stdin.write("release\n")
    holder.stdin.flush()
    thread.join(60)
    finish(holder)
    assert not errors, errors
    assert same(Store(path).get_activations(key("w", 0)), make("w", 0))


@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_lock_timeout_names_the_holder(tmp_path, mode):
    path = tmp_path / "cache.duckdb"
    Store(path).put_activations(key("x", 0), make("x", 0))
    holder = spawn(tmp_path, "holder", HOLDER, str(path), mode)
    expect_line(holder, "held")
    try:
        writer = Store(path, lock_timeout=0.3)
        with pytest.raises(CacheLockedError) as info:
            writer.put_graph(key("x", 1), "{}", {})
        message = str(info.value)
        assert f"PID {holder.pid}" in message and "locked" in message and "lock_timeout" in message
        reader = Store(path, read_only=True, lock_timeout=0.3)
        if mode == "rw":
            # a writing process keeps even readers out (DuckDB 2.0 behaviour)
            with pytest.raises(CacheLockedError, match=f"PID {holder.pid}"):
                reader.get_activations(key("x", 0))
        else:
            # readers share the file with another reader, without waiting
            assert same(reader.get_activations(key("x", 0)), make("x", 0))
            assert reader.lock_waits == 0
    finally:
        holder.stdin.write("release\n")
        holder.stdin.flush()
        finish(holder)
    assert Store(path).get_graph(key("x", 1)) is None  # the timed-out write left nothing


KILLED_INSIDE = '''
import sys
from topoact.cache import Store

class PausingStore(Store):
    """Stops inside the transaction, just before the index row, until killed."""
    @staticmethod
    def _write_index_row(con, row):
        print("inside-transaction", flush=True)
        sys.stdin.readline()
        raise SystemExit("should have been killed")

PausingStore(sys.argv[1]).put_activations(key("big", 0), make("big", 0, n=50_000, dim=128))
'''


def table_names(path: Path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return sorted(t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall())
    finally:
        con.close()


def test_process_killed_inside_a_put_leaves_nothing(tmp_path):
    path = tmp_path / "cache.duckdb"
    store = Store(path)
    store.put_activations(key("keep", 0), make("keep", 0))
    before = table_names(path)
    child = spawn(tmp_path, "killed", KILLED_INSIDE, str(path))
    expect_line(child, "inside-transaction")  # 50k x 128 vectors already inserted, uncommitted
    os.kill(child.pid, signal.SIGKILL)
    child.wait(30)
    assert child.returncode == -signal.SIGKILL
    assert store.get_activations(key("big", 0)) is None
    assert not store.has_activations(key("big", 0))
    assert [e["key"] for e in store.list_entries()] == [key("keep", 0)]
    assert table_names(path) == before  # no orphan activation table
    assert same(store.get_activations(key("keep", 0)), make("keep", 0))
    # redone next time
    big = make("big", 0, n=50_000, dim=128)
    store.put_activations(key("big", 0), big)
    assert same(store.get_activations(key("big", 0)), big)


KILLED_WRITING = '''
import sys
from topoact.cache import Store
store = Store(sys.argv[1])
print("started", flush=True)
for i in range(int(sys.argv[2])):
    store.put_activations(key("big", i), make("big", i, n=40_000, dim=256))
    print("committed", i, flush=True)
'''


def test_process_killed_while_writing_to_disk_leaves_whole_entries_only(tmp_path):
    path = tmp_path / "cache.duckdb"
    wal = tmp_path / "cache.duckdb.wal"
    n = 4
    child = spawn(tmp_path, "killed", KILLED_WRITING, str(path), str(n))
    expect_line(child, "started")
    # wait until the commit of the first put is writing its 40 MB to the write-ahead log
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if wal.exists() and wal.stat().st_size > 1_000_000:
            break
        time.sleep(0.0005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(30)
    assert child.returncode == -signal.SIGKILL, "the child finished before it could be killed"
    store = Store(path)
    present = []
    for i in range(n):
        got = store.get_activations(key("big", i))
        if got is not None:  # a committed entry is whole and exact
            assert same(got, make("big", i, n=40_000, dim=256))
            present.append(i)
    assert present == list(range(len(present)))  # committed in order, nothing half-visible
    assert len(present) < n
    print("entries committed before the kill:", present)
    assert sorted(e["key"] for e in store.list_entries()) == sorted(key("big", i) for i in present)
    assert len([t for t in table_names(path) if t.startswith("act_")]) == len(present)
    missing = present[-1] + 1 if present else 0
    store.put_activations(key("big", missing), make("big", missing, n=40_000, dim=256))
    assert same(store.get_activations(key("big", missing)), make("big", missing, n=40_000, dim=256))
