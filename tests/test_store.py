"""The workspace: persistence, atomic replace and delete, concurrent readers and writers, crash debris."""

import multiprocessing as mp
import os
import threading
import time

import pytest

from lifecycle_core.ingest import ingest
from lifecycle_core.readers import SourceFile
from lifecycle_core.store import MIGRATIONS, STALE_SECONDS, Workspace, WorkspaceError

SALES = "product_id,date,units\nA,2024-01-01,3\nA,2024-01-08,5\nB,2024-01-01,2\n"


def _src(units: int = 3) -> list[SourceFile]:
    return [SourceFile("sales.csv", SALES.replace(",3\n", f",{units}\n").encode())]


def test_survives_restart(tmp_path):
    ws = Workspace(tmp_path / "w")
    ingest(ws, "d1", _src())
    again = Workspace(tmp_path / "w")
    info = again.dataset("d1")
    assert info.counts["products"] == 2 and info.counts["periods"] == 2
    assert again.load_table("d1", "sales")["units"].sum() == 10
    assert again.schema_version == len(MIGRATIONS)
    assert (tmp_path / "w" / "lifecycle.sqlite").exists()


def test_dataset_metadata_is_complete(ws):
    info = ingest(ws, "d1", _src())
    assert info.sources[0]["name"] == "sales.csv" and len(info.sources[0]["sha256"]) == 64
    assert info.sources[0]["mapping"] == {"product_id": "product_id", "date": "date", "units": "units"}
    assert info.period == "W" and len(info.content_hash) == 64 and info.created_at
    assert set(info.tables) == {"products", "sales"}
    assert (info.path / "meta.json").exists()


def test_content_hash_depends_on_content(ws):
    a = ingest(ws, "a", _src(3)).content_hash
    b = ingest(ws, "b", _src(3)).content_hash
    c = ingest(ws, "c", _src(4)).content_hash
    assert a == b != c


def test_replace_swaps_atomically_and_removes_old_files(ws):
    old = ingest(ws, "d", _src(3))
    new = ingest(ws, "d", _src(9), replace=True)
    assert new.id != old.id and not old.path.exists() and new.path.exists()
    assert ws.load_table("d", "sales")["units"].sum() == 16
    assert [d.name for d in ws.list_datasets()] == ["d"]


def test_delete_removes_files(ws):
    info = ingest(ws, "d", _src())
    ws.delete_dataset("d")
    assert not info.path.exists() and ws.list_datasets() == []
    with pytest.raises(WorkspaceError, match="no dataset named 'd'"):
        ws.dataset("d")
    with pytest.raises(WorkspaceError, match="to delete"):
        ws.delete_dataset("d")


def test_missing_table_and_bad_names(ws):
    ingest(ws, "d", _src())
    with pytest.raises(WorkspaceError, match="has no 'reviews' table"):
        ws.load_table("d", "reviews")
    for bad in ["", "   ", "a/b", "x" * 101, "tab\there"]:
        with pytest.raises(WorkspaceError, match="not valid"):
            ws.check_dataset_name(bad)
    ws.check_dataset_name("春季 新品 2024")  # unicode names are fine


def test_secret_key_is_stable_and_private(ws):
    k1 = ws.secret_key()
    assert k1 == Workspace(ws.root).secret_key() and len(k1) == 32
    assert oct((ws.root / "secret.key").stat().st_mode & 0o777) == "0o600"


def test_crash_debris_is_swept_but_fresh_staging_is_kept(tmp_path):
    ws = Workspace(tmp_path / "w")
    ingest(ws, "d", _src())
    old_tmp = ws.root / "tmp" / "ds-dead"
    old_tmp.mkdir()
    orphan = ws.root / "datasets" / "orphan"
    orphan.mkdir()
    fresh = ws.root / "tmp" / "ds-inflight"
    fresh.mkdir()
    past = time.time() - STALE_SECONDS - 5
    os.utime(old_tmp, (past, past))
    os.utime(orphan, (past, past))
    Workspace(ws.root)
    assert not old_tmp.exists() and not orphan.exists()
    assert fresh.exists()  # may belong to a writer in another process
    assert ws.dataset("d").path.exists()


def test_readers_keep_working_while_a_writer_writes(ws):
    ingest(ws, "base", _src())
    errors: list[Exception] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                names = [d.name for d in ws.list_datasets()]
                assert "base" in names
                assert ws.load_table("base", "sales")["units"].sum() == 10
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(8):
        ingest(ws, f"w{i}", _src(i + 1))
        ingest(ws, "w0", _src(i + 2), replace=True)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert len(ws.list_datasets()) == 9


def _ingest_in_process(root: str, name: str, q) -> None:
    try:
        ingest(Workspace(root), name, _src())
        q.put("ok")
    except WorkspaceError as exc:
        q.put(f"refused: {exc}")


def test_two_processes_racing_for_one_name(tmp_path):
    root = str(tmp_path / "w")
    Workspace(root)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_ingest_in_process, args=(root, "same", q)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    results = sorted(q.get(timeout=5) for _ in procs)
    assert results.count("ok") == 1
    assert all("already exists" in r for r in results if r != "ok")
    ws = Workspace(root)
    assert [d.name for d in ws.list_datasets()] == ["same"]
    assert len(list((ws.root / "datasets").iterdir())) == 1  # losers left no folders


@pytest.mark.parametrize("bad", ["demo\n", "demo\r", "abc\u202efdp.exe", "a\u200bb", "x\x7f", "a/b", " ", ""])
def test_dataset_and_model_names_refuse_newlines_and_invisible_characters(tmp_path, bad):
    from lifecycle_core.jobs import JobError, check_model_name
    from lifecycle_core.store import Workspace, WorkspaceError

    with pytest.raises(WorkspaceError, match="not valid"):
        Workspace(tmp_path / "ws").check_dataset_name(bad)
    with pytest.raises(JobError, match="not valid"):
        check_model_name(bad)


def test_names_in_any_script_stay_valid(tmp_path):
    from lifecycle_core.jobs import check_model_name
    from lifecycle_core.store import Workspace

    Workspace(tmp_path / "ws").check_dataset_name("春季 目录 2024")
    check_model_name("模型-1.v2")
