"""Command line: ``tiering report``, ``tiering validate``.

User mistakes end with a clear message and a non-zero exit, never a traceback
(unless ``--debug``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from .errors import TieringError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tiering", description="Customer tiering reports.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("report", help="build a report (HTML, PDF, tables) from a parameter file")
    r.add_argument("params", help="YAML parameter file, e.g. params/demo.yaml")
    r.add_argument("--output", "-o", help="report folder (default: output.dir or reports/<client>)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter by its dotted path, e.g. --set language=zh "
                        "--set tiering.method=rfm (repeatable)")

    v = sub.add_parser("validate", help="check a parameter file and the data's columns; runs nothing")
    v.add_argument("params")
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return p


def _report(args) -> int:
    from . import params as _params
    from . import report

    cfg = _params.load(args.params, overrides=args.overrides)
    print(f"Building the report for {cfg.client!r} from {cfg.data.path} ...", file=sys.stderr)
    folder = report.build(cfg, output=args.output)
    print(f"Report written to {folder}")
    for name in ("report.pdf", "report.html", "tiers.csv", "manifest.json"):
        if (folder / name).exists():
            print(f"  {folder / name}")
    return 0


def _validate(args) -> int:
    from . import io as _io
    from . import params as _params

    cfg = _params.load(args.params, overrides=args.overrides)
    grid, info = _io.read_table(cfg.data)
    nonblank = grid.astype(str).apply(lambda c: c.str.strip() != "").any(axis=1)
    grid = grid[nonblank]
    pos, mapping = _io.resolve_columns(grid, cfg.data, info)
    print(f"Parameters OK: {args.params}")
    print(f"Data file: {info['path']} ({info['format']}"
          + (f", {info.get('encoding')}" if info.get("encoding") else "")
          + (f", sheet {info['sheet']!r}" if info.get("sheet") else "") + ")")
    print(f"Header on row {int(grid.index[pos])}; {len(grid) - pos - 1:,} data rows")
    for role, name in mapping.items():
        print(f"  {role:<14} <- {name}")
    for name in cfg.data.attributes:
        print(f"  attribute      <- {name}")
    print(f"Method: {cfg.tiering.method}, tiers {', '.join(cfg.tiering.labels)}; language {cfg.language}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "report":
            return _report(args)
        return _validate(args)
    except TieringError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        if getattr(exc, "__cause__", None) is not None and exc.exit_code == 3:
            print("  (the failed notebook was kept next to the report folder, in <output>.failed/)",
                  file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; the previous report is unchanged", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
