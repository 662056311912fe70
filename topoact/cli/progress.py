"""The command line's one progress bar: tqdm on stderr, fed by ``progress(fraction, message)``.

Every long-running function of topoact reports through :class:`topoact.progress.Progress`;
a command opens one :class:`ProgressBar` and passes it as ``progress``.
"""

from __future__ import annotations

import sys

__all__ = ["ProgressBar"]


class ProgressBar:
    """A percentage bar with the current message as its description; a :class:`~topoact.progress.Progress`.

    Parameters
    ----------
    disable : bool, default=False
        No bar (``--quiet``); calls are then no-ops.

    Examples
    --------
    >>> with ProgressBar(disable=True) as progress:  # doctest: +SKIP
    ...     Mapper().fit(X, progress=progress)
    """

    def __init__(self, disable: bool = False):
        self.disable = bool(disable)
        self._bar = None

    def __enter__(self) -> ProgressBar:
        from tqdm import tqdm  # lazy: keeps `python -m topoact --help` fast

        self._tqdm = tqdm
        self._bar = tqdm(total=100, disable=self.disable or None, file=sys.stderr, unit="%", leave=False)
        return self

    def __call__(self, fraction: float, message: str) -> None:
        if self._bar is None or self.disable:
            return
        self._bar.set_description(message, refresh=False)
        self._bar.n = int(round(100 * min(max(float(fraction), 0.0), 1.0)))
        self._bar.refresh()

    def write(self, line: str) -> None:
        """Print ``line`` on stdout without tearing the bar."""
        if self._bar is None or self.disable:
            print(line)
        else:
            self._tqdm.write(line, file=sys.stdout)

    def __exit__(self, *exc) -> bool:
        if self._bar is not None:
            self._bar.close()
        return False
