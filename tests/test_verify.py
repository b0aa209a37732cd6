"""tiering.verify: a report folder checked against its manifest.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tiering import cli, params, verify
from tiering.analysis import pipeline
from tiering.build import outputs
from tiering.errors import TieringError

from .test_report import write_tiny_client


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def folder(tmp_path) -> Path:
    """A report folder with two outputs and a manifest naming them and one input."""
    data = tmp_path / "input.csv"
    data.write_bytes(b"customer_id,amount\n1,10\n")
    out = tmp_path / "report"
    out.mkdir()
    files = {"tiers.csv": b"customer_id,tier\n1,A\n", "report.pdf": b"%PDF-1.7 demo"}
    for name, content in files.items():
        (out / name).write_bytes(content)
    manifest = {
        "outputs": {
            name: {"sha256": _sha(content), "bytes": len(content)}
            for name, content in files.items()
        },
        "inputs": [{"role": "data", "path": str(data), "sha256": _sha(data.read_bytes())}],
    }
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out


def _status(result: verify.Verification) -> dict[str, str]:
    return dict(zip(result.checks["name"], result.checks["status"]))


def test_untouched_folder_passes(folder):
    result = verify.verify(folder)
    assert result.ok
    assert list(result.checks.columns) == list(verify.CHECK_COLUMNS)
    assert set(result.checks["status"]) == {"ok"}
    assert len(result.checks) == 3  # two outputs, one input


def test_edited_and_deleted_outputs_fail(folder):
    (folder / "tiers.csv").write_bytes(b"customer_id,tier\n1,B\n")
    (folder / "report.pdf").unlink()
    result = verify.verify(folder)
    assert not result.ok
    status = _status(result)
    assert status["tiers.csv"] == "modified" and status["report.pdf"] == "missing"
    row = result.problems.set_index("name").loc["tiers.csv"]
    assert row["expected_sha256"] == _sha(b"customer_id,tier\n1,A\n")
    assert row["actual_sha256"] == _sha(b"customer_id,tier\n1,B\n")


def test_extra_files_and_unreachable_inputs_are_notes_not_failures(folder, tmp_path):
    (folder / "notes.txt").write_text("added later", encoding="utf-8")
    (tmp_path / "input.csv").unlink()
    result = verify.verify(folder)
    assert result.ok
    status = _status(result)
    assert status["notes.txt"] == "extra"
    assert status[f"data: {tmp_path / 'input.csv'}"] == "not_found"


def test_a_changed_input_fails_unless_inputs_are_skipped(folder, tmp_path):
    (tmp_path / "input.csv").write_bytes(b"customer_id,amount\n1,11\n")
    assert not verify.verify(folder).ok
    assert _status(verify.verify(folder))[f"data: {tmp_path / 'input.csv'}"] == "changed"
    assert verify.verify(folder, inputs=False).ok


def test_names_in_the_manifest_never_reach_outside_the_folder(folder, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("x", encoding="utf-8")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["outputs"]["../secret.txt"] = {"sha256": _sha(b"x")}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert _status(verify.verify(folder))["../secret.txt"] == "missing"


def test_folders_without_a_usable_manifest_are_errors(tmp_path, folder):
    with pytest.raises(TieringError, match="Report folder not found"):
        verify.verify(tmp_path / "nowhere")
    with pytest.raises(TieringError, match="No manifest.json"):
        verify.verify(tmp_path)
    (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TieringError, match="not valid JSON"):
        verify.verify(folder)


def test_cli_exit_codes_and_report(folder, capsys):
    assert cli.main(["verify", str(folder)]) == 0
    assert "outputs  2 of 2 match" in capsys.readouterr().out
    (folder / "tiers.csv").write_bytes(b"edited")
    assert cli.main(["verify", str(folder)]) == 1
    captured = capsys.readouterr()
    assert (
        "MODIFIED   tiers.csv: content differs from the manifest (6 bytes now, 21 recorded)"
        in captured.out
    )
    assert "FAILED: 1 file(s) do not match the manifest" in captured.err
    assert cli.main(["verify", str(folder.parent / "nowhere")]) == 2


def test_rebuild_reruns_the_analysis_and_compares_the_tables(tmp_path):
    cfg = params.load(write_tiny_client(tmp_path / "in"))
    analysis, loaded = pipeline.run(cfg)
    out = tmp_path / "report"
    out.mkdir()
    written = outputs.write_tables(analysis, loaded, out)
    manifest = {
        "outputs": {name: {"sha256": _sha((out / name).read_bytes())} for name in written},
        "parameters": cfg.to_notebook(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = verify.verify(out, rebuild=True)
    rebuilt = result.checks[result.checks["kind"] == "rebuild"]
    assert result.ok and result.rebuilt
    assert sorted(rebuilt["name"]) == sorted(written) and set(rebuilt["status"]) == {"ok"}
    # a table that the same parameters no longer reproduce
    manifest["outputs"]["tiers.csv"]["sha256"] = _sha(b"another table")
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    checks = verify.verify(out, rebuild=True).checks.set_index(["kind", "name"])["status"]
    assert checks[("output", "tiers.csv")] == "modified"  # the folder's file ...
    assert checks[("rebuild", "tiers.csv")] == "different"  # ... and the rerun's
    assert checks[("rebuild", "tier_summary.csv")] == "ok"
