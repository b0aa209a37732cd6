"""Many reports in one go: ``tiering batch PARAMS... --jobs N --output DIR``.

Each parameter file becomes one ``tiering report`` in its own process (a crash, a
memory blow-up or a hung kernel of one client cannot take the others down), at most
``jobs`` at a time. Each report goes to ``DIR/<slug of the client>/``; the
parameter's ``output.dir`` is ignored, so no parameter file can write outside
``DIR``. Two clients with the same slug get different folders (the later one adds
its parameter file's name). A failing client does not stop the batch: the summary
names the client, the failing notebook cell and the error, ``DIR/index.html`` links
every report, and ``DIR/batch.json`` holds the same results for scripts.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import pandas as pd

from tiering import locale
from tiering.build import owned
from tiering.errors import TieringError, require
from tiering.params import slug
from tiering.present.i18n import t

__all__ = [
    "RESULT_COLUMNS",
    "BatchResult",
    "Job",
    "plan",
    "run_batch",
    "summary_text",
    "write_index",
]

RESULT_COLUMNS = (
    "params_file",
    "client",
    "folder",
    "status",
    "seconds",
    "error",
    "message",
    "cell",
    "failed_notebook",
    "language",
    "customers",
    "as_of",
)


@dataclass(frozen=True)
class Job:
    """One client of a batch: its parameter file, client name and report folder.
    ``problem`` is set when the parameter file could not be read (the job then fails
    without running)."""

    params_file: Path
    client: str
    folder: Path
    language: str = ""
    problem: str | None = None


@dataclass(frozen=True)
class BatchResult:
    """The outcome of :func:`run_batch`.

    ``results`` has one row per parameter file, in the order given, columns
    ``RESULT_COLUMNS``: ``params_file``, ``client``, ``folder`` (the report folder),
    ``status`` (``ok`` or ``failed``), ``seconds``, ``error`` (exception type),
    ``message`` (its first lines), ``cell`` (the failing notebook cell as
    ``In [n]: first line``, empty when the run failed before the notebook),
    ``failed_notebook`` (path of the kept notebook, or empty), ``language``,
    ``customers`` and ``as_of`` (from the manifest of a finished report).
    """

    root: Path
    index: Path
    results: pd.DataFrame

    @property
    def failed(self) -> pd.DataFrame:
        return self.results[self.results["status"] != "ok"].reset_index(drop=True)

    @property
    def ok(self) -> bool:
        return self.failed.empty


# --------------------------------------------------------------------------- planning


def plan(
    param_files: Sequence[str | Path], *, root: str | Path, overrides: Sequence[str] = ()
) -> list[Job]:
    """One :class:`Job` per parameter file, each with its own folder inside ``root``.

    The folder is ``root/<slug of the client>``; when that is taken by an earlier
    file, ``root/<slug>-<slug of the file name>``, then ``-2``, ``-3`` ... A slug has
    only letters, digits, ``_`` and ``-``, so it never leaves ``root``.
    """
    from tiering import params as _params

    require(
        len(param_files) > 0,
        "No parameter files given",
        where="tiering batch",
        hint="tiering batch params/a.yaml params/b.yaml --output reports/batch",
    )
    root = Path(root).resolve()
    taken: set[str] = set()
    jobs = []
    for item in param_files:
        path = Path(item)
        problem, language = None, ""
        try:
            cfg = _params.load(path, overrides=list(overrides))
            client, language = cfg.client, cfg.language
        except TieringError as exc:
            client, problem = path.stem, str(exc)
        name = slug(client)
        for candidate in _candidates(name, slug(path.stem)):
            if candidate.casefold() not in taken:
                name = candidate
                break
        taken.add(name.casefold())
        folder = (root / name).resolve()
        require(
            folder.parent == root,
            f"Report folder {folder} is outside {root}",
            where=str(path),
            hint="this is a bug in tiering.params.slug; please report it",
        )
        jobs.append(
            Job(
                params_file=path.resolve(),
                client=client,
                folder=folder,
                language=language,
                problem=problem,
            )
        )
    return jobs


def _candidates(name: str, stem: str):
    yield name
    if stem and stem != name:
        yield f"{name}-{stem}"
    n = 2
    while True:
        yield f"{name}-{n}"
        n += 1


# --------------------------------------------------------------------------- running


def _command(
    job: Job, result_json: Path, overrides: Sequence[str], notebook: str | Path | None
) -> list[str]:
    # --quiet: the report's progress lines would only fill the error message read from
    # its standard error (the batch shows its own progress)
    cmd = [
        sys.executable,
        "-m",
        "tiering.cli",
        "report",
        str(job.params_file),
        "--output",
        str(job.folder),
        "--result-json",
        str(result_json),
        "--quiet",
    ]
    for item in overrides:
        cmd += ["--set", item]
    if notebook is not None:
        cmd += ["--notebook", str(Path(notebook).resolve())]
    return cmd


def _tail(text: str, lines: int = 6) -> str:
    kept = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


KILL_AFTER = 15.0  # seconds a report has to stop after SIGINT before it is killed


def _run_process(cmd: list[str], timeout: float | None) -> tuple[int | None, str, bool]:
    """Run ``cmd``; returns (exit code, standard error, killed), exit code None after a
    timeout.

    A report that runs over its time gets SIGINT first, so that it stops the way
    Ctrl-C stops it (its kernel shut down, its work kept in ``<output>.failed/``),
    and SIGKILL if it is still running 15 s later (``killed`` is then True).
    """
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        encoding="utf-8",
        errors="replace",
    )
    try:
        _, stderr = proc.communicate(timeout=timeout)
        return proc.returncode, stderr, False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=KILL_AFTER)
            return None, stderr, False
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
            return None, stderr, True
    except BaseException:  # the batch itself is interrupted: do not leave the report running
        proc.kill()
        proc.wait()
        raise


def _run_one(
    job: Job, overrides: Sequence[str], notebook: str | Path | None, timeout: float | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "params_file": str(job.params_file),
        "client": job.client,
        "folder": str(job.folder),
        "status": "failed",
        "seconds": 0.0,
        "error": "",
        "message": "",
        "cell": "",
        "failed_notebook": "",
        "language": job.language,
        "customers": None,
        "as_of": "",
    }
    if job.problem is not None:
        row.update(error="ParamsError", message=job.problem)
        return row
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".tiering-batch-") as tmp:
        result_json = Path(tmp) / "result.json"
        code, stderr, killed = _run_process(
            _command(job, result_json, overrides, notebook), timeout
        )
        result = {}
        if result_json.is_file():
            try:
                result = json.loads(result_json.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                result = {}
    row["seconds"] = round(time.perf_counter() - started, 1)
    if code == 0 and result.get("status") == "ok":
        row["status"] = "ok"
        manifest = _manifest(job.folder)
        row.update(
            customers=manifest.get("customers"),
            as_of=manifest.get("as_of", ""),
            language=manifest.get("language", job.language),
        )
        return row
    if code is None:
        row.update(
            error="Timeout",
            message=f"stopped after {timeout:g} s (--timeout)"
            + (
                f"; killed {KILL_AFTER:g} s later, as it did not stop on the interrupt"
                if killed
                else ""
            ),
        )
    elif result.get("status") == "failed":
        row.update(
            error=result.get("error", ""), message=result.get("text") or result.get("message", "")
        )
    else:
        row.update(
            error=f"exit code {code}",
            message=_tail(stderr) or "the report process ended without a result",
        )
    cell = result.get("cell") or {}
    if cell:
        label = (
            f"In [{cell['execution_count']}]"
            if cell.get("execution_count")
            else f"cell {cell.get('index')}"
        )
        row["cell"] = f"{label}: {cell['source']}" if cell.get("source") else label
    kept = result.get("kept") or job.folder.with_name(job.folder.name + ".failed")
    failed_nb = Path(kept) / "report.ipynb"
    if failed_nb.is_file() and result.get("status") == "failed":
        row["failed_notebook"] = str(failed_nb)
    return row


def _manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


class _Progress:
    """A tqdm bar on a terminal; one line per finished report otherwise (logs, CI)."""

    def __init__(self, total: int, stream: TextIO | None):
        self.total, self.done, self.failed, self.stream = total, 0, 0, stream
        self.bar = None
        if stream is not None and getattr(stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, file=stream, unit="report", desc="tiering batch", dynamic_ncols=True
            )

    def update(self, row: dict) -> None:
        self.done += 1
        self.failed += row["status"] != "ok"
        if self.bar is not None:
            self.bar.set_postfix_str(f"failed {self.failed}" if self.failed else "", refresh=False)
            self.bar.update(1)
        elif self.stream is not None:
            mark = "ok    " if row["status"] == "ok" else "FAILED"
            print(
                f"[{self.done}/{self.total}] {mark} {row['client']} ({row['seconds']:.0f} s)",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_batch(
    param_files: Sequence[str | Path],
    *,
    output: str | Path | None = None,
    jobs: int | None = None,
    overrides: Sequence[str] = (),
    notebook: str | Path | None = None,
    timeout: float | None = None,
    language: str = "en",
    progress: TextIO | None | str = "stderr",
    on_result: Callable[[dict], None] | None = None,
) -> BatchResult:
    """Build one report per parameter file, ``jobs`` at a time, and write the index.

    ``output`` is the root folder (default ``reports``); ``overrides`` are ``--set``
    items applied to every file; ``timeout`` stops a report after that many seconds;
    ``language`` is the language of ``index.html``; ``progress`` is where the
    progress bar goes (default: standard error; None: silent). Never raises for a
    failing client: see :attr:`BatchResult.failed`.
    """
    if progress == "stderr":
        progress = sys.stderr
    locale.get(language, where="--language (the language of the batch index)")
    jobs = jobs or min(4, os.cpu_count() or 1)
    require(
        jobs >= 1, f"--jobs must be 1 or more, got {jobs}", where="--jobs", hint="e.g. --jobs 4"
    )
    root = Path(output if output is not None else "reports").resolve()
    _check_root(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TieringError(
            f"Could not make the batch folder {root}: {exc.strerror or exc}",
            where="--output",
            hint="choose a folder you can write to",
        ) from None
    planned = plan(param_files, root=root, overrides=overrides)
    rows: list[dict | None] = [None] * len(planned)
    bar = _Progress(len(planned), progress)
    executor = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="tiering-batch")
    try:
        futures = {
            executor.submit(_run_one, job, overrides, notebook, timeout): i
            for i, job in enumerate(planned)
        }
        for future in as_completed(futures):
            row = future.result()
            rows[futures[future]] = row
            bar.update(row)
            if on_result is not None:
                on_result(row)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        bar.close()
    results = pd.DataFrame([r for r in rows if r is not None], columns=list(RESULT_COLUMNS))
    results["customers"] = results["customers"].astype("Int64")
    _check_root(root)  # a file put there while the batch ran is not overwritten either
    index = write_index(results, root / "index.html", language=language)
    _write_json(results, root / "batch.json")
    return BatchResult(root=root, index=index, results=results)


def _check_root(root: Path) -> None:
    """The batch folder may be written: not the file system root, and its ``index.html``
    and ``batch.json``, when there, were written by tiering (never overwrite another's)."""
    owned.check_writable_target(root, what="--output")
    require(
        not root.exists() or root.is_dir(),
        f"{root} exists and is not a folder",
        where="--output",
        hint="choose a folder for the batch",
    )
    foreign = [
        name
        for name in ("index.html", "batch.json")
        if (root / name).exists() and not owned.tiering_batch_file(root / name)
    ]
    require(
        not foreign,
        f"{root} holds {' and '.join(foreign)} that tiering did not write; a batch writes "
        "its own index.html and batch.json there",
        where="--output",
        hint="write the batch to another folder with --output, or move those files away",
    )


def _write_json(results: pd.DataFrame, path: Path) -> None:
    records = json.loads(results.to_json(orient="records", force_ascii=False))
    _atomic_write(
        path,
        json.dumps({"generator": owned.GENERATOR, "reports": records}, indent=2, ensure_ascii=False)
        + "\n",
    )


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- summary


def summary_text(results: pd.DataFrame) -> str:
    """A plain-text summary: counts, then one block per failed client (client,
    parameter file, failing cell, error message, kept notebook)."""
    ok = int((results["status"] == "ok").sum())
    failed = results[results["status"] != "ok"]
    plural = "s" if len(results) != 1 else ""
    lines = [f"{len(results)} report{plural}: {ok} built, {len(failed)} failed"]
    for row in failed.itertuples():
        lines.append("")
        lines.append(f"FAILED  {row.client}  ({row.params_file})")
        lines.append(f"  cell:  {row.cell or '- (failed before the notebook ran)'}")
        message = str(row.message).strip().splitlines() or [""]
        lines.append(f"  error: {row.error}: {message[0]}")
        lines += [f"         {ln}" for ln in message[1:8]]
        if row.failed_notebook:
            lines.append(f"  notebook kept: {row.failed_notebook}")
    return "\n".join(lines)


_INDEX_CSS = """
body { margin: 0; background: #e9edf1; color: #1f2933;
  font: 15px/1.5 "Noto Sans CJK SC", "Noto Sans SC", "Noto Sans", "DejaVu Sans", sans-serif; }
main { max-width: 60rem; margin: 1.5rem auto; background: #fff; padding: 1.5rem 2rem 2rem;
  box-shadow: 0 1px 4px rgba(0,0,0,.12); }
h1 { color: #1b4f72; font-size: 1.6rem; margin: 0 0 .3rem; }
p.meta { color: #52606d; margin: 0 0 1.2rem; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; vertical-align: top; padding: .45rem .6rem; border-bottom: 1px solid #d9dee3; }
thead th { background: #eef3f7; border-bottom: 2px solid #1b4f72; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
a { color: #1b4f72; }
.status { display: inline-block; padding: .05rem .55rem; border-radius: .8rem; font-weight: 700;
  font-size: .85rem; white-space: nowrap; }
.status.ok { background: #d5f0df; color: #145a32; }
.status.failed { background: #f9d6d2; color: #922b21; }
.error { color: #922b21; font-size: .85rem; white-space: pre-wrap; margin: .3rem 0 0; }
code { font-size: .85rem; }
td.client { min-width: 9rem; }
small { color: #52606d; }
@media (max-width: 40rem) { main { margin: 0; padding: 1rem; box-shadow: none; } body { background: #fff; } }
"""


def _href(root: Path, target: Path) -> str:
    rel = os.path.relpath(target, root).replace(os.sep, "/")
    return html.escape("/".join(quote(part) for part in rel.split("/")), quote=True)


def write_index(results: pd.DataFrame, path: str | Path, *, language: str = "en") -> Path:
    """Write ``index.html`` linking every report of a batch; returns its path.

    One self-contained page (inline CSS, no scripts, no network), readable on a
    phone. Every text from the parameters or errors is HTML-escaped; links are
    relative, so the folder can be moved or zipped as a whole.
    """
    path = Path(path)
    root = path.parent.resolve()
    e = html.escape

    def tr(key: str, **fields) -> str:
        return e(t(f"render.batch_{key}", language, **fields))

    body = []
    for row in results.itertuples():
        folder = Path(row.folder)
        links = []
        for name, key in (("report.pdf", "pdf"), ("report.html", "html")):
            if row.status == "ok" and (folder / name).is_file():
                links.append(f'<a href="{_href(root, folder / name)}">{tr(key)}</a>')
        if row.status == "ok" and (folder / "manifest.json").is_file():
            links.append(f'<a href="{_href(root, folder / "manifest.json")}">{tr("manifest")}</a>')
        client = e(str(row.client))
        if row.status == "ok" and (folder / "report.html").is_file():
            client = f'<a href="{_href(root, folder / "report.html")}">{client}</a>'
        status = (
            f'<span class="status ok">{tr("ok")}</span>'
            if row.status == "ok"
            else f'<span class="status failed">{tr("failed")}</span>'
        )
        detail = ""
        if row.status != "ok":
            parts = []
            if row.cell:
                parts.append(f"<div>{tr('cell')}: <code>{e(str(row.cell))}</code></div>")
            parts.append(f'<p class="error">{e(str(row.error))}: {e(str(row.message))}</p>')
            if row.failed_notebook:
                parts.append(
                    f'<a href="{_href(root, Path(row.failed_notebook))}">'
                    f"{tr('failed_notebook')}</a>"
                )
            detail = "".join(parts)
        customers = (
            "" if row.customers is None or pd.isna(row.customers) else f"{int(row.customers):,}"
        )
        body.append(
            f'<tr><td class="client">{client}<br><small>{e(Path(row.params_file).name)}</small></td>'
            f"<td>{status}</td><td>{' · '.join(links)}{detail}</td>"
            f'<td class="num">{e(customers)}</td><td>{e(str(row.as_of or ""))}</td>'
            f'<td>{e(str(row.language or ""))}</td><td class="num">{row.seconds:.0f}</td></tr>'
        )
    ok = int((results["status"] == "ok").sum())
    heads = "".join(
        f"<th>{tr(k)}</th>"
        for k in ("client", "status", "files", "customers", "as_of", "language", "seconds")
    )
    page = (
        "<!DOCTYPE html>\n"
        f'<html lang="{locale.get(language).html_lang}">\n<head>\n<meta charset="utf-8">\n{owned.HTML_GENERATOR_META}\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{tr('title')}</title>\n<style>{_INDEX_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{tr('title')}</h1>\n"
        f'<p class="meta">{tr("counts", total=len(results), ok=ok, failed=len(results) - ok)}'
        f" · {tr('generated')} {e(dt.date.today().isoformat())}</p>\n"
        f'<div class="wrap"><table>\n<thead><tr>{heads}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody></table></div>\n</main>\n</body>\n</html>\n"
    )
    _atomic_write(path, page)
    return path
