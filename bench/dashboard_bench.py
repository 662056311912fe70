"""Dashboard timing goals (a benchmark, not a test), measured in Debian Chromium.

1. First graph on cached activations: a fresh server started as `make run` does
   (`dashboard/serve.py`, which imports torch and builds the default view before it
   serves) whose DuckDB cache already holds the default activations (digits_cnn / digits
   / block3) but no graph; time from `page.goto` to the graph drawn in the canvas (goal
   < 5 s). The launcher's start-up (process start to a healthy server) is reported on its
   own line. Also a second browser session on the same server.
2. Parameter change on ~20k cached points: sampling `all_positions` (1,797 digits x 16
   positions = 28,752 vectors); time from changing the interval count to the new
   graph drawn (goal < 2 s). Then two recolours of that graph (no goal; the graph
   component updates only the changed nodes).

Run: `.venv/bin/python -m bench.dashboard_bench` (prints a small table).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
IFRAME = "iframe[title='dashboard.components.mapper_graph']"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prepare_cache(folder: Path) -> None:
    os.environ["TOPOACT_CACHE_DIR"] = str(folder)
    import torch

    torch.set_num_threads(1)
    import zoo
    from topoact.cache import Store
    from topoact.workflow import ExtractionSpec, get_or_extract

    model, data = zoo.load_model("digits_cnn"), zoo.load_dataset("digits")
    store = Store()
    get_or_extract(ExtractionSpec(model, data, ["block3"], sampling="random_position"), store=store)
    get_or_extract(ExtractionSpec(model, data, ["block3"], sampling="all_positions"), store=store)


def _graph_key(frame) -> str:
    return frame.evaluate("() => document.getElementById('graph').dataset.structureKey || ''")


def main() -> None:
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="topoact-dash-bench-"))
    _prepare_cache(folder)
    port = _port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, TOPOACT_CACHE_DIR=str(folder), OMP_NUM_THREADS="1")
    server = subprocess.Popen(
        [sys.executable, "-m", "dashboard.serve", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    results = []
    started = time.perf_counter()
    try:
        for _ in range(2400):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        results.append(("server start-up incl. warm-up (`make run` prints the URL when ready)",
                        time.perf_counter() - started))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for label in ("first graph, cached activations, cold server (goal < 5 s)",
                          "first graph, new session, graph cached (goal < 5 s)"):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                start = time.perf_counter()
                page.goto(url)
                page.frame_locator(IFRAME).locator("#graph[data-ready='1'] canvas").wait_for(timeout=120_000)
                results.append((label, time.perf_counter() - start))
                page.close()

            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url)
            page.frame_locator(IFRAME).locator("#graph[data-ready='1'] canvas").wait_for(timeout=120_000)
            page.get_by_role("combobox", name="Sampling").click()
            page.get_by_role("option", name="all_positions").click()
            page.wait_for_function("() => document.body.innerText.includes('28,752 vectors')", timeout=180_000)
            frame = next(f for f in page.frames if "mapper_graph" in f.url)
            page.frame_locator(IFRAME).locator("#graph[data-ready='1']").wait_for()
            for step in range(3):
                before = _graph_key(frame)
                thumb = page.get_by_role("slider", name="Intervals")
                thumb.focus()
                start = time.perf_counter()
                thumb.press("ArrowRight")
                frame.wait_for_function(f"() => document.getElementById('graph').dataset.structureKey !== '{before}'",
                                        timeout=60_000)
                results.append((f"parameter change on 28,752 cached points, redrawn #{step + 1} (goal < 2 s)",
                                time.perf_counter() - start))
            for option in ("purity", "majority label"):
                colours = frame.evaluate(
                    "() => { const d = window.topoactNetwork.body.data.nodes;"
                    " return Object.fromEntries(d.getIds().map(id => [id, d.get(id).color.background])); }")
                page.get_by_role("combobox", name="Colour nodes by").click()
                start = time.perf_counter()
                page.get_by_role("option", name=option, exact=True).click()
                frame.wait_for_function(
                    "colours => { const d = window.topoactNetwork.body.data.nodes;"
                    " return d.getIds().some(id => d.get(id).color.background !== colours[id]); }",
                    arg=colours, timeout=60_000)
                nodes = frame.evaluate("() => window.topoactNetwork.body.data.nodes.length")
                results.append((f"recolour by {option} on that graph ({nodes:,} nodes), redrawn", time.perf_counter() - start))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    print("| measurement | seconds |\n|---|---|")
    for label, seconds in results:
        print(f"| {label} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
