"""Command line: ``tiering report | batch | validate | init | verify``.

User mistakes end with a clear message and a non-zero exit, never a traceback
(unless ``--debug``). Exit codes: 0 success; 1 some reports of a batch failed, or
``verify`` found mismatches; 2 a problem with the parameters or the data; 3 the
notebook or the rendering failed; 130 interrupted.

``tiering report`` shows its steps on standard error: a live progress bar on a
terminal, one plain line per step otherwise (logs, CI, ``tiering batch``); ``--quiet``
prints errors only, ``--verbose`` adds each step's time.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

from tiering import __version__, interrupt, locale
from tiering.errors import TieringError

EXAMPLES = """\
examples:
  tiering init data/client.xlsx --output params/client.yaml
  tiering validate params/client.yaml
  tiering report params/client.yaml --set language=zh --output reports/client-zh
  tiering batch params/clients/*.yaml --jobs 4 --output reports/friday
  tiering verify reports/client
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tiering",
        description="Customer tiering reports.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"tiering {__version__}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    p.add_argument(
        "--quiet", "-q", action="store_true", help="print errors only (no progress, no summary)"
    )
    p.add_argument("--verbose", "-v", action="store_true", help="also show how long each step took")
    # the same options also after the command (tiering report x.yaml --debug)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks"
    )
    common.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print errors only (no progress, no summary)",
    )
    common.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also show how long each step took",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser(
        "report", parents=[common], help="build a report (HTML, PDF, tables) from a parameter file"
    )
    r.add_argument("params", help="YAML parameter file, e.g. params/demo.yaml")
    r.add_argument("--output", "-o", help="report folder (default: output.dir or reports/<client>)")
    r.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter by its dotted path, e.g. --set language=zh "
        "--set tiering.method=rfm (repeatable)",
    )
    r.add_argument(
        "--notebook",
        help="report notebook to execute instead of "
        "notebooks/tiering_report.ipynb (same parameters cell)",
    )
    r.add_argument("--result-json", help=argparse.SUPPRESS)  # for tiering batch

    b = sub.add_parser(
        "batch",
        parents=[common],
        help="build many reports in parallel, with an index.html",
        description="Build one report per parameter file, in parallel processes. "
        "Each goes to DIR/<client>/ (output.dir is ignored); a failing "
        "client does not stop the others. Writes DIR/index.html and "
        "DIR/batch.json; exits with 1 when any report failed.",
    )
    b.add_argument("params", nargs="+", help="YAML parameter files")
    b.add_argument(
        "--output",
        "-o",
        default="reports",
        metavar="DIR",
        help="root folder of the reports (default: reports)",
    )
    b.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="reports built at the same time (default: CPUs, at most 4)",
    )
    b.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter in every file, e.g. --set language=zh",
    )
    b.add_argument("--notebook", help="report notebook to execute instead of the default")
    b.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop a report that takes longer than this",
    )
    b.add_argument(
        "--language",
        choices=locale.languages(),
        default="en",
        help="language of index.html (default: en)",
    )

    v = sub.add_parser(
        "validate",
        parents=[common],
        help="check a parameter file and the data's columns; runs nothing",
    )
    v.add_argument("params")
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    i = sub.add_parser(
        "init",
        parents=[common],
        help="inspect a data file and write a commented parameter file",
        description="Inspect a data file (format, encoding, sheet, header row, "
        "column roles, attribute columns, cancellations) and write a "
        "commented parameter file to edit.",
    )
    i.add_argument("data", help="the client's data file (CSV, CSV.gz, TSV, XLSX, Parquet)")
    i.add_argument(
        "--output",
        "-o",
        default="params.yaml",
        help="parameter file to write (default: params.yaml)",
    )
    i.add_argument("--force", action="store_true", help="overwrite an existing file")

    c = sub.add_parser(
        "verify",
        parents=[common],
        help="check a report folder against its manifest.json",
        description="Recompute the SHA-256 of every output and input file listed "
        "in DIR/manifest.json and report what no longer matches; "
        "exits with 1 on any mismatch.",
    )
    c.add_argument("folder", metavar="DIR", help="a report folder")
    c.add_argument(
        "--rebuild",
        action="store_true",
        help="also rerun the analysis from the manifest's parameters and compare the "
        "tables byte for byte",
    )
    c.add_argument(
        "--no-inputs", dest="inputs", action="store_false", help="do not check the input files"
    )
    return p


def _load(path: str, overrides: list[str]):
    """Load a parameter file; a relative ``output.logo`` is relative to the file."""
    from tiering import params as _params

    cfg = _params.load(path, overrides=overrides)
    logo = cfg.output.logo
    if logo is not None and not Path(logo).is_absolute():
        logo = (Path(path).resolve().parent / logo).resolve()
        cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"logo": logo})})
    return cfg


def _say(args, *values, **kwargs) -> None:
    """``print`` unless ``--quiet``."""
    if not args.quiet:
        print(*values, **kwargs)


def _report(args) -> int:
    from tiering.build import worker

    # the report's second process starts before the imports and the parameters below
    worker.start_early()
    try:
        cfg = _load(args.params, args.overrides)
        worker.prepare_early(cfg)  # what to import, before the report's own imports
        from tiering.build import report

        _say(
            args,
            f"Building the report for {cfg.client!r} from {cfg.data.path} ...",
            file=sys.stderr,
        )
        with _ShowProgress(args, report.planned_steps(cfg)):
            folder = report.build(
                cfg,
                output=args.output,
                notebook=args.notebook,
                params_path=args.params,
                render_ahead=True,  # this process is the command's own
            )
    finally:
        worker.discard_early()  # a report that did not get to take it
    _say(args, f"Report written to {folder}")
    for name in ("report.pdf", "report.html", "tiers.csv", "manifest.json"):
        if (folder / name).exists():
            _say(args, f"  {folder / name}")
    if args.result_json:
        _write_result(
            args.result_json, {"status": "ok", "client": cfg.client, "output": str(folder)}
        )
    return 0


def _write_result(path: str, result: dict) -> None:
    Path(path).write_text(json.dumps(result, ensure_ascii=False, default=str), encoding="utf-8")


def _batch(args) -> int:
    from tiering import batch

    result = batch.run_batch(
        args.params,
        output=args.output,
        jobs=args.jobs,
        overrides=args.overrides,
        notebook=args.notebook,
        timeout=args.timeout,
        language=args.language,
        progress=None if args.quiet else "stderr",
    )
    if not (args.quiet and result.ok):  # --quiet: the summary only when a report failed
        print(batch.summary_text(result.results), file=sys.stderr if args.quiet else sys.stdout)
    _say(args, f"Index: {result.index}")
    return 0 if result.ok else 1


def _validate(args) -> int:
    from tiering.data import io as _io

    cfg = _load(args.params, args.overrides)
    grid, info = _io.read_table(cfg.data)
    nonblank = grid.astype(str).apply(lambda c: c.str.strip() != "").any(axis=1)
    grid = grid[nonblank]
    pos, mapping = _io.resolve_columns(grid, cfg.data, info)
    if cfg.output.logo is not None:
        from tiering.build.render import logo_data_url

        logo_data_url(cfg.output.logo)
    _say(args, f"Parameters OK: {args.params}")
    _say(
        args,
        f"Data file: {info['path']} ({info['format']}"
        + (f", {info.get('encoding')}" if info.get("encoding") else "")
        + (f", sheet {info['sheet']!r}" if info.get("sheet") else "")
        + ")",
    )
    if info.get("sheet"):
        why = {
            "active": "the active sheet",
            "data.sheet": "chosen by data.sheet",
            "first visible": "the first visible sheet; the active sheet is hidden",
            "first": "the first sheet; no sheet is visible",
        }.get(info.get("sheet_choice"), "")
        _say(
            args,
            f"Sheet read: {info['sheet']!r}"
            + (f" ({why})" if why else "")
            + f"; sheets in the file: {', '.join(map(repr, info.get('sheets') or []))}",
        )
        hidden = info.get("hidden_sheets") or []
        if hidden:
            _say(
                args,
                f"Hidden sheets: {', '.join(map(repr, hidden))}"
                + (
                    " (not read; set data.sheet to read one)" if info["sheet"] not in hidden else ""
                ),
            )
        if info.get("merged_cells_filled"):
            _say(
                args, f"Merged cells filled (data.fill_merged_ids): {info['merged_cells_filled']:,}"
            )
    _say(args, f"Header on row {int(grid.index[pos])}; {len(grid) - pos - 1:,} data rows")
    for role, name in mapping.items():
        _say(args, f"  {role:<14} <- {name}")
    for name in cfg.data.attributes:
        _say(args, f"  attribute      <- {name}")
    _say(
        args,
        f"Method: {cfg.tiering.method}, tiers {', '.join(cfg.tiering.labels)}; language {cfg.language}",
    )
    return 0


def _init(args) -> int:
    from tiering import scaffold

    target, ins = scaffold.init(args.data, output=args.output, force=args.force)
    _say(args, f"Wrote {target}")
    where = f", sheet {ins.sheet!r}" if ins.sheet else ""
    _say(
        args,
        f"  {ins.path.name}: {ins.format}{where}"
        + (f", {ins.encoding}" if ins.encoding else "")
        + f", header on row {ins.header_row}, {ins.rows:,} data rows",
    )
    for role, name in ins.mapping.items():
        _say(args, f"  {role:<14} <- {name}")
    if ins.attributes:
        _say(args, f"  attributes     <- {', '.join(ins.attributes)}")
    if ins.cancellation_prefixes:
        _say(
            args, f"  cancellations: order ids starting with {', '.join(ins.cancellation_prefixes)}"
        )
    missing = ins.missing_roles
    if missing:
        print(
            f"WARNING: not recognised: {', '.join(missing)}; {target} marks "
            f"{'it' if len(missing) == 1 else 'them'} with null (FILL IN): name the "
            f"header{'s' if len(missing) > 1 else ''} there. Headers in the file: "
            + ", ".join(map(repr, ins.columns["header"])),
            file=sys.stderr,
        )
    todo = ["client", "consultant"] + ([] if ins.currency else ["currency"])
    _say(
        args,
        f"Next: edit {target} ({', '.join(todo + missing)}), then "
        f"`tiering validate {target}` and `tiering report {target}`.",
    )
    return 0


def _verify(args) -> int:
    from tiering import verify

    result = verify.verify(args.folder, inputs=args.inputs, rebuild=args.rebuild)
    checks = result.checks
    _say(args, f"Report folder: {result.folder}")
    for kind in ("output", "input", "rebuild"):
        part = checks[checks["kind"] == kind]
        if part.empty:
            continue
        bad = part[part["status"] != "ok"]
        _say(args, f"{kind + 's':<8} {len(part) - len(bad)} of {len(part)} match")
        for row in bad.itertuples():
            print(
                f"  {row.status.upper():<10} {row.name}" + (f": {row.detail}" if row.detail else "")
            )
    if result.ok:
        _say(args, "OK: the folder matches its manifest")
        return 0
    print(f"FAILED: {len(result.problems)} file(s) do not match the manifest", file=sys.stderr)
    return 1


# --------------------------------------------------------------------------- progress

STEP_LABELS = {
    "load": "reading the data",
    "features": "customer features",
    "transactions": "transactions",
    "tiering": "tiers",
    "method_comparison": "method comparison",
    "statistics": "statistics",
    "migration": "migration",
    "holdout": "holdout check",
    "campaigns": "campaign results",
    "value": "forward-looking value",
    "strategy": "strategy",
    "tables": "tables, action lists",
    "notebook": "report notebook",
    "html": "HTML",
    "pdf": "PDF",
    "pptx": "slide deck",
}


class _ProgressHandler(logging.Handler):
    """Shows the steps logged on ``tiering.progress`` (see
    :data:`tiering.progress.LOGGER`): a tqdm bar on a terminal, whose
    clock keeps running during a long step; one line per step otherwise; with
    ``verbose`` also each step's time and the total."""

    def __init__(self, stream, planned: list[str], *, verbose: bool, live: bool):
        super().__init__(logging.INFO)
        self.stream, self.verbose, self.total = stream, verbose, len(planned)
        self.started, self.step, self.t0 = 0, "", time.perf_counter()
        self.number: dict[str, int] = {}  # steps can overlap (the tables beside the notebook)
        self.bar = self._stop = None
        if live:
            from tqdm import tqdm

            try:  # a terminal that reports no size (some ptys): 80 columns, 24 lines
                width = os.get_terminal_size(stream.fileno()).columns
            except (AttributeError, OSError, ValueError):
                width = 0
            self.bar = tqdm(
                total=self.total,
                file=stream,
                leave=False,
                dynamic_ncols=width > 0,
                ncols=None if width > 0 else 80,
                nrows=None if width > 0 else 24,
                desc="starting",
                unit="step",
                bar_format="{desc:<20.20} |{bar}| {n_fmt}/{total_fmt} steps [{elapsed}]",
            )
            self._stop = threading.Event()
            threading.Thread(target=self._tick, name="tiering-progress", daemon=True).start()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self.bar.refresh()

    def emit(self, record: logging.LogRecord) -> None:
        step, phase = getattr(record, "step", None), getattr(record, "phase", None)
        if step is None:
            return
        label = STEP_LABELS.get(step, step.replace("_", " "))
        if phase == "start":
            self.started += 1
            self.number[step] = self.started
            self.total = max(self.total, self.started)
            if self.bar is not None:
                self.bar.total = self.total
                self.bar.set_description_str(label)
            else:
                print(f"[{self.started}/{self.total}] {label}", file=self.stream, flush=True)
        elif phase == "done":
            seconds = getattr(record, "seconds", 0.0)
            if self.bar is not None:
                self.bar.update(1)
                if self.verbose:
                    self.bar.write(f"  {label:<28} {seconds:7.2f} s", file=self.stream)
            elif self.verbose:
                print(
                    f"[{self.number.get(step, self.started)}/{self.total}] {label}: {seconds:.2f} s",
                    file=self.stream,
                    flush=True,
                )

    def close(self) -> None:
        if self.bar is not None:
            self._stop.set()
            self.bar.close()
        if self.verbose:
            seconds = time.perf_counter() - self.t0
            print(
                f"  {'total':<28} {seconds:7.2f} s"
                if self.bar is not None
                else f"total: {seconds:.2f} s",
                file=self.stream,
                flush=True,
            )
        super().close()


class _ShowProgress:
    """Context manager: show the build's steps on standard error while it runs (nothing
    with ``--quiet``)."""

    def __init__(self, args, planned: list[str]):
        self.args, self.planned, self.handler = args, planned, None

    def __enter__(self):
        if self.args.quiet:
            return self
        from tiering.progress import LOGGER as PROGRESS_LOGGER

        stream = sys.stderr
        live = bool(getattr(stream, "isatty", lambda: False)())
        self.handler = _ProgressHandler(stream, self.planned, verbose=self.args.verbose, live=live)
        self.logger = logging.getLogger(PROGRESS_LOGGER)
        self.saved = (self.logger.level, self.logger.propagate)
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False  # not also through the root handler (--debug)
        self.logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc) -> None:
        if self.handler is None:
            return
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.saved[0])
        self.logger.propagate = self.saved[1]
        if exc[0] is not None:
            self.handler.verbose = False  # no total for a run that failed
        self.handler.close()


# --------------------------------------------------------------------------- main


#: Modules the command line's process never imports although a library would: with
#: JupyterLab installed (the ``analyst`` extra; jupyter-events asks for
#: ``jsonschema[format-nongpl]``), importing jsonschema, which nbformat and papermill do
#: in every report, imports ``rfc3987_syntax`` for the ``iri`` string format and builds
#: its grammar: 1.1 s of every report. No schema a report checks (the notebook's) has a
#: string format; jsonschema imports it only if it can (``ImportError`` is expected).
UNUSED_IMPORTS = ("rfc3987_syntax",)


def main(argv: list[str] | None = None) -> int:
    for name in UNUSED_IMPORTS:
        sys.modules.setdefault(name, None)  # None: "import name" raises ImportError
    parser = _parser()
    args = parser.parse_args(argv)
    if args.quiet and args.verbose:
        parser.error("--quiet and --verbose cannot be used together")
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.ERROR if args.quiet else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    quieted = [] if args.debug else list(logging.getLogger().handlers)
    for handler in quieted:
        handler.addFilter(_quiet_after_interrupt)
    _INTERRUPTED.clear()
    commands = {
        "report": _report,
        "batch": _batch,
        "validate": _validate,
        "init": _init,
        "verify": _verify,
    }
    result_json = getattr(args, "result_json", None)
    previous = interrupt.install()
    try:
        return commands[args.command](args)
    except BaseException as exc:
        # after Ctrl-C, whatever a library made of it (DuckDB raises RuntimeError) is an
        # interruption
        if isinstance(exc, KeyboardInterrupt) or (
            isinstance(exc, Exception) and interrupt.REQUESTED.is_set()
        ):
            _INTERRUPTED.set()
            if result_json:
                _failed(result_json, KeyboardInterrupt())
            print(
                "interrupted; finished reports are kept, the others are unchanged"
                if args.command == "batch"
                else "interrupted; the previous report is unchanged",
                file=sys.stderr,
            )
            return 130
        if not isinstance(exc, Exception):
            raise
        if result_json:
            _failed(result_json, exc)
        if not isinstance(exc, TieringError) or args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        kept = getattr(exc, "kept_in", None)
        if (
            args.command == "report"
            and exc.exit_code == 3
            and kept is not None
            and not hasattr(exc, "cell")
        ):
            print(f"  (what the run produced was kept in {kept}/)", file=sys.stderr)
        return exc.exit_code
    finally:
        interrupt.restore(previous)
        # an interrupted command-line process stays quiet while the libraries wind down
        # as it exits; called from Python (argv given), logging is left as it was
        if not (_INTERRUPTED.is_set() and argv is None):
            for handler in quieted:
                handler.removeFilter(_quiet_after_interrupt)


_INTERRUPTED = threading.Event()


def _quiet_after_interrupt(record: logging.LogRecord) -> bool:
    """After Ctrl-C, what the libraries log while they wind down (papermill's "Kernel died
    while waiting for execute reply", asyncio's "Task exception was never retrieved" with
    a DeadKernelError traceback) is noise: the command says it was interrupted. Shown
    with --debug."""
    return not (interrupt.REQUESTED.is_set() or _INTERRUPTED.is_set())


def _failed(path: str, exc: BaseException) -> None:
    from tiering.build.report import failure_record

    try:
        _write_result(path, {"status": "failed", **failure_record(exc)})
    except OSError:
        pass


def run() -> None:
    """The ``tiering`` command: :func:`main`, and the process ends with its exit code
    without the interpreter's teardown (:func:`_end_now`)."""
    atexit.register(_end_now)  # registered before the others: it runs after them
    try:
        code = main()
    except BaseException:  # what the interpreter reports and exits with, as ever
        atexit.unregister(_end_now)
        raise
    _END["code"] = code
    sys.exit(code)


_END: dict = {}


def _end_now() -> None:
    """The last exit function of the ``tiering`` command: the interpreter has waited for
    its threads and run the other exit functions (temporary folders' removal ...);
    logging's handlers are flushed and closed, standard output and error flushed, and
    the process ends. What is skipped is the teardown that frees every object of every
    module one by one: half a second after a report, with pandas, matplotlib and PyMC
    loaded, for a process about to be gone."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - a closed pipe: nothing more to say
            pass
    os._exit(_END.get("code", 0))


if __name__ == "__main__":  # pragma: no cover
    run()
