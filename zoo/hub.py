"""Is a download host reachable? Decided quickly, so nothing hangs on retries offline."""

from __future__ import annotations

import functools
import os
import socket
import threading

#: Setting any of these to 1/true/yes makes the zoo treat every hub as unreachable.
OFFLINE_ENV_VARS: tuple[str, ...] = ("TOPOACT_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")

HF_HOST = "huggingface.co"


def offline_forced() -> bool:
    """Return True when an environment variable asks for offline mode."""
    return any(os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"} for name in OFFLINE_ENV_VARS)


@functools.lru_cache(maxsize=32)
def _can_connect(host: str, port: int, timeout_s: float) -> bool:
    outcome: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    # getaddrinfo ignores socket timeouts; a daemon thread bounds the whole attempt.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout_s + 0.5)
    return bool(outcome and outcome[0])


def host_reachable(host: str = HF_HOST, port: int = 443, timeout_s: float = 2.0) -> bool:
    """Return True if a TCP connection to ``host`` succeeds (cached per process).

    Parameters
    ----------
    host : str
        Host name, e.g. ``"huggingface.co"`` or ``"download.pytorch.org"``.
    port : int
        TCP port.
    timeout_s : float
        Upper bound for name resolution plus connection.
    """
    if offline_forced():
        return False
    return _can_connect(host, port, timeout_s)
