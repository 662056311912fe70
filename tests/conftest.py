"""Shared test set-up: one torch thread (this 2-core VM stalls with two); one Ray cluster per session."""

import logging
import os
import select
import time
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # the Mapper engine tests do not need torch
    pass

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dashboard_cache(tmp_path_factory: pytest.TempPathFactory):
    """A fresh cache folder per dashboard test module (``$TOPOACT_CACHE_DIR`` while it runs)."""
    folder = tmp_path_factory.mktemp("dashboard-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOPOACT_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def zoo_cache(tmp_path_factory: pytest.TempPathFactory):
    """One zoo cache folder for the whole session (converted and trained weights are reused)."""
    folder = tmp_path_factory.getbasetemp() / "topoact-zoo-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOPOACT_CACHE_DIR", str(folder))
        yield folder


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _is_ray(pid: int) -> bool:
    """Is ``pid`` one of Ray's processes (raylet, GCS, workers, ...)?"""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    markers = (b"raylet", b"gcs_server", b"ray::", b"ray/_private/", b"ray/dashboard/", b"ray/autoscaler/",
               b"ray/core/")
    return any(marker in command for marker in markers)


def _wait_for_exit(pids: set[int], seconds: float) -> set[int]:
    """Wait (on pidfds, no polling loop) until ``pids`` have exited; return those still running."""
    deadline = time.monotonic() + seconds
    left = set()
    for pid in sorted(pids):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            if not poller.poll(max(0, int(1000 * (deadline - time.monotonic())))):
                left.add(pid)
        finally:
            os.close(fd)
    return left


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster for the whole session: 2 CPUs, a small object store, no dashboard.

    Started once (start-up takes seconds and memory on this VM) and shut down at the
    end; the teardown checks that none of the processes it started outlives it.
    """
    import ray

    before = _descendants(os.getpid())
    ray.init(
        address="local",  # a cluster of its own, whatever else runs on this machine
        num_cpus=2,
        object_store_memory=128 * 1024 * 1024,
        include_dashboard=False,
        logging_level=logging.WARNING,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}},
    )
    yield ray
    started = {pid for pid in _descendants(os.getpid()) - before if _is_ray(pid)}
    ray.shutdown()
    # Workers leave once their raylet is gone; they get a bounded time to do so.
    left = _wait_for_exit(started, seconds=30)
    assert not left, f"Ray left processes running after shutdown: {sorted(left)}"
