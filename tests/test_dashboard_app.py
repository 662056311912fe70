"""AppTest runs of every dashboard page on the offline default (digits_cnn on digits).

A real DuckDB cache in a temporary folder; the digits CNN trains there on first use.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from topoact.viz import CATEGORICAL_PALETTE

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
TIMEOUT = 240
pytestmark = pytest.mark.usefixtures("dashboard_cache")


def _app():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _graph_args(at, index: int = 0) -> dict:
    components = at.get("component_instance")
    assert components, "no graph component on the page"
    assert components[index].proto.component_name == "dashboard.components.mapper_graph"
    return json.loads(components[index].proto.json_args)


def _widget(elements, key):
    return next(e for e in elements if e.key == key)


def test_explore_opens_on_offline_default_with_graph():
    at = _app()
    assert _widget(at.selectbox, "model").value == "digits_cnn"
    assert _widget(at.selectbox, "dataset").value == "digits"
    assert _widget(at.selectbox, "layer").value == "block3"
    assert _widget(at.selectbox, "sampling").value == "random_position"
    assert _widget(at.number_input, "sample_size").value == 1797
    for key in ("lens", "metric", "colour_by", "search_class"):
        _widget(at.selectbox, key)
    for key in ("n_intervals", "overlap", "min_samples", "jaccard_threshold"):
        _widget(at.slider, key)
    args = _graph_args(at)
    assert len(args["nodes"]) > 10
    summary = next(m.value for m in at.markdown if "graph-summary" in m.value)
    assert f"<b>{len(args['nodes'])}</b> nodes" in summary
    # positions are precomputed, physics is off; tooltips carry size, classes, purity, lens
    assert args["options"]["physics"]["enabled"] is False
    node = args["nodes"][0]
    assert {"x", "y", "size", "color", "title"} <= set(node)
    assert "size:" in node["title"] and "purity:" in node["title"] and "mean lens:" in node["title"]
    assert not at.error
    # the tabs below the graph: node table with one row per node
    table = at.dataframe[0].value
    assert len(table) == len(args["nodes"])


def test_parameter_change_redraws_graph_and_recolour_keeps_layout():
    at = _app()
    before = _graph_args(at)
    _widget(at.selectbox, "colour_by").set_value("purity").run()
    recoloured = _graph_args(at)
    assert recoloured["structure_key"] == before["structure_key"]
    assert [(n["x"], n["y"]) for n in recoloured["nodes"]] == [(n["x"], n["y"]) for n in before["nodes"]]
    assert [n["color"] for n in recoloured["nodes"]] != [n["color"] for n in before["nodes"]]
    _widget(at.slider, "n_intervals").set_value(12).run()
    assert not at.exception
    after = _graph_args(at)
    assert after["structure_key"] != before["structure_key"]
    assert {n["id"] for n in after["nodes"]} != {n["id"] for n in before["nodes"]}


def test_jaccard_threshold_and_class_search():
    at = _app()
    args = _graph_args(at)
    assert not any(e["hidden"] for e in args["edges"])
    _widget(at.slider, "jaccard_threshold").set_value(0.5).run()
    hidden = [e for e in _graph_args(at)["edges"] if e["hidden"]]
    assert hidden and len(hidden) < len(args["edges"]) + 1
    _widget(at.selectbox, "search_class").set_value("7").run()
    nodes = _graph_args(at)["nodes"]
    faded = [n for n in nodes if n["faded"]]
    assert 0 < len(faded) < len(nodes)
    assert all("7:" not in n["title"] for n in faded)


def test_selecting_a_node_shows_inspector_and_neighbour_buttons_move_selection():
    at = _app()
    assert any("Click a node" in i.value for i in at.info)
    args = _graph_args(at)
    edges = args["edges"]
    node = edges[0]["from"]
    at.session_state["selected_node"] = node
    at.run()
    title = next(m.value for m in at.markdown if "inspector-title" in m.value)
    assert node in title
    size = int(title.split("inspector-size'>")[1].split("<")[0])
    assert size == next(int(n["title"].split("size: ")[1].split("<")[0]) for n in args["nodes"] if n["id"] == node)
    assert at.get("download_button"), "no CSV download"
    neighbour_buttons = [b for b in at.button if b.key and b.key.startswith("neighbour_")]
    assert neighbour_buttons
    target = neighbour_buttons[0].key.removeprefix("neighbour_")
    neighbour_buttons[0].click().run()
    assert at.session_state["selected_node"] == target
    assert _graph_args(at)["selected"] == target


def test_bad_model_id_shows_message_not_traceback():
    at = _app()
    _widget(at.text_input, "custom_model").set_value("no_such_model_xyz").run()
    assert not at.exception
    assert any("Unknown model" in e.value and "no_such_model_xyz" in e.value for e in at.error)
    assert not at.get("component_instance")


def test_parameters_giving_an_empty_graph_show_message():
    at = _app()
    _widget(at.selectbox, "layer").set_value("pool").run()
    at.radio(key="eps_mode").set_value("manual").run()
    _widget(at.number_input, "eps_value").set_value(1e-6).run()
    assert not at.exception
    assert any("empty graph" in w.value for w in at.warning)
    assert not at.get("component_instance")


def test_unreadable_upload_is_refused():
    from dashboard.services import save_uploaded_text

    path, problem = save_uploaded_text("data.txt", b"\xff\xfe\x00\x81garbage")
    assert path is None and "UTF-8" in problem
    path, problem = save_uploaded_text("data.exe", b"hello")
    assert path is None and "only" in problem
    path, problem = save_uploaded_text("big.txt", b"a\n" * (3 * 1024 * 1024), max_mb=5)
    assert path is None and "larger" in problem
    path, problem = save_uploaded_text("ok.txt", "first sentence\nsecond <b>one</b>\n".encode())
    assert problem is None and Path(path).is_file()


def test_anomalies_page_ranks_the_explored_graph(dashboard_cache):
    at = _app()
    _widget(at.selectbox, "layer").set_value("block2").run()  # explore another layer first
    assert not at.exception, [e.message for e in at.exception]
    at.switch_page("views/anomalies.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.header[0].value == "Anomalies"
    assert any("block2" in m.value for m in at.markdown)  # follows the explored layer
    table = at.dataframe[0].value
    assert len(table) == 50 and table["rank"].tolist() == list(range(1, 51))
    assert table["combined"].is_monotonic_decreasing
    assert table["input"].str.startswith("data:image/png;base64,").all()
    # the page's ranking is the library's on the same activations and graph
    from dashboard import services
    from topoact.anomaly import anomaly_report

    choice, mapper_choice = at.session_state["explored"]
    key, acts = services.get_activations(choice)
    # Explore's default eps rule is the data's scale; scores use the finer anomaly rule, as the CLI does
    from topoact.anomaly import ANOMALY_EPS

    scoring = services.scoring_mapper(mapper_choice)
    assert mapper_choice.eps == "hausdorff" and scoring.eps == ANOMALY_EPS
    assert any("Scored on the graph with eps rule" in c.value for c in at.caption)
    direct = anomaly_report(acts, services.get_graph(key, acts, scoring).graph)
    dataset = services.load_dataset(choice.dataset)
    assert table["id"].tolist() == [dataset.ids[i] for i in direct.samples.index[:50]]
    nodes = at.dataframe[1].value
    assert nodes["mean_combined"].is_monotonic_decreasing
    assert any("component 1 has" in t.value for t in at.text)
    from topoact.cache import Store

    kinds = {e["kind"] for e in Store(Path(dashboard_cache) / "topoact.duckdb").list_entries()}
    assert "anomaly_scores" in kinds  # scores cached with the graph they came from
    # the stability sweep adds a share of 9 settings per sample
    _widget(at.toggle, "anomaly_sweep").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    table = at.dataframe[0].value
    assert ((table["stability"] * 9).round(6) % 1 == 0).all() and table["stability"].max() > 0.5
    # back on Explore the layer chosen before is still there, and nodes colour by anomaly score
    at.switch_page("views/explore.py").run()
    assert _widget(at.selectbox, "layer").value == "block2"
    _widget(at.selectbox, "colour_by").set_value("anomaly").run()
    assert not at.exception, [e.message for e in at.exception]
    nodes = _graph_args(at)["nodes"]
    assert all("anomaly score" in n["title"] for n in nodes)  # each node's members' mean score
    assert len({n["color"]["background"] if isinstance(n["color"], dict) else n["color"] for n in nodes}) > 3


def test_compare_page_links_panels_metrics_and_member_flow():
    at = _app()
    at.switch_page("views/compare.py").run()
    assert not at.exception, [e.message for e in at.exception]
    components = at.get("component_instance")
    assert len(components) == 3  # digits_cnn block3, digits_mlp hidden2, untrained digits_cnn block3
    metrics = at.dataframe[0].value
    assert list(metrics["layer"]) == ["block3", "hidden2", "block3"]
    assert list(metrics["weights"]) == ["pretrained", "pretrained", "untrained"]
    assert (metrics["nodes"] > 0).all() and metrics["label_ami"].iloc[0] > metrics["label_ami"].iloc[2]
    # one colour per class in every panel
    colours = [{n["id"]: n["color"]["background"] for n in _graph_args(at, k)["nodes"]} for k in range(3)]
    assert set().union(*map(set, (c.values() for c in colours))) <= set(CATEGORICAL_PALETTE[:10])

    # selecting a node of panel 1 outlines where its members went in panels 2 and 3
    node = _graph_args(at, 0)["nodes"][0]["id"]
    at.session_state["compare_selected"] = {"panel": 0, "node": node}
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert _graph_args(at, 0)["selected"] == node
    from topoact.compare import member_shares

    for k in (1, 2):
        nodes = _graph_args(at, k)["nodes"]
        outlined = [n for n in nodes if not n["faded"]]
        assert 0 < len(outlined) < len(nodes)
        assert all(n["borderWidth"] > 1 and "of the selected members" in n["title"] for n in outlined)
    selection = next(m.value for m in at.markdown if "compare-selection" in m.value)
    assert node in selection and "Where they went" in selection

    # the member flow between two panels names its splits and merges
    at.session_state["compare_tab"] = "Member flow"  # the tab container's state is its label
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    events = next(m.value for m in at.markdown if "flow-events" in m.value)
    assert "splits" in events and "merges" in events
    assert at.get("imgs") or at.get("image"), "no flow figure"


def test_zoo_and_cache_page_lists_and_clears(dashboard_cache):
    at = _app()  # the default exploration fills the cache
    at.switch_page("views/zoo_cache.py").run()
    assert not at.exception
    models = at.dataframe[0].value
    assert "digits_cnn" in set(models["model"])
    assert set(models.loc[models["model"] == "digits_cnn", "offline"]) == {"✓"}
    entries = at.dataframe[2].value
    assert {"activations", "graph"} <= set(entries["kind"])
    _widget(at.selectbox, "cache_clear_kind").set_value("graph").run()
    _widget(at.button, "cache_clear_button").click().run()
    assert not at.exception
    from topoact.cache import Store

    remaining = Store(Path(dashboard_cache) / "topoact.duckdb").list_entries()
    # what other kinds earlier tests left (the inspector's exemplars) stays
    assert remaining and "activations" in {e["kind"] for e in remaining}
    assert "graph" not in {e["kind"] for e in remaining}


def _node_by_size(args, rank: int) -> str:
    return sorted(args["nodes"], key=lambda n: (-n["size"], n["id"]))[rank]["id"]


def _image_captions(at) -> list[str]:
    return [image.proto.imgs[0].caption for image in at.get("image") if image.proto.imgs]


def test_inspector_shows_exemplars_and_renders_the_node_into_tooltip_and_icon():
    at = _app()
    args = _graph_args(at)
    node = _node_by_size(args, 1)
    at.session_state["selected_node"] = node
    at.run()
    exemplars = next(m.value for m in at.markdown if "data-testid='exemplars'" in m.value)
    assert 3 <= exemplars.count('<img src="data:image/png;base64,') <= 15  # up to 5 for each of 3 classes
    assert not any(c.startswith("cos ") for c in _image_captions(at))
    assert '<img src="data:image/png' not in next(n for n in _graph_args(at)["nodes"] if n["id"] == node)["title"]
    _widget(at.button, "featvis_render").click().run()
    assert not at.exception, [e.message for e in at.exception]
    (caption,) = [c for c in _image_captions(at) if c.startswith("cos ")]
    assert "with the node's mean" in caption and "256 steps, 8 px" in caption
    assert float(caption.split()[1]) > 0.5
    assert not [b for b in at.button if b.key == "featvis_render"]  # read from the cache now
    nodes = {n["id"]: n for n in _graph_args(at)["nodes"]}
    assert nodes[node]["title"].startswith('<img src="data:image/png;base64,')
    assert nodes[node]["shape"] == "dot"
    _widget(at.checkbox, "featvis_icons").check().run()
    nodes = {n["id"]: n for n in _graph_args(at)["nodes"]}
    assert nodes[node]["shape"] == "circularImage" and nodes[node]["image"].startswith("data:image/png;base64,")
    assert [n for n in nodes.values() if n["shape"] == "circularImage"] == [nodes[node]]


def test_batch_button_renders_the_largest_nodes_left():
    at = _app()
    before = {n["id"] for n in _graph_args(at)["nodes"] if '<img src="data:image/png' in n["title"]}
    table = at.dataframe[0].value  # graph order, with member counts
    order = sorted(range(len(table)), key=lambda i: (-int(table["size"][i]), i))
    expected = [table["node"][i] for i in order if table["node"][i] not in before][:10]
    _widget(at.button, "featvis_batch").click().run()
    assert not at.exception, [e.message for e in at.exception]
    nodes = _graph_args(at)["nodes"]
    rendered = {n["id"] for n in nodes if '<img src="data:image/png' in n["title"]}
    assert rendered == before | set(expected)
    assert any(f"{len(rendered)} of {len(nodes)} nodes rendered" in c.value for c in at.caption)


def test_robustness_page_draws_clean_and_attacked_graph_and_reruns():
    at = _app()
    at.switch_page("views/robustness.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.header[0].value == "Robustness"
    args = _graph_args(at)
    assert len(args["nodes"]) > 5
    assert any("attacked: " in node["title"] and "clean with attacked of another class" in node["title"]
               for node in args["nodes"])
    legend = next(m.value for m in at.markdown if "graph-legend" in m.value)
    assert "attacked share" in legend
    mix = at.dataframe[0].value  # the first table: attack mix per node
    assert len(mix) == len(args["nodes"])
    assert (mix["clean"] + mix["attacked"] == mix["size"]).all() and mix["clean beside other-class attacked"].max() > 0
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["pgd 0.1: accuracy"].rstrip("%")) < float(metrics["noise 0.1: accuracy"].rstrip("%")) - 20
    assert "AUROC confidence margin" in metrics
    at.run()  # a rerun reads the study from memory
    assert not at.exception, [e.message for e in at.exception]
    assert _graph_args(at)["nodes"] == args["nodes"]
    # another attack and strengths: the study reruns for the new settings
    _widget(at.selectbox, "rob_attack").set_value("fgsm")
    _widget(at.multiselect, "rob_strengths").set_value(["0.05", "0.2"])
    _widget(at.number_input, "rob_limit").set_value(200)
    _widget(at.button, "rob_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert "fgsm 0.2: accuracy" in metrics  # the upper-middle strength
    assert "fgsm" in next(m.value for m in at.markdown if "robustness-title" in m.value)
