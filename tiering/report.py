"""Build one report: analysis → tables → papermill notebook → HTML → PDF → manifest.

A run writes into a temporary folder beside the output folder and replaces the
previous report only when every step succeeded. A failed run leaves the previous
report untouched and keeps what it produced (the executed notebook with the failing
cell, when it got that far) in ``<output>.failed/``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path


from . import __version__, outputs, pipeline
from .errors import RenderError, TieringError
from .io import sha256_file
from .params import Params, slug

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
NOTEBOOK = PROJECT_DIR / "notebooks" / "tiering_report.ipynb"
ANALYSIS_PARAMETER = "analysis_path"
_VERSIONED = ("tiering", "pandas", "numpy", "scipy", "scikit-posthocs", "statsmodels", "duckdb",
              "matplotlib", "seaborn", "papermill", "nbconvert", "weasyprint", "pydantic")


def output_dir_for(params: Params, override: str | Path | None = None) -> Path:
    """The report folder: ``--output``, else ``output.dir``, else ``reports/<client>``."""
    if override is not None:
        return Path(override).resolve()
    if params.output.dir is not None:
        return Path(params.output.dir).resolve()
    return (Path("reports") / slug(params.client)).resolve()


def notebook_parameters(params: Params, analysis_path: str | Path, notebook: Path = NOTEBOOK) -> dict:
    """The papermill parameters: only names declared in the notebook's parameters cell,
    each a Python identifier. Anything else is refused before anything runs."""
    import papermill

    declared = {p for p in papermill.inspect_notebook(str(notebook))}
    values = {**params.to_notebook(), ANALYSIS_PARAMETER: str(analysis_path)}
    bad = sorted(k for k in values if not (isinstance(k, str) and k.isidentifier()) or k not in declared)
    if bad:
        raise TieringError(f"Parameter names not declared in the notebook: {', '.join(map(repr, bad))}",
                           where=str(notebook),
                           hint="only the notebook's declared parameters can be passed")
    return values


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git_commit() -> str | None:
    try:
        res = subprocess.run(["git", "-C", str(PROJECT_DIR), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=False)
        commit = res.stdout.strip()
        if res.returncode or not commit:
            return None
        dirty = subprocess.run(["git", "-C", str(PROJECT_DIR), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10, check=False).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _execute_notebook(params: Params, analysis_file: Path, out_nb: Path) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    values = notebook_parameters(params, analysis_file)
    try:
        papermill.execute_notebook(
            str(NOTEBOOK), str(out_nb), parameters=values, cwd=str(NOTEBOOK.parent),
            kernel_name="python3", progress_bar=False, log_output=False,
            request_save_on_cell_execute=False,
            # the kernel's own start-up chatter (e.g. "running over TCP") is not for users
            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except PapermillExecutionError as exc:
        raise RenderError(f"The report notebook failed in cell {exc.exec_count}: "
                          f"{exc.ename}: {exc.evalue}",
                          where=f"{out_nb} (cell {exc.exec_count})",
                          hint="open the failed notebook to see the cell; rerun with --debug "
                               "for the full traceback") from exc


def build(params: Params, *, output: str | Path | None = None, generated: dt.date | None = None) -> Path:
    """Build the report folder for ``params``. Returns the folder."""
    import nbformat

    from . import narrative, render

    if generated is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible-builds convention
        generated = (dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).date() if epoch
                     else dt.date.today())
    final = output_dir_for(params, output)
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    timings: dict = {}
    started = time.perf_counter()
    try:
        analysis, loaded = pipeline.run(params)
        timings.update(analysis.timings)
        t0 = time.perf_counter()
        outputs.write_tables(analysis, loaded, work)
        analysis_file = work / ".analysis.pkl"
        pipeline.save(analysis, analysis_file)
        timings["tables"] = round(time.perf_counter() - t0, 3)

        t0 = time.perf_counter()
        out_nb = work / "report.ipynb"
        _execute_notebook(params, analysis_file, out_nb)
        timings["notebook"] = round(time.perf_counter() - t0, 3)

        t0 = time.perf_counter()
        nb = nbformat.read(out_nb, as_version=4)
        nb.metadata["tiering"] = narrative.report_metadata(analysis, generated=generated)
        nbformat.write(nb, out_nb)
        html = render.notebook_to_html(nb, language=params.language)
        if "html" in params.output.formats or "pdf" in params.output.formats:
            (work / "report.html").write_text(html, encoding="utf-8")
        timings["html"] = round(time.perf_counter() - t0, 3)
        if "pdf" in params.output.formats:
            t0 = time.perf_counter()
            render.html_to_pdf(html, work / "report.pdf", base_url=str(work))
            timings["pdf"] = round(time.perf_counter() - t0, 3)
        if "html" not in params.output.formats:
            (work / "report.html").unlink()
        analysis_file.unlink()
        timings["total"] = round(time.perf_counter() - started, 3)
        _write_manifest(work, params, analysis, loaded, timings)
    except BaseException:
        failed = final.with_name(final.name + ".failed")
        shutil.rmtree(failed, ignore_errors=True)
        (work / ".analysis.pkl").unlink(missing_ok=True)
        os.replace(work, failed)
        raise
    _publish_permissions(work)
    _swap(work, final)
    return final


def _publish_permissions(folder: Path) -> None:
    """The temporary folder is private (0700); the published report follows the umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for p in folder.iterdir():
        if p.is_file():
            os.chmod(p, 0o666 & ~umask)


def _swap(work: Path, final: Path) -> None:
    """Replace ``final`` by ``work`` (both on one file system)."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(work, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(final.with_name(final.name + ".failed"), ignore_errors=True)


def _write_manifest(folder: Path, params: Params, analysis: pipeline.Analysis, loaded,
                    timings: dict) -> None:
    src = loaded.source
    outputs = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
               for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}
    manifest = {
        "tiering_version": __version__,
        "git_commit": _git_commit(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
        "input": {
            "path": src["path"], "sha256": src["sha256"], "bytes": src["bytes"],
            "format": src["format"], "encoding": src.get("encoding"), "delimiter": src.get("delimiter"),
            "sheet": src.get("sheet"), "header_row": src.get("header_row"), "columns": src["columns"],
        },
        "rows": {
            "read": src["rows_read"], "used": src["rows_used"], "rejected": src["rows_rejected"],
            "rejected_by_reason": {r.reason: int(r.rows) for r in analysis.quality.itertuples()},
            "return_rows": src.get("return_rows", 0), "duplicate_rows": src.get("duplicate_rows", 0),
        },
        "customers": int(len(analysis.tiers)),
        "tiers": {str(r.tier): int(r.customers) for r in analysis.tier_summary.itertuples()},
        "as_of": analysis.as_of.isoformat(),
        "parameters": params.to_notebook(),
        "tiering": analysis.tiering_params,
        "versions": _versions(),
        "platform": platform.platform(),
        "timings_seconds": timings,
        "outputs": outputs,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str)
                                          + "\n", encoding="utf-8")

