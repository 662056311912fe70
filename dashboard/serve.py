"""``make run``: warm the heavy imports and the default view, then start Streamlit.

A fresh ``streamlit run`` imports torch, scikit-learn and the zoo, and loads the
default model, on the first page load (about 10 s on a 2-core machine). This launcher
does that work before the server starts, in the same process, so the first browser
session finds everything in memory (``st.cache_resource`` is process-wide).

Usage, from the checkout's root: ``python -m dashboard.serve [streamlit run options]``
(as a module, so that this checkout's ``topoact`` and ``dashboard`` are imported; the
Streamlit script then runs in this process and finds them loaded).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "app.py"


def main(argv: list[str]) -> None:
    start = time.perf_counter()
    print("topoact: warming up (torch, the zoo, the default model and graph) …", flush=True)
    import logging

    # Outside a script run st.cache_data warns that no runtime exists yet; the caches
    # are process-wide and the server's runs share them.
    quiet = logging.getLogger("streamlit.runtime.caching.cache_data_api")
    no_runtime = logging.Filter("no-such-logger")  # drops every record it sees
    quiet.addFilter(no_runtime)
    from dashboard import services

    try:
        services.warm_up(lambda message: print(f"topoact: {message}", flush=True))
    except Exception as exc:  # the page shows the same problem with context; still serve
        print(f"topoact: warm-up failed ({type(exc).__name__}: {exc}); starting anyway", flush=True)
    quiet.removeFilter(no_runtime)
    print(f"topoact: warm in {time.perf_counter() - start:.1f} s", flush=True)

    from streamlit.web import cli

    # No file watcher: after every script run it walks all of sys.modules (torch and
    # scikit-learn are thousands) through os.path.realpath, ~1.7 s of CPU per page load
    # here. Pass --server.fileWatcherType auto to edit the pages with live reload.
    if not any(arg.startswith("--server.fileWatcherType") for arg in argv):
        argv = ["--server.fileWatcherType", "none", *argv]
    sys.argv = ["streamlit", "run", str(APP), *argv]
    sys.exit(cli.main())


if __name__ == "__main__":
    main(sys.argv[1:])
