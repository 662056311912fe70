"""One progress protocol for long work: ``progress(fraction, message)``.

Every long-running function in topoact takes an optional ``progress`` callable and
calls it with the share of the work done (a float in [0, 1]) and a short message
saying what is running. The command line turns it into one tqdm bar, the dashboard
into ``st.progress``. Work that counts steps (batches, optimisation steps, cover
elements) reports through :func:`counting`, which maps ``done`` of ``total`` into a
slice of the caller's range.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Progress", "no_progress", "counting", "scaled"]


class Progress(Protocol):
    """Called as work advances: ``fraction`` in [0, 1] of the work done, ``message`` what runs."""

    def __call__(self, fraction: float, message: str) -> None: ...


def no_progress(fraction: float, message: str) -> None:
    """A :class:`Progress` that reports nowhere."""


def scaled(progress: Progress | None, start: float, stop: float) -> Progress:
    """Map a sub-task's [0, 1] into ``[start, stop]`` of ``progress`` (a no-op when None)."""
    if progress is None:
        return no_progress
    span = stop - start

    def report(fraction: float, message: str) -> None:
        progress(start + span * min(max(float(fraction), 0.0), 1.0), message)

    return report


def counting(progress: Progress | None, message: str, start: float = 0.0, stop: float = 1.0):
    """A ``(done, total)`` callback that reports ``message`` at ``done / total`` of ``[start, stop]``."""
    report = scaled(progress, start, stop)

    def step(done: int, total: int) -> None:
        report(done / total if total else 1.0, message)

    return step
