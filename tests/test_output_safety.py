"""Tiering only ever removes what tiering wrote (docs/bad_input.md, "What tiering may delete").

Every test puts files tiering did not write where a run could reach them, runs tiering
as a user would, and checks each file survives byte for byte.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tiering import batch, cli, interrupt, params, verify
from tiering.build import outputs, owned, report
from tiering.errors import DataError, TieringError

from .conftest import fake_previous_report
from .test_report import write_tiny_client

CLIENT_FILES = {
    "sales_2024.csv": b"customer_id,order_date,amount\nC1,2024-01-05,10\n",
    "sales_2023.xlsx": b"PK\x03\x04 not really a workbook, but the user's file",
    "notes.txt": "客户备注\n".encode(),
}


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every file below ``folder`` (hidden ones included)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def put_files(folder: Path, files: dict[str, bytes] = CLIENT_FILES) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return snapshot(folder)


def missing_data_params(tmp_path: Path):
    return params.validate({"data": {"path": str(tmp_path / "missing.csv")}})


def report_cli(*args: str) -> int:
    return cli.main(["report", *map(str, args)])


# --------------------------------------------------------------------------- refusals


def test_output_at_a_folder_of_client_exports_deletes_nothing(tmp_path, capsys):
    client = write_tiny_client(tmp_path / "in")
    exports = tmp_path / "clientdata"
    before = put_files(exports)
    assert report_cli(client, "--output", exports) == 2
    err = capsys.readouterr().err
    assert "is not a report folder of tiering" in err and "sales_2024.csv" in err
    assert "Traceback" not in err
    assert snapshot(exports) == before
    # nothing else was made beside it: no lock, no working folder, no .failed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clientdata", "in"]


def test_output_dir_from_a_received_parameter_file_deletes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = put_files(tmp_path / "exports")
    client = write_tiny_client(tmp_path / "in", extra="output: {dir: exports}\n")
    assert cli.main(["report", str(client)]) == 2
    assert "not a report folder of tiering" in capsys.readouterr().err
    assert snapshot(tmp_path / "exports") == before


def test_a_folder_of_another_tool_with_its_own_manifest_is_not_wiped(tmp_path, capsys):
    client = write_tiny_client(tmp_path / "in")
    other = tmp_path / "build"
    files = {
        "manifest.json": json.dumps({"name": "webapp", "outputs": {"app.js": {}}}).encode(),
        "app.js": b"console.log(1)\n",
    }
    before = put_files(other, files)
    assert report_cli(client, "--output", other) == 2
    assert "no manifest.json written by tiering" in capsys.readouterr().err
    assert snapshot(other) == before


def test_a_new_file_in_last_months_report_folder_stops_the_rerun(tmp_path, capsys):
    client = write_tiny_client(tmp_path / "in")
    out = fake_previous_report(tmp_path / "acme")
    (out / "sales_dec.csv").write_bytes(CLIENT_FILES["sales_2024.csv"])
    (out / ".ipynb_checkpoints").mkdir()
    (out / ".ipynb_checkpoints" / "report-checkpoint.ipynb").write_text("{}", encoding="utf-8")
    before = snapshot(out)
    assert report_cli(client, "--output", out) == 2
    err = capsys.readouterr().err
    assert "also holds what tiering did not write: .ipynb_checkpoints/, sales_dec.csv" in err
    assert "move those files out of the folder" in err
    assert snapshot(out) == before


def test_a_report_file_edited_after_the_run_is_not_replaced(tmp_path, capsys):
    client = write_tiny_client(tmp_path / "in")
    out = fake_previous_report(tmp_path / "acme")
    (out / "report.pdf").write_bytes(b"the consultant's annotated copy")
    before = snapshot(out)
    assert report_cli(client, "--output", out) == 2
    assert "report.pdf (changed since tiering wrote it)" in capsys.readouterr().err
    assert snapshot(out) == before


def test_the_input_may_not_be_inside_the_folder_it_would_replace(tmp_path):
    out = fake_previous_report(tmp_path / "acme")
    shutil.copy(write_tiny_client(tmp_path / "in").parent / "tx.csv", out / "tx.csv")
    listing = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    listing["outputs"]["tx.csv"] = {
        "sha256": hashlib.sha256((out / "tx.csv").read_bytes()).hexdigest()
    }
    (out / "manifest.json").write_text(json.dumps(listing), encoding="utf-8")
    before = snapshot(out)
    cfg = params.validate({"data": {"path": str(out / "tx.csv")}})
    with pytest.raises(
        TieringError, match=r"is inside the report folder .* which the run replaces"
    ):
        report.build(cfg, output=out)
    assert snapshot(out) == before


@pytest.mark.parametrize("target", ["/", "/dev/null", "/dev/null/report"])
def test_impossible_targets_are_refused_and_leave_nothing(target, tmp_path, capsys, monkeypatch):
    client = write_tiny_client(tmp_path / "in")
    # the run's temporary files in a folder of this test's own: the shared /tmp gets
    # tiering's temporary folders from the tests running beside this one
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(own_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    watched = [Path("/"), Path("/dev"), own_tmp]
    before = {d: set(os.listdir(d)) for d in watched}
    assert report_cli(client, "--output", target) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "ValueError" not in err
    assert {
        "/": "root of the file system",
        "/dev/null": "exists and is not a folder",
        "/dev/null/report": "/dev/null is a file",
    }[target] in err
    for d in watched:  # other processes may add files to /: only tiering's would matter
        new = set(os.listdir(d)) - before[d]
        assert not [
            n for n in new if "tiering" in n or "null" in n or n.endswith(".lock") or ".tmp-" in n
        ], (d, new)


def test_a_folder_holding_the_working_folder_is_refused(tmp_path, monkeypatch):
    client = write_tiny_client(tmp_path / "in")
    monkeypatch.chdir(tmp_path / "in")
    assert report_cli(client, "--output", ".") == 2
    assert report_cli(client, "--output", "..") == 2


# --------------------------------------------------------------------------- .failed folders


def test_a_user_file_in_the_failed_folder_survives_failing_and_good_runs(tmp_path):
    client = write_tiny_client(tmp_path / "in")
    out = tmp_path / "acme"
    failed = tmp_path / "acme.failed"
    before = put_files(failed, {"my_notes.txt": b"why the last run failed"})
    with pytest.raises(DataError):
        report.build(missing_data_params(tmp_path), output=out)
    assert snapshot(failed) == before
    second = tmp_path / "acme.failed-2"  # the failed run's work went beside it
    record = json.loads((second / "failure.json").read_text(encoding="utf-8"))
    assert record["generator"] == "tiering" and record["error"] == "DataError"
    report.build(params.load(client), output=out)  # a good run: removes only what is tiering's
    assert snapshot(failed) == before
    assert (out / "report.pdf").is_file()
    assert not second.exists()  # the .failed-2 tiering wrote is gone with the good run


def test_a_failed_folder_tiering_wrote_is_replaced_and_removed(tmp_path):
    out = tmp_path / "acme"
    for _ in range(2):  # the second failure replaces the first one's folder
        with pytest.raises(DataError):
            report.build(missing_data_params(tmp_path), output=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".acme.lock", "acme.failed"]
    record = json.loads((tmp_path / "acme.failed" / "failure.json").read_text(encoding="utf-8"))
    assert record["files"] == {}  # the run failed before writing anything
    # a file added to it later makes it the user's: kept by the next failure
    (tmp_path / "acme.failed" / "extra.csv").write_text("x\n", encoding="utf-8")
    with pytest.raises(DataError):
        report.build(missing_data_params(tmp_path), output=out)
    assert (tmp_path / "acme.failed" / "extra.csv").read_text(encoding="utf-8") == "x\n"
    assert (tmp_path / "acme.failed-2" / "failure.json").is_file()


# --------------------------------------------------------------------------- a real rerun


@pytest.mark.slow
def test_a_rerun_replaces_the_report_tiering_wrote(tmp_path):
    client = write_tiny_client(tmp_path / "in")
    out = tmp_path / "acme"
    report.build(params.load(client), output=out)
    first = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert first["generator"] == "tiering"
    assert owned.report_strangers(out) == []
    with pytest.raises(DataError):  # a failed run in between leaves a .failed folder ...
        report.build(missing_data_params(tmp_path), output=out)
    assert (tmp_path / "acme.failed").is_dir()
    report.build(params.load(client), output=out)
    # ... which the next good run removes, with its working folders and the previous report
    assert sorted(p.name for p in tmp_path.iterdir()) == [".acme.lock", "acme", "in"]
    assert set(first["outputs"]) | {"manifest.json"} == {p.name for p in out.iterdir()}


# --------------------------------------------------------------------------- disk full, read-only


@pytest.mark.parametrize(
    "code, words",
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "the file system is read-only"),
    ],
)
def test_a_write_error_is_a_clear_error_and_keeps_the_previous_report(
    code, words, tmp_path, monkeypatch, capsys
):
    client = write_tiny_client(tmp_path / "in")
    out = fake_previous_report(tmp_path / "acme")
    before = snapshot(out)

    def write_tables(analysis, loaded, folder):
        (Path(folder) / "tiers.csv").write_text("half", encoding="utf-8")
        raise OSError(code, os.strerror(code), str(Path(folder) / "tiers.csv"))

    monkeypatch.setattr(outputs, "write_tables", write_tables)
    assert report_cli(client, "--output", out) == 2
    err = capsys.readouterr().err
    assert f"Could not write the report {out}: {words}" in err and "Traceback" not in err
    assert snapshot(out) == before
    # nothing half-written is left: no working folder, no .failed
    assert sorted(p.name for p in tmp_path.iterdir()) == [".acme.lock", "acme", "in"]


def test_a_failed_notebook_waits_for_the_tables_written_beside_it(tmp_path, monkeypatch):
    """The tables are written by a thread while the notebook runs. A notebook that fails
    first: the run waits for the tables before it keeps its work aside, so that
    ``failure.json`` lists every file of the folder (which a later run may then
    remove) and nothing is written after it was moved."""
    import time

    from tiering.errors import RenderError

    client = write_tiny_client(tmp_path / "in")
    real = outputs.write_tables

    def slow_tables(analysis, loaded, folder):
        time.sleep(1.5)
        return real(analysis, loaded, folder)

    def failing_notebook(*args, **kwargs):
        raise RenderError("the notebook failed", where="report.ipynb")

    monkeypatch.setattr(outputs, "write_tables", slow_tables)
    monkeypatch.setattr(report, "_execute_notebook", failing_notebook)
    with pytest.raises(RenderError) as caught:
        report.build(params.load(client), output=tmp_path / "out")
    kept = caught.value.kept_in
    listed = json.loads((kept / report.FAILURE).read_text(encoding="utf-8"))["files"]
    time.sleep(0.5)
    on_disk = {p.relative_to(kept).as_posix() for p in kept.rglob("*") if p.is_file()}
    assert "tiers.csv" in listed
    assert on_disk - {report.FAILURE} == set(listed)
    assert not (tmp_path / "out").exists()


def test_ctrl_c_during_the_notebook_stops_the_tables_and_keeps_a_consistent_folder(
    tmp_path, monkeypatch
):
    """Ctrl-C while the notebook runs: the tables thread stops at its next check
    (tiering.interrupt), and the run keeps its work aside only once the thread has
    ended, so ``failure.json`` matches the folder (a later run may remove it)."""
    import threading
    import time

    from tiering import interrupt

    client = write_tiny_client(tmp_path / "in")
    stopped = threading.Event()

    def endless_tables(analysis, loaded, folder):
        with open(Path(folder) / "slow_table.csv", "w", encoding="utf-8") as fh:
            for i in range(600):  # a minute, unless interrupted
                fh.write(f"{i}\n")
                fh.flush()
                try:
                    interrupt.check()
                except KeyboardInterrupt:
                    stopped.set()
                    raise
                time.sleep(0.1)

    def interrupted_notebook(*args, **kwargs):
        time.sleep(0.5)
        interrupt.REQUESTED.set()  # what the command line's handler does on SIGINT
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "write_tables", endless_tables)
    monkeypatch.setattr(report, "_execute_notebook", interrupted_notebook)
    try:
        with pytest.raises(KeyboardInterrupt):
            report.build(params.load(client), output=tmp_path / "out")
    finally:
        interrupt.REQUESTED.clear()
    assert stopped.is_set()
    kept = tmp_path / "out.failed"
    listed = json.loads((kept / report.FAILURE).read_text(encoding="utf-8"))["files"]
    assert not owned.failed_strangers(kept), "a file changed after failure.json was written"
    assert "slow_table.csv" in listed


def test_the_tables_stop_after_ctrl_c(tmp_path):
    """With an interrupt requested the tables write nothing more: no CSV, and an action
    list sheet stops between rows (tiering.interrupt)."""
    from tiering import interrupt
    from tiering.analysis import pipeline

    cfg = params.load(write_tiny_client(tmp_path / "in"))
    analysis, loaded = pipeline.run(cfg)
    out = tmp_path / "tables"
    out.mkdir()
    interrupt.REQUESTED.set()
    try:
        with pytest.raises(KeyboardInterrupt):
            outputs.write_tables(analysis, loaded, out)
    finally:
        interrupt.REQUESTED.clear()
    assert not list(out.glob("*.csv"))
    assert outputs.write_tables(analysis, loaded, out)  # and without one, it writes them


def test_waiting_for_the_tables_survives_a_second_ctrl_c():
    """A Ctrl-C while the build waits for the tables thread does not cut the wait short:
    it is raised once the thread has ended."""

    class Ended:
        def __init__(self):
            self.waits = 0

        def wait(self):
            self.waits += 1
            if self.waits == 1:
                raise KeyboardInterrupt
            return True

    ended = Ended()
    with pytest.raises(KeyboardInterrupt):
        interrupt.wait_through(ended)
    assert ended.waits == 2


def test_tables_failing_beside_a_failing_notebook_are_logged(tmp_path, monkeypatch, caplog):
    """The notebook's error is the one raised; the tables' own (here a full disk) is not
    lost: it is logged."""
    from tiering.errors import RenderError

    client = write_tiny_client(tmp_path / "in")

    def full_disk(analysis, loaded, folder):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(folder) / "tiers.csv"))

    def failing_notebook(*args, **kwargs):
        raise RenderError("the notebook failed", where="report.ipynb")

    monkeypatch.setattr(outputs, "write_tables", full_disk)
    monkeypatch.setattr(report, "_execute_notebook", failing_notebook)
    with caplog.at_level("WARNING", logger="tiering.build.report"):
        with pytest.raises(RenderError, match="the notebook failed"):
            report.build(params.load(client), output=tmp_path / "out")
    assert any(
        "tables also failed" in r.getMessage() and "No space" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_parent_folder_is_a_clear_error(tmp_path, capsys):
    client = write_tiny_client(tmp_path / "in")
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        assert report_cli(client, "--output", parent / "acme") == 2
        assert "No permission to write in" in capsys.readouterr().err
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


# --------------------------------------------------------------------------- batch, verify


def test_batch_never_overwrites_an_index_it_did_not_write(tmp_path, capsys):
    client = write_tiny_client(tmp_path / "in")
    root = tmp_path / "site"
    before = put_files(
        root,
        {"index.html": b"<html>the client's intranet page</html>", "batch.json": b'{"jobs": []}'},
    )
    assert cli.main(["batch", str(client), "--output", str(root)]) == 2
    err = capsys.readouterr().err
    assert "holds index.html and batch.json that tiering did not write" in err
    assert snapshot(root) == before


def test_batch_index_and_json_carry_the_generator(tmp_path):
    results = batch.pd.DataFrame([], columns=list(batch.RESULT_COLUMNS))
    batch.write_index(results, tmp_path / "index.html")
    batch._write_json(results, tmp_path / "batch.json")
    assert owned.tiering_batch_file(tmp_path / "index.html")
    assert owned.tiering_batch_file(tmp_path / "batch.json")
    (tmp_path / "batch.json").write_text('{"reports": [], "by": "someone"}', encoding="utf-8")
    assert not owned.tiering_batch_file(tmp_path / "batch.json")


@pytest.mark.slow
def test_verify_rebuild_creates_nothing_named_in_an_edited_manifest(tmp_path):
    client = write_tiny_client(tmp_path / "in")
    out = report.build(params.load(client), output=tmp_path / "acme")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    planted = {
        "cache_dir": str(tmp_path / "planted" / "cache"),
        "temp_directory": str(tmp_path / "planted" / "spill"),
    }
    manifest["parameters"].setdefault("engine", {}).update(planted)
    manifest["parameters"]["engine"]["engine"] = "duckdb"
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = verify.verify(out, rebuild=True)
    assert not (tmp_path / "planted").exists()
    assert (result.checks["kind"] == "rebuild").any()


# --------------------------------------------------------------------------- found in review


@pytest.mark.slow
def test_a_file_saved_into_the_report_folder_during_the_run_survives(tmp_path, monkeypatch):
    """The folder is checked again when the previous report is set aside: a file saved
    into it while the run worked puts the previous report back and stops the run."""
    client = write_tiny_client(tmp_path / "in")
    out = fake_previous_report(tmp_path / "acme")
    original = report._write_manifest

    def write_manifest(folder, *args, **kwargs):
        original(folder, *args, **kwargs)
        (out / "consultant_notes.txt").write_text("call Mr Wang on Monday", encoding="utf-8")

    monkeypatch.setattr(report, "_write_manifest", write_manifest)
    with pytest.raises(
        TieringError,
        match="changed while the report was being made: it now holds consultant_notes.txt",
    ):
        report.build(params.load(client), output=out)
    assert (out / "consultant_notes.txt").read_text(encoding="utf-8") == "call Mr Wang on Monday"
    assert (out / "report.pdf").read_bytes() == b"previous good report"
    assert (tmp_path / "acme.failed" / "report.pdf").is_file()  # the new report is kept aside
    assert not list(tmp_path.glob(".acme.old-*"))


def test_a_users_folder_named_like_a_set_aside_report_is_left_alone(tmp_path):
    plans = tmp_path / ".acme.old-123"
    before = put_files(plans, {"plan.txt": b"the plan"})
    empty = tmp_path / ".acme.old-9"
    empty.mkdir()
    with pytest.raises(DataError):
        report.build(missing_data_params(tmp_path), output=tmp_path / "acme")
    assert snapshot(plans) == before and empty.is_dir()
    assert not (tmp_path / "acme").exists()  # nothing was "restored" onto the output path


def test_a_lock_path_that_is_a_folder_or_a_link_is_a_clear_error(tmp_path, capsys):
    client = write_tiny_client(tmp_path / "in")
    (tmp_path / ".a.lock").mkdir()
    assert report_cli(client, "--output", tmp_path / "a") == 2
    err = capsys.readouterr().err
    assert "Cannot use the lock file" in err and "Traceback" not in err
    (tmp_path / ".b.lock").symlink_to(tmp_path / "victim")
    assert report_cli(client, "--output", tmp_path / "b") == 2
    assert "Cannot use the lock file" in capsys.readouterr().err
    assert not (tmp_path / "victim").exists()  # the link was not followed


def test_a_tilde_in_output_means_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    with pytest.raises(DataError):
        report.build(missing_data_params(tmp_path), output="~/acme")
    assert (tmp_path / "home" / "acme.failed" / "failure.json").is_file()
    assert not (tmp_path / "~").exists()


def test_a_users_batch_json_shaped_like_an_old_one_is_not_overwritten(tmp_path, capsys):
    client = write_tiny_client(tmp_path / "in")
    before = put_files(tmp_path / "site", {"batch.json": b'{"reports": ["Q3 board deck"]}'})
    assert cli.main(["batch", str(client), "--output", str(tmp_path / "site")]) == 2
    assert "batch.json that tiering did not write" in capsys.readouterr().err
    assert snapshot(tmp_path / "site") == before


def test_make_clean_removes_only_what_tiering_wrote(tmp_path):
    reports = tmp_path / "reports"
    fake_previous_report(reports / "acme")
    with pytest.raises(DataError):  # a .failed folder and a lock file of tiering's
        report.build(missing_data_params(tmp_path), output=reports / "beta")
    elsewhere = put_files(tmp_path / "elsewhere", {"thesis.docx": b"four years"})
    (reports / "link").symlink_to(tmp_path / "elsewhere")
    notes = put_files(reports / "acme-notes", {"n.txt": b"notes"})
    fake_previous_report(reports / "edited")
    (reports / "edited" / "report.pdf").write_bytes(b"annotated")
    (reports / ".gitkeep").write_text("", encoding="utf-8")
    removed, kept = owned.clean(reports)
    assert sorted(p.name for p in removed) == [".beta.lock", "acme", "beta.failed"]
    assert sorted(p.name for p in kept) == ["acme-notes", "edited", "link"]
    assert snapshot(tmp_path / "elsewhere") == elsewhere
    assert snapshot(reports / "acme-notes") == notes


def test_a_feature_cache_in_a_users_folder_overwrites_nothing(tmp_path):
    from tiering.analysis import pipeline

    client = write_tiny_client(tmp_path / "in")
    userdir = tmp_path / "userdir"
    before = put_files(
        userdir,
        {"hashes.json": b"alice:hunter2\n", "features": b"a file named like the cache's folder"},
    )
    cfg = params.load(client, overrides=["engine.engine=duckdb", f"engine.cache_dir={userdir}"])
    for _ in range(2):  # the second run reads the cache
        pipeline.run(cfg)
    after = snapshot(userdir)
    assert {k: v for k, v in after.items() if not k.startswith("tiering/")} == before
    assert (userdir / "tiering" / "hashes.json").is_file()
