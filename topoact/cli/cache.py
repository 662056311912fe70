"""``python -m topoact cache list|size|clear|delete|sweep``: inspect, empty and tidy the activation cache."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from topoact.cache.errors import CacheCorruptError
from topoact.cache.paths import default_cache_path
from topoact.cache.store import Store


def _human(n_bytes: float | None) -> str:
    if n_bytes is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n_bytes) < 1024 or unit == "GiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.1f} TiB"  # pragma: no cover - unreachable


def _summary(meta: dict, width: int = 60) -> str:
    text = json.dumps(meta, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"


def _store(args: argparse.Namespace, *, read_only: bool) -> Store:
    return Store(args.path, read_only=read_only, lock_timeout=args.lock_timeout)


def cmd_list(args: argparse.Namespace) -> int:
    """Print one line per cached entry (or JSON with ``--json``)."""
    store = _store(args, read_only=True)
    entries = store.list_entries(args.kind)
    if args.json:
        for entry in entries:
            entry["created"] = entry["created"].isoformat()
        print(json.dumps(entries, indent=1))
        return 0
    if not entries:
        print(f"no cached entries{f' of kind {args.kind}' if args.kind else ''} in {store.path}")
        return 0
    print(f"{'kind':<15} {'key':<12} {'layer':<20} {'rows':>9} {'dim':>6} {'size':>10}  created              meta")
    for e in entries:
        rows = "-" if e["rows"] is None else str(e["rows"])
        dim = "-" if e["dim"] is None else str(e["dim"])
        created = e["created"].strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{e['kind']:<15} {e['key'][:12]:<12} {(e['layer'] or '-')[:20]:<20} {rows:>9} {dim:>6} "
            f"{_human(e['bytes']):>10}  {created}  {_summary(e['meta'])}"
        )
    print(f"{len(entries)} entries")
    return 0


def cmd_size(args: argparse.Namespace) -> int:
    """Print the size of the cache file and the payload per kind."""
    store = _store(args, read_only=True)
    per_kind: dict[str, list[int]] = {}
    for e in store.list_entries():
        count_bytes = per_kind.setdefault(e["kind"], [0, 0])
        count_bytes[0] += 1
        count_bytes[1] += e["bytes"] or 0
    print(f"{store.path}: {_human(store.size_bytes())} on disk")
    for kind, (count, n_bytes) in sorted(per_kind.items()):
        print(f"  {kind:<15} {count:>5} entries  {_human(n_bytes):>10}")
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    """Remove entries of one kind, or everything (``--all``; also rebuilds a bad file)."""
    if not args.all and not args.kind:
        raise ValueError("say what to clear: --kind KIND (e.g. activations, graph, runs) or --all")
    store = _store(args, read_only=False)
    if args.all:
        try:
            removed = store.clear()
        except CacheCorruptError as exc:
            moved = store.rebuild()
            print(f"the cache file was unusable ({exc})")
            print(f"moved it aside to {moved} and started an empty cache at {store.path}")
            return 0
    else:
        removed = store.clear(args.kind)
    what = f" of kind {args.kind}" if args.kind else ""
    print(f"removed {removed} entries{what} from {store.path}; {_human(store.size_bytes())} on disk")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Remove one entry (by key or unique key prefix) and what was derived from it."""
    store = _store(args, read_only=False)
    removed = store.delete(args.kind, args.key)
    if args.json:
        print(json.dumps({"removed": removed, "bytes_on_disk": store.size_bytes()}, indent=1))
        return 0
    for entry in removed:
        print(f"removed {entry['kind']:<15} {entry['key']}")
    derived = len(removed) - 1
    print(f"{len(removed)} entries removed ({derived} derived from {removed[0]['key'][:12]}); "
          f"{_human(store.size_bytes())} on disk")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Remove vector and shard files no entry references (older than ``--older-than`` seconds)."""
    store = _store(args, read_only=args.dry_run)
    swept = store.sweep(older_than=args.older_than, dry_run=args.dry_run)
    if args.json:
        print(json.dumps({"dry_run": swept.dry_run, "files": [str(f) for f in swept.files],
                          "folders": [str(f) for f in swept.folders], "bytes": swept.n_bytes}, indent=1))
        return 0
    verb = "would remove" if swept.dry_run else "removed"
    for path in [*swept.files, *swept.folders]:
        print(f"{verb} {path}")
    print(f"{verb} {len(swept.files)} orphaned files ({_human(swept.n_bytes)}) and {len(swept.folders)} folders "
          f"not referenced by any entry of {store.path}")
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``cache`` command with its ``list``, ``size`` and ``clear`` sub-commands."""
    parser = subparsers.add_parser(
        "cache",
        help="inspect or empty the activation cache",
        description="Inspect or empty the DuckDB cache of activations, graphs and results.",
    )
    parser.set_defaults(func=lambda _args: (parser.print_help(), 2)[1])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--path", type=Path, default=None,
        help=f"cache file (default: $TOPOACT_CACHE_DIR/topoact.duckdb or {default_cache_path()})",
    )
    common.add_argument(
        "--lock-timeout", type=float, default=30.0,
        help="seconds to wait while another process holds the file (default 30)",
    )
    sub = parser.add_subparsers(dest="cache_command", metavar="ACTION")
    p_list = sub.add_parser("list", parents=[common], help="list cached entries")
    p_list.add_argument("--kind", help="only this kind (activations, graph, or a table kind)")
    p_list.add_argument("--json", action="store_true", help="print JSON")
    p_list.set_defaults(func=cmd_list)
    p_size = sub.add_parser("size", parents=[common], help="size on disk and per kind")
    p_size.set_defaults(func=cmd_size)
    p_clear = sub.add_parser(
        "clear", parents=[common],
        help="remove entries (--kind K) or everything (--all; moves a corrupt file aside)",
    )
    group = p_clear.add_mutually_exclusive_group()
    group.add_argument("--kind", help="remove entries of this kind ('runs' for run records)")
    group.add_argument("--all", action="store_true", help="remove everything")
    p_clear.set_defaults(func=cmd_clear)
    p_delete = sub.add_parser(
        "delete", parents=[common],
        help="remove one entry and what was derived from it (graphs of activations, scores of graphs)",
    )
    p_delete.add_argument("kind", metavar="KIND", help="the entry's kind, as `cache list` shows it")
    p_delete.add_argument("key", metavar="KEY", help="its key, or a prefix only one entry of KIND has")
    p_delete.add_argument("--json", action="store_true", help="print JSON")
    p_delete.set_defaults(func=cmd_delete)
    p_sweep = sub.add_parser("sweep", parents=[common],
                             help="remove vector/shard files no entry references (left by killed writers)")
    p_sweep.add_argument("--older-than", type=_seconds, default=3600.0, metavar="S",
                         help="only files at least S seconds old, so a running writer's files stay (default 3600)")
    p_sweep.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    p_sweep.add_argument("--json", action="store_true", help="print JSON")
    p_sweep.set_defaults(func=cmd_sweep)
    for p in (p_list, p_size, p_clear, p_delete, p_sweep):
        p.set_defaults(path=None)
    parser.set_defaults(path=None, lock_timeout=30.0)
    return parser
