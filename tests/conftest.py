"""Shared test fixtures and paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "datasets"
ONLINE_RETAIL = SHARED_DATA / "online_retail.csv.gz"
DEMO_DATA = ROOT / "data" / "demo_transactions.csv"


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (poppler-utils); run `make setup`")
    return path


@pytest.fixture
def write_csv(tmp_path):
    """Write a CSV text into tmp_path and return its path."""

    def _write(text: str, name: str = "tx.csv", encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return path

    return _write
