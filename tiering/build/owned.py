"""What tiering wrote, and so may remove or replace.

The rule: **tiering only ever removes what tiering wrote.**

- A report folder is replaced only when it is empty, or when its ``manifest.json`` is
  tiering's own (``"generator": "tiering"``; manifests of earlier versions carry
  ``tiering_version`` and ``manifest_version``) and every entry in it is a file that
  manifest lists, unchanged since (same SHA-256). Anything else in it — an export saved
  there, a folder, a file edited after the run — makes the run refuse, naming it.
- ``<output>.failed/`` is removed only when its ``failure.json`` is tiering's and lists
  every file in it, unchanged.
- Working folders (``.<name>.tmp-*``) carry a marker file from the moment they are made;
  only folders with the marker are cleaned up.
- A batch's ``index.html`` and ``batch.json`` are replaced only when tiering wrote them.

This module holds the checks; :mod:`tiering.build.report` and :mod:`tiering.batch` apply them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tiering.data.io import sha256_file
from tiering.errors import TieringError

GENERATOR = "tiering"
WORK_MARKER = ".tiering-work"
HTML_GENERATOR_META = f'<meta name="generator" content="{GENERATOR}">'
# the style rule that every index.html of earlier versions carried (before the meta tag)
_LEGACY_INDEX_SIGNATURE = ".status.failed { background: #f9d6d2"


def read_json(path: Path) -> object | None:
    """The parsed JSON file, or None when it is missing, unreadable or not JSON."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def tiering_manifest(folder: Path, name: str = "manifest.json") -> dict | None:
    """``folder/name`` when tiering wrote it (a report manifest), else None."""
    data = read_json(folder / name)
    if not isinstance(data, dict) or not isinstance(data.get("outputs"), dict):
        return None
    if data.get("generator") == GENERATOR or (
        "tiering_version" in data and "manifest_version" in data
    ):
        return data
    return None


def listed_outputs(manifest: dict) -> dict[str, str | None]:
    """File name → SHA-256 of the outputs a manifest lists."""
    out: dict[str, str | None] = {}
    for name, entry in manifest.get("outputs", {}).items():
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        out[str(name)] = str(sha) if sha else None
    return out


def strangers(folder: Path, listed: dict[str, str | None]) -> list[str]:
    """The entries of ``folder`` tiering did not write, each with the reason: not listed,
    not a plain file, or changed since it was written (its SHA-256 differs)."""
    found = []
    for p in sorted(folder.iterdir(), key=lambda q: q.name):
        if p.name not in listed:
            found.append(p.name + ("/" if p.is_dir() and not p.is_symlink() else ""))
        elif p.is_symlink() or not p.is_file():
            found.append(f"{p.name} (not a file tiering wrote)")
        elif listed[p.name] is not None:
            try:
                same = sha256_file(p) == listed[p.name]
            except OSError:
                found.append(f"{p.name} (unreadable)")
                continue
            if not same:
                found.append(f"{p.name} (changed since tiering wrote it)")
    return found


def report_strangers(folder: Path) -> list[str] | None:
    """For an existing report folder: what in it tiering did not write ([] = all of it
    is tiering's). None when the folder has no manifest of tiering's."""
    manifest = tiering_manifest(folder)
    if manifest is None:
        return None
    return strangers(folder, {**listed_outputs(manifest), "manifest.json": None})


def failed_strangers(folder: Path) -> list[str] | None:
    """For an existing ``<output>.failed`` folder: what in it tiering did not write.
    None when it has no ``failure.json`` of tiering's listing its files."""
    record = read_json(folder / "failure.json")
    if (
        not isinstance(record, dict)
        or record.get("generator") != GENERATOR
        or not isinstance(record.get("files"), dict)
    ):
        return None
    listed = {str(k): (str(v) if v else None) for k, v in record["files"].items()}
    return strangers(folder, {**listed, "failure.json": None})


def removable_report(folder: Path) -> bool:
    """A report folder tiering wrote, holding only what it wrote."""
    return folder.is_dir() and not folder.is_symlink() and report_strangers(folder) == []


def removable_failed(folder: Path) -> bool:
    """A ``.failed`` folder tiering wrote, holding only what it wrote."""
    return folder.is_dir() and not folder.is_symlink() and failed_strangers(folder) == []


def file_digests(folder: Path) -> dict[str, str]:
    """Name → SHA-256 of the plain files directly in ``folder`` (not hidden ones)."""
    return {
        p.name: sha256_file(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.is_symlink() and not p.name.startswith(".")
    }


def make_work_dir(parent: Path, prefix: str) -> Path:
    """A private working folder in ``parent`` with the marker that lets a later run
    recognise it as tiering's (and remove it if this run is killed)."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    (work / WORK_MARKER).write_text(
        "a working folder of tiering; removed when the run ends\n", encoding="utf-8"
    )
    return work


def is_work_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and (path / WORK_MARKER).is_file()


def drop_work_marker(work: Path) -> None:
    (work / WORK_MARKER).unlink(missing_ok=True)


def tiering_batch_file(path: Path) -> bool:
    """``index.html`` or ``batch.json`` of a batch that tiering wrote."""
    if path.name == "batch.json":
        data = read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("reports"), list):
            return False
        if data.get("generator") == GENERATOR:
            return True
        # earlier versions wrote {"reports": [...]} with one record per report
        return set(data) == {"reports"} and all(
            isinstance(r, dict) and {"params_file", "client", "folder", "status"} <= set(r)
            for r in data["reports"]
        )
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(64 * 1024)
    except OSError:
        return False
    return HTML_GENERATOR_META in head or _LEGACY_INDEX_SIGNATURE in head


def check_writable_target(final: Path, *, what: str = "--output or output.dir") -> None:
    """Refuse a target the run must not write: the file system root, a folder that
    holds the working folder, a path below a file. Nothing is created."""
    if final.parent == final:
        raise TieringError(
            f"{final} is the root of the file system, not a report folder",
            where=what,
            hint="choose a new folder for the report, e.g. --output reports/<client>",
        )
    cwd = Path.cwd().resolve()
    if final == cwd or final in cwd.parents:
        raise TieringError(
            f"{final} holds the working folder {cwd}; a report replaces its whole folder",
            where=what,
            hint="choose a new folder below it, e.g. --output reports/<client>",
        )
    ancestor = final.parent
    while not ancestor.exists() and not ancestor.is_symlink() and ancestor.parent != ancestor:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise TieringError(
            f"{ancestor} is a file, so no folder can be made below it",
            where=what,
            hint="choose a folder for the report",
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise TieringError(
            f"No permission to write in {ancestor}",
            where=what,
            hint="choose a folder you can write to, or ask for write permission",
        )


def clean(folder: str | Path) -> tuple[list[Path], list[Path]]:
    """Remove from ``folder`` what tiering wrote there: report folders, ``.failed``
    folders, working folders, set-aside previous reports, a batch's ``index.html`` and
    ``batch.json``, and unlocked lock files. Anything else stays, and a folder holding
    anything else stays whole. Symlinks are never followed. Returns (removed, kept)."""
    import fcntl
    import re
    import shutil

    folder = Path(folder)
    removed: list[Path] = []
    kept: list[Path] = []
    if not folder.is_dir() or folder.is_symlink():
        return removed, kept
    for p in sorted(folder.iterdir()):
        name = p.name
        if p.is_symlink():
            kept.append(p)
        elif p.is_dir():
            if (
                is_work_dir(p)
                or removable_report(p)
                or (re.search(r"\.failed(-\d+)?$", name) and removable_failed(p))
            ):
                shutil.rmtree(p)
                removed.append(p)
            elif not any(p.iterdir()) and not name.startswith("."):
                p.rmdir()  # an empty report folder
                removed.append(p)
            else:
                kept.append(p)
        elif name in ("index.html", "batch.json") and tiering_batch_file(p):
            p.unlink()
            removed.append(p)
        elif name.startswith(".") and name.endswith(".lock") and p.stat().st_size == 0:
            fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a run holding it: keep
            except BlockingIOError:
                kept.append(p)
                continue
            finally:
                os.close(fd)
            p.unlink()
            removed.append(p)
        elif name != ".gitkeep":
            kept.append(p)
    return removed, kept


def main(argv: list[str] | None = None) -> int:
    """``python -m tiering.build.owned clean DIR``: what ``make clean`` runs on ``reports/``."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "clean":
        print("usage: python -m tiering.build.owned clean DIR", file=sys.stderr)
        return 2
    removed, kept = clean(args[1])
    print(f"removed {len(removed)} item(s) tiering wrote in {args[1]}")
    for p in kept:
        print(f"  kept {p} (not written by tiering, or holds files tiering did not write)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
