"""Real browser: `dashboard/serve.py` (what `make run` starts) on a free localhost port, driven by Playwright + Debian Chromium.

Runs the default exploration, checks the graph canvas holds the expected nodes, clicks a
node on the canvas and checks the inspector shows its members; saves a screenshot.
Chromium comes from `make chromium` (apt-get), a prerequisite of `make test`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
GRAPH_IFRAME = "iframe[title='dashboard.components.mapper_graph']"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            try:  # wait on the process itself between health probes (returns early if it dies)
                process.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                pass
    raise TimeoutError("streamlit did not become healthy")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    cache = tmp_path_factory.mktemp("browser-cache")
    port = _free_port()
    env = dict(os.environ, TOPOACT_CACHE_DIR=str(cache), OMP_NUM_THREADS="1")
    log = open(cache / "streamlit.log", "w")
    process = subprocess.Popen(
        # the launcher `make run` uses: it warms the default view before the server starts
        [sys.executable, "-m", "dashboard.serve",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_default_exploration_in_chromium(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium missing: run `make chromium`"
    out_dir = Path(os.environ.get("TOPOACT_TEST_OUTPUT", tmp_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        external = []
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith((server, "data:", "blob:", "about:")) else None)
        page.goto(server)
        page.wait_for_selector(GRAPH_IFRAME, timeout=180_000)
        frame = page.frame_locator(GRAPH_IFRAME)
        frame.locator("#graph[data-ready='1'] canvas").wait_for(timeout=60_000)
        summary = page.get_by_test_id("graph-summary").inner_text()
        expected_nodes = int(summary.split(" nodes")[0].replace(",", "").strip())
        assert expected_nodes > 10
        graph_frame = next(f for f in page.frames if "mapper_graph" in f.url)
        counts = graph_frame.evaluate(
            "() => ({ dom: Number(document.getElementById('graph').dataset.nodeCount),"
            " drawn: window.topoactNetwork.body.data.nodes.length,"
            " canvas: document.querySelector('#graph canvas').width })"
        )
        assert counts["dom"] == counts["drawn"] == expected_nodes
        assert counts["canvas"] > 100
        # vis-network came inline from the component folder: nothing loaded from elsewhere
        assert window_has_vis(graph_frame)

        # Click the largest node on the canvas itself; ask vis which node is under the pointer.
        target = graph_frame.evaluate(
            """() => { const net = window.topoactNetwork; const data = net.body.data.nodes;
                 const ids = data.getIds().sort((a, b) => data.get(b).size - data.get(a).size);
                 for (const id of ids) { const p = net.canvasToDOM(net.getPositions([id])[id]);
                   const hit = net.getNodeAt(p); if (hit === id) return {id: id, x: p.x, y: p.y}; }
                 return null; }"""
        )
        assert target is not None
        box = page.locator(GRAPH_IFRAME).bounding_box()
        page.mouse.click(box["x"] + target["x"], box["y"] + target["y"])
        title = page.get_by_test_id("inspector-title")
        title.wait_for(timeout=60_000)
        page.wait_for_function(
            "id => { const t = document.querySelector(\"[data-testid='inspector-title']\"); return t && t.innerText.includes(id); }",
            arg=target["id"], timeout=60_000,
        )
        size = int(page.get_by_test_id("inspector-size").inner_text())
        tooltip_size = graph_frame.evaluate(
            "id => window.topoactNetwork.body.data.nodes.get(id).title.innerText", target["id"]
        )
        assert f"size: {size}" in tooltip_size
        images = page.locator(".st-key-member_grid img")
        # the grid's images arrive one by one: wait until all of them are there
        expect(images).to_have_count(min(size, 24), timeout=30_000)
        page.get_by_text("Download members (CSV)").wait_for()
        page.evaluate("() => { for (const el of document.querySelectorAll('[data-testid=stMain], section')) el.scrollTo(0, 0); }")
        page.screenshot(path=str(out_dir / "dashboard.png"))

        # Recolour: the same vis-network keeps positions; only the changed nodes are updated.
        before = graph_frame.evaluate(
            """() => { const net = window.topoactNetwork; window.topoactBeforeRecolour = net;
                 const d = net.body.data.nodes;
                 return {positions: net.getPositions(),
                         colours: Object.fromEntries(d.getIds().map(id => [id, d.get(id).color.background]))}; }"""
        )
        page.get_by_role("combobox", name="Colour nodes by").click()
        page.get_by_role("option", name="purity", exact=True).click()
        graph_frame.wait_for_function(
            """colours => { const d = window.topoactNetwork.body.data.nodes;
                 return d.getIds().some(id => d.get(id).color.background !== colours[id]); }""",
            arg=before["colours"], timeout=60_000,
        )
        after = graph_frame.evaluate(
            """() => { const net = window.topoactNetwork; const d = net.body.data.nodes;
                 return {same: net === window.topoactBeforeRecolour, positions: net.getPositions(),
                         colours: Object.fromEntries(d.getIds().map(id => [id, d.get(id).color.background])),
                         update: document.getElementById('graph').dataset.lastUpdate,
                         tooltip: d.get(d.getIds()[0]).title.innerText}; }"""
        )
        assert after["same"] and after["positions"] == before["positions"]
        recoloured = sum(after["colours"][k] != before["colours"][k] for k in before["colours"])
        assert recoloured > 0
        assert after["update"] == f"{recoloured} nodes, 0 edges"
        assert "purity:" in after["tooltip"]

        # Hidden tabs are built when opened (st.tabs on_change="rerun"): the projection chart.
        charts = page.locator("[data-testid='stVegaLiteChart']").count()  # the inspector's class bars
        page.get_by_role("tab", name="Linked projection").click()
        page.wait_for_function("n => document.querySelectorAll(\"[data-testid='stVegaLiteChart']\").length > n",
                               arg=charts, timeout=60_000)
        page.get_by_role("tab", name="Export").click()
        page.get_by_text("Graph as JSON").wait_for(timeout=60_000)
        assert not external, external
        browser.close()
    assert (out_dir / "dashboard.png").stat().st_size > 10_000


def window_has_vis(graph_frame) -> bool:
    return graph_frame.evaluate("() => typeof window.vis !== 'undefined' && typeof window.vis.Network === 'function'")


def test_compare_page_click_outlines_members_in_other_panels(server, tmp_path):
    """A click on a node of the first panel outlines, in the other panels, the nodes holding its members."""
    from playwright.sync_api import sync_playwright

    out_dir = Path(os.environ.get("TOPOACT_TEST_OUTPUT", tmp_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        page.wait_for_selector(GRAPH_IFRAME, timeout=180_000)
        page.get_by_role("link", name="Compare").click()
        page.wait_for_function(f"document.querySelectorAll(\"{GRAPH_IFRAME}\").length === 3", timeout=300_000)
        for index in range(3):
            page.frame_locator(GRAPH_IFRAME).nth(index).locator("#graph[data-ready='1'] canvas").wait_for(timeout=120_000)
        frames = [f for f in page.frames if "mapper_graph" in f.url]
        assert len(frames) == 3
        first = frames[0]
        target = first.evaluate(
            """() => { const net = window.topoactNetwork; const data = net.body.data.nodes;
                 const ids = data.getIds().sort((a, b) => data.get(b).size - data.get(a).size);
                 for (const id of ids) { const p = net.canvasToDOM(net.getPositions([id])[id]);
                   if (net.getNodeAt(p) === id) return {id: id, x: p.x, y: p.y}; }
                 return null; }"""
        )
        assert target is not None
        box = page.locator(GRAPH_IFRAME).first.bounding_box()
        page.mouse.click(box["x"] + target["x"], box["y"] + target["y"])
        page.wait_for_function(
            "id => { const t = document.querySelector(\"[data-testid='compare-selection']\"); return t && t.innerText.includes(id); }",
            arg=target["id"], timeout=120_000,
        )
        for other in frames[1:]:
            other.wait_for_function(
                "() => { const d = window.topoactNetwork.body.data.nodes;"
                " return d.get().some(n => n.borderWidth > 1) && d.get().some(n => n.faded); }",
                timeout=60_000,
            )
            outlined = other.evaluate(
                "() => window.topoactNetwork.body.data.nodes.get().filter(n => !n.faded)"
                ".map(n => ({w: n.borderWidth, title: n.title.innerText}))"
            )
            assert outlined and all(n["w"] > 1 and "of the selected members" in n["title"] for n in outlined)
        page.screenshot(path=str(out_dir / "compare.png"))
        browser.close()
    assert (out_dir / "compare.png").stat().st_size > 10_000
