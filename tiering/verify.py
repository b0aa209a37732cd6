"""Check a report folder against its ``manifest.json``.

``verify(folder)`` recomputes the SHA-256 of every output the manifest lists and of
the input files it names (data, parameter file, playbook, logo, notebook) and says
what no longer matches. With ``rebuild=True`` it also reruns the analysis from the
manifest's resolved parameters and compares the freshly written tables with the
folder's, byte for byte: the reproducibility check.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tiering.data.io import sha256_file
from tiering.errors import TieringError, require

__all__ = ["FAILING", "Verification", "load_manifest", "verify"]

CHECK_COLUMNS = ("kind", "name", "status", "expected_sha256", "actual_sha256", "detail")
# Statuses that make the verification fail; "extra", "not_found" and "skipped" are notes.
FAILING = frozenset({"modified", "missing", "changed", "different"})


@dataclass(frozen=True)
class Verification:
    """The result of :func:`verify`.

    ``checks`` has one row per file checked, columns ``CHECK_COLUMNS``:

    - ``kind``: ``output`` (a file of the report folder), ``input`` (a file the report
      was built from) or ``rebuild`` (a table written again from the parameters);
    - ``name``: the file name (outputs, rebuilt tables) or role and path (inputs);
    - ``status``: ``ok``; ``modified`` / ``missing`` (an output differs from the
      manifest or is gone); ``extra`` (a file the manifest does not list);
      ``changed`` / ``not_found`` (an input file differs or cannot be found);
      ``different`` / ``skipped`` (a rebuilt table differs, or was not compared);
    - ``expected_sha256``, ``actual_sha256`` (empty when not applicable), ``detail``.
    """

    folder: Path
    manifest: dict
    checks: pd.DataFrame
    rebuilt: bool

    @property
    def ok(self) -> bool:
        return not self.checks["status"].isin(FAILING).any()

    @property
    def problems(self) -> pd.DataFrame:
        return self.checks[self.checks["status"].isin(FAILING)].reset_index(drop=True)


def load_manifest(folder: str | Path) -> dict:
    """The parsed ``manifest.json`` of a report folder."""
    folder = Path(folder)
    path = folder / "manifest.json"
    require(
        folder.is_dir(),
        f"Report folder not found: {folder}",
        where=str(folder),
        hint="pass the folder that holds report.pdf and manifest.json",
    )
    require(
        path.is_file(),
        f"No manifest.json in {folder}",
        where=str(folder),
        hint="only folders written by `tiering report` can be verified",
    )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TieringError(
            f"manifest.json is not valid JSON: {exc}",
            where=str(path),
            hint="the manifest was damaged; rebuild the report",
        ) from None
    require(
        isinstance(manifest, dict) and isinstance(manifest.get("outputs"), dict),
        "manifest.json has no list of outputs",
        where=str(path),
        hint="the manifest was damaged or written by another tool; rebuild the report",
    )
    return manifest


def _row(
    kind: str, name: str, status: str, expected: str = "", actual: str = "", detail: str = ""
) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": name,
        "status": status,
        "expected_sha256": expected,
        "actual_sha256": actual,
        "detail": detail,
    }


def _output_checks(folder: Path, manifest: dict) -> list[dict]:
    rows = []
    listed = manifest["outputs"]
    for name in sorted(listed):
        expected = str(listed[name].get("sha256", ""))
        path = folder / name
        if Path(name).name != name or not path.is_file():  # never read outside the folder
            rows.append(_row("output", name, "missing", expected, detail="file not found"))
            continue
        actual = sha256_file(path)
        status = "ok" if actual == expected else "modified"
        detail = ""
        if status != "ok":
            detail = (
                f"content differs from the manifest ({path.stat().st_size:,} bytes now, "
                f"{listed[name].get('bytes', '?')} recorded)"
            )
        rows.append(_row("output", name, status, expected, actual, detail))
    for path in sorted(folder.iterdir()):
        if (
            path.name not in listed
            and path.name != "manifest.json"
            and not path.name.startswith(".")
        ):
            rows.append(_row("output", path.name, "extra", detail="not listed in the manifest"))
    return rows


def _input_checks(manifest: dict) -> list[dict]:
    entries = manifest.get("inputs")
    if not entries and isinstance(manifest.get("input"), dict):  # manifests before version 2
        entries = [{"role": "data", **manifest["input"]}]
    rows = []
    for entry in entries or []:
        path = Path(str(entry.get("path", "")))
        name = f"{entry.get('role', 'input')}: {path}"
        expected = str(entry.get("sha256", ""))
        if not path.is_file():
            rows.append(
                _row(
                    "input",
                    name,
                    "not_found",
                    expected,
                    detail="not at the recorded path; cannot check",
                )
            )
            continue
        actual = sha256_file(path)
        rows.append(
            _row(
                "input",
                name,
                "ok" if actual == expected else "changed",
                expected,
                actual,
                "" if actual == expected else "the file changed since the report was built",
            )
        )
    return rows


def _rebuild_checks(folder: Path, manifest: dict) -> list[dict]:
    from tiering import params
    from tiering.analysis import pipeline
    from tiering.build import outputs

    rows = []
    with tempfile.TemporaryDirectory(prefix=".tiering-verify-") as tmp:
        try:
            cfg = params.validate(
                manifest.get("parameters") or {},
                base_dir=folder,
                source=f"{folder / 'manifest.json'} (parameters)",
            )
            # the manifest can be edited: the rerun writes nothing outside its own temporary
            # folder (no feature cache, no spill folder named in the manifest)
            cfg = cfg.model_copy(
                update={
                    "engine": cfg.engine.model_copy(
                        update={"cache_dir": None, "temp_directory": Path(tmp)}
                    )
                }
            )
            analysis, loaded = pipeline.run(cfg, rejected_path=Path(tmp) / "rejected_rows.csv")
        except TieringError as exc:
            return [
                _row(
                    "rebuild",
                    "(analysis)",
                    "different",
                    detail=f"could not rerun the analysis: {exc.message}",
                )
            ]
        written = outputs.write_tables(analysis, loaded, Path(tmp))
        for name in sorted(written):
            listed = manifest["outputs"].get(name)
            actual = sha256_file(Path(tmp) / name)
            if listed is None:
                rows.append(
                    _row(
                        "rebuild",
                        name,
                        "skipped",
                        "",
                        actual,
                        "the report folder has no such table",
                    )
                )
            else:
                expected = str(listed.get("sha256", ""))
                rows.append(
                    _row(
                        "rebuild",
                        name,
                        "ok" if actual == expected else "different",
                        expected,
                        actual,
                        "" if actual == expected else "the rerun wrote a different table",
                    )
                )
    return rows


def verify(folder: str | Path, *, inputs: bool = True, rebuild: bool = False) -> Verification:
    """Check ``folder`` against its manifest (see :class:`Verification`).

    ``inputs=False`` skips the input files; ``rebuild=True`` reruns the analysis from
    the manifest's parameters (a few seconds; no notebook, HTML or PDF) and compares
    the tables (CSV and workbooks) byte for byte. Raises :class:`TieringError` when the
    folder has no readable manifest.
    """
    folder = Path(folder).resolve()
    manifest = load_manifest(folder)
    rows = _output_checks(folder, manifest)
    if inputs:
        rows += _input_checks(manifest)
    if rebuild:
        rows += _rebuild_checks(folder, manifest)
    checks = pd.DataFrame(rows, columns=list(CHECK_COLUMNS))
    return Verification(folder=folder, manifest=manifest, checks=checks, rebuilt=rebuild)
