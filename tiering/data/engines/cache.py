"""Feature cache: an analyst's rerun with another tiering method skips the aggregation.

An entry is keyed by the SHA-256 of the input file and every parameter that changes
the features, quality counts or rejected rows (the whole ``data`` section but its
path, ``as_of``, the window, the engine and its duplicate counting). It holds the
features and quality (Parquet), the facts (JSON), the rejected rows (CSV, when they
were written) and the value model's inputs (``FeatureResult.value_inputs``, Parquet,
when they were made; a run that wants them from an entry stored without them reads
them from the file and adds them, :func:`add_value_inputs`). Layout::

    <cache_dir>/tiering/hashes.json            path → [size, mtime_ns, sha256]
    <cache_dir>/tiering/data/features/<key>/        one entry: meta.json, features.parquet,
                                       quality.parquet, rejected.csv, value_inputs.parquet

Which rows are ``future_date`` depends on the day of the run. An entry stays valid on
another day as long as no date of the file lies between the two days' limits (the
DuckDB engine records the dates around the limit); otherwise it is recomputed.
Everything goes into the subfolder ``tiering/`` of ``engine.cache_dir``, so that a
cache folder shared with other files (or named by mistake) never has a file of
someone else's overwritten. Entries are never evicted: delete the folder to reclaim
space. Writes are atomic (a
temporary folder renamed into place), so an interrupted run leaves no half entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

CACHE_VERSION = 2  # 2: reading conventions per column (dates, dots in amounts)


def _stat_key(path: Path) -> list:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _root(cache_dir) -> Path:
    """The cache's own folder inside ``engine.cache_dir``."""
    return Path(cache_dir) / "tiering"


def _index(cache_dir) -> dict:
    """``hashes.json`` as written by the cache ({} when missing or not the cache's)."""
    try:
        data = json.loads((_root(cache_dir) / "hashes.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        k: v
        for k, v in data.items()
        if isinstance(v, list) and len(v) == 3 and isinstance(v[2], str)
    }


def known_sha256(cache_dir: Path, path: Path) -> str | None:
    """The SHA-256 recorded for ``path`` when its size and modification time are unchanged."""
    entry = _index(cache_dir).get(str(Path(path).resolve()))
    if entry and entry[:2] == _stat_key(Path(path)):
        return entry[2]
    return None


def remember_sha256(cache_dir: Path, path: Path, sha256: str) -> None:
    index = _root(cache_dir) / "hashes.json"
    data = _index(cache_dir)
    data[str(Path(path).resolve())] = _stat_key(Path(path)) + [sha256]
    _atomic_write(index, json.dumps(data, indent=1, sort_keys=True))


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def key(src, *, spec, as_of=None, window_start=None, window_months=None, today=None) -> dict:
    """What identifies an entry (without the input's hash, which :func:`get` and
    :func:`put` add)."""
    from tiering.data.engines.base import choose_engine
    from tiering.data.io import dayfirst_param, decimal_param

    data = src.model_dump(mode="json")
    data.pop("path", None)
    # what the loader reads by: data.dayfirst only when given (else the column decides)
    data["dayfirst"] = dayfirst_param(src)
    data["decimal"] = decimal_param(src)
    engine = choose_engine(src, spec)
    return {
        "version": CACHE_VERSION,
        "data": data,
        "path": str(Path(src.path).resolve()),
        "as_of": as_of.isoformat() if as_of else None,
        "window_start": window_start.isoformat() if window_start else None,
        "window_months": window_months,
        "engine": engine,
        "duplicates": spec.duplicates if src.duplicate_rows != "reject" else "reject",
        "today": (today or dt.date.today()).isoformat(),
    }


def _digest(k: dict, sha256: str) -> str:
    ident = {kk: v for kk, v in k.items() if kk not in ("path", "today")}
    ident["sha256"] = sha256
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]


def _valid_today(meta: dict, today: dt.date) -> bool:
    """Whether the rows that are ``future_date`` today are those of the cached run."""
    from tiering.data.engines import _rules as R

    guard = meta.get("date_guard")
    if guard is None:
        return meta.get("today") == today.isoformat()
    limit = R.future_limit(today)
    max_ok, min_future = (pd.Timestamp(x) if x else None for x in guard)
    return (max_ok is None or max_ok < limit) and (min_future is None or min_future >= limit)


def get(cache_dir, k: dict, *, rejected_path=None, value_inputs: bool = False):
    """The cached :class:`~tiering.data.engines.FeatureResult`, or None; with
    ``value_inputs``, with the value model's inputs when the entry holds them."""
    from tiering.data.engines.base import FeatureResult

    cache_dir = Path(cache_dir)
    sha = known_sha256(cache_dir, Path(k["path"]))
    if sha is None:
        return None
    folder = _root(cache_dir) / "features" / _digest(k, sha)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not _valid_today(meta, dt.date.fromisoformat(k["today"])):
        return None
    if rejected_path is not None:
        if not (folder / "rejected.csv").is_file():
            return None
        dest = Path(rejected_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        shutil.copyfile(folder / "rejected.csv", part)
        os.replace(part, dest)
    try:
        features = pd.read_parquet(folder / "features.parquet")
        quality = pd.read_parquet(folder / "quality.parquet")
        inputs = None
        if value_inputs and (folder / "value_inputs.parquet").is_file():
            inputs = pd.read_parquet(folder / "value_inputs.parquet")
    except (OSError, ValueError):
        return None
    source = {**meta["source"], "path": k["path"], "cache": "hit"}
    return FeatureResult(
        features=features,
        quality=quality,
        source=source,
        as_of=dt.date.fromisoformat(meta["as_of"]),
        window_start=dt.date.fromisoformat(meta["window_start"]) if meta["window_start"] else None,
        attributes=tuple(meta["attributes"]),
        first_date=pd.Timestamp(meta["first_date"]) if meta["first_date"] else None,
        last_date=pd.Timestamp(meta["last_date"]) if meta["last_date"] else None,
        rejected_path=Path(rejected_path) if rejected_path else None,
        engine=meta["engine"],
        timings={"cache": 0.0},
        value_inputs=inputs,
    )


def put(cache_dir, k: dict, result) -> None:
    """Store ``result`` (its input hash is ``result.source['sha256']``)."""
    cache_dir = Path(cache_dir)
    sha = result.source.get("sha256")
    if not sha:
        return
    remember_sha256(cache_dir, Path(k["path"]), sha)
    final = _root(cache_dir) / "features" / _digest(k, sha)
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    try:
        result.features.to_parquet(work / "features.parquet", index=False)
        result.quality.to_parquet(work / "quality.parquet", index=False)
        if result.value_inputs is not None:
            result.value_inputs.to_parquet(work / "value_inputs.parquet", index=False)
        if result.rejected_path is not None and Path(result.rejected_path).is_file():
            try:
                os.link(result.rejected_path, work / "rejected.csv")
            except OSError:
                shutil.copyfile(result.rejected_path, work / "rejected.csv")
        meta = {
            "source": {kk: v for kk, v in result.source.items() if kk != "cache"},
            "as_of": result.as_of.isoformat(),
            "window_start": result.window_start.isoformat() if result.window_start else None,
            "attributes": list(result.attributes),
            "first_date": result.first_date.isoformat() if result.first_date is not None else None,
            "last_date": result.last_date.isoformat() if result.last_date is not None else None,
            "engine": result.engine,
            "today": k["today"],
            "date_guard": result.source.get("date_guard"),
        }
        (work / "meta.json").write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final, ignore_errors=True)
        os.replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def add_value_inputs(cache_dir, k: dict, result, inputs: pd.DataFrame) -> None:
    """Add the value model's ``inputs`` to the entry ``result`` came from (a hit stored
    without them), atomically; nothing when the entry is gone."""
    sha = result.source.get("sha256")
    if not sha:
        return
    folder = _root(cache_dir) / "features" / _digest(k, sha)
    if not (folder / "meta.json").is_file():
        return
    try:  # a read-only cache still serves its entries: the inputs are just not kept
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=folder)
    except OSError:
        return
    os.close(fd)
    try:
        inputs.to_parquet(tmp, index=False)
        os.replace(tmp, folder / "value_inputs.parquet")
    except OSError:
        pass
    finally:
        Path(tmp).unlink(missing_ok=True)
