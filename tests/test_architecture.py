"""The layers of docs/architecture.md, checked on every import (including those inside functions).

Arrows point down only: a module imports its own package, lower layers, and the siblings of its
layer that :data:`SIBLINGS` lists. Nothing edits ``sys.path``; nothing below the surfaces imports
streamlit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("topoact", "zoo", "dashboard", "bench")
FIRST_PARTY = {"topoact", "zoo", "dashboard", "bench"}

#: Unit (a top-level package, or a sub-package/module of topoact and zoo) -> layer.
LAYERS: dict[str, int] = {
    # 0 base
    "topoact": 0, "topoact.progress": 0, "topoact.activations": 0, "topoact.synthetic": 0,
    "zoo.paths": 0, "zoo.errors": 0,
    # 1 core
    "topoact.mapper": 1, "topoact.extract": 1, "topoact.cache": 1, "topoact.viz": 1, "zoo": 1,
    # 2 analysis and engines
    "topoact.anomaly": 2, "topoact.featvis": 2, "topoact.distributed": 2,
    # 3 workflow: activations, graphs and scores from the cache or computed
    "topoact.workflow": 3,
    # 4 studies
    "topoact.compare": 4, "topoact.robustness": 4,
    # 5 surfaces
    "topoact.cli": 5, "topoact.__main__": 5, "dashboard": 5, "bench": 5,
}

#: Imports between siblings of one layer that the design allows (importer unit, imported unit).
SIBLINGS: set[tuple[str, str]] = {
    ("topoact.viz", "topoact.mapper"),  # the views draw graphs
    ("topoact.extract", "zoo"),  # the adapters know the zoo's entries
    ("topoact.robustness", "topoact.compare"),  # the strength sweep reuses the graph metrics
    ("topoact.__main__", "topoact.cli"),  # python -m topoact
}

#: Known violations, each to be removed by the change that fixes it; an entry that no longer
#: occurs fails the test too, so the list only shrinks. (importing module, imported unit) -> why.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {
    # empty: issue 15 part B moved mapper/cached.py and extract/pipeline.py into topoact.workflow
}

#: ``sys.path`` methods and streamlit: forbidden as described in the module docstring.
PATH_EDITS = {"insert", "append", "extend", "remove", "pop", "clear"}
NO_STREAMLIT = ("topoact", "zoo")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    """The layered unit a dotted name belongs to: ``topoact.mapper.builder`` -> ``topoact.mapper``."""
    parts = module.split(".")
    sub = ".".join(parts[:2])
    if sub in LAYERS:
        return sub
    if parts[0] == "topoact" and len(parts) > 1 and (
            (REPO / "topoact" / parts[1]).is_dir() or (REPO / "topoact" / f"{parts[1]}.py").is_file()):
        return sub  # a new part of topoact: it needs a layer
    return parts[0]


def python_files():
    for top in SCANNED:
        yield from sorted((REPO / top).rglob("*.py"))


def imports(path: Path):
    """(line, imported dotted name) for every import in the file, at any depth, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                # `from topoact import featvis` imports the sub-package topoact.featvis
                candidate = f"{base}.{alias.name}"
                yield node.lineno, candidate if unit_of(candidate) != unit_of(base) else base


def layer_violations() -> tuple[list[str], set[tuple[str, str]]]:
    problems: list[str] = []
    seen_known: set[tuple[str, str]] = set()
    for path in python_files():
        module = module_name(path)
        source = unit_of(module)
        if source not in LAYERS:
            problems.append(f"{module}: unit {source} has no layer in tests/test_architecture.py LAYERS")
            continue
        for line, imported in imports(path):
            if imported.split(".")[0] not in FIRST_PARTY:
                continue
            target = unit_of(imported)
            if target == source:
                continue
            if target not in LAYERS:
                problems.append(f"{module}:{line} imports {imported}, whose unit {target} has no layer")
                continue
            upward = LAYERS[target] > LAYERS[source]
            sibling = LAYERS[target] == LAYERS[source] and (source, target) not in SIBLINGS
            if upward or sibling:
                if (module, target) in KNOWN_VIOLATIONS:
                    seen_known.add((module, target))
                    continue
                kind = "an upper layer" if upward else "a sibling not listed in SIBLINGS"
                problems.append(f"{module}:{line} (layer {LAYERS[source]}) imports {imported} "
                                f"(layer {LAYERS[target]}): {kind}")
    return problems, seen_known


def test_no_module_imports_an_upper_layer_or_an_unlisted_sibling():
    problems, _ = layer_violations()
    assert not problems, "\n".join(problems)


def test_the_known_violations_still_exist_so_the_list_only_shrinks():
    _, seen = layer_violations()
    stale = set(KNOWN_VIOLATIONS) - seen
    assert not stale, f"fixed, remove from KNOWN_VIOLATIONS: {sorted(stale)}"


def test_the_mapper_core_imports_no_engine_cache_or_extraction():
    core = [p for p in python_files() if module_name(p).startswith("topoact.mapper")]
    bad = [
        f"{module_name(p)}:{line} imports {name}"
        for p in core for line, name in imports(p)
        if unit_of(name) in ("topoact.distributed", "topoact.extract", "topoact.cache")
        and (module_name(p), unit_of(name)) not in KNOWN_VIOLATIONS
    ]
    assert not bad, "\n".join(bad)


def sys_path_edits(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PATH_EDITS:
            target = node.func.value
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            target = next((t for t in targets if isinstance(t, (ast.Attribute, ast.Subscript))), None)
            if isinstance(target, ast.Subscript):
                target = target.value
        if isinstance(target, ast.Attribute) and target.attr == "path" and isinstance(target.value, ast.Name) \
                and target.value.id == "sys":
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("top", [*SCANNED, "tests"])
def test_nothing_edits_sys_path(top):
    edits = [
        f"{path.relative_to(REPO)}:{line}"
        for path in sorted((REPO / top).rglob("*.py"))
        for line in sys_path_edits(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not edits, "sys.path edited (install the package, or run as a module from the repo root): " + ", ".join(edits)


def test_the_scan_sees_imports_inside_functions_and_path_edits():
    tree = ast.parse("def f():\n    import sys\n    sys.path.insert(0, 'x')\n    sys.path += ['y']\n")
    assert sorted(sys_path_edits(tree)) == [3, 4]
    sample = REPO / "topoact" / "cli" / "mapper.py"  # imports topoact.cli.extract inside a function
    assert any(name.startswith("topoact.cli.extract") for _, name in imports(sample))
    assert unit_of("topoact.mapper.builder") == "topoact.mapper" and unit_of("topoact.TopoactError") == "topoact"
    assert unit_of("zoo.paths") == "zoo.paths" and unit_of("zoo.models") == "zoo" and unit_of("dashboard.state") == "dashboard"


def test_no_streamlit_below_the_surfaces():
    found = [
        f"{module_name(p)}:{line}"
        for top in NO_STREAMLIT for p in sorted((REPO / top).rglob("*.py"))
        for line, name in imports(p) if name.split(".")[0] == "streamlit"
    ]
    assert not found, "streamlit imported in " + ", ".join(found)
