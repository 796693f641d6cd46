"""The workspace: one folder holding everything a user made, safe across restarts and concurrent users.

    python -m lifecycle_core datasets --workspace ./workspace

Layout::

    workspace/
      lifecycle.sqlite      catalog (SQLite, WAL mode): datasets, training jobs, users' stage labels
      secret.key            key for customer-id pseudonyms (never leaves the workspace)
      datasets/<id>/*.parquet  one immutable folder per stored dataset
      tmp/                  staging; a crash leaves debris here, never in datasets/

A dataset is written to tmp/, renamed into datasets/ and only then recorded in the database in one
transaction, so readers see either the old state or the new one, never a half-written dataset.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from .ingest import PreparedDataset

DB_NAME = "lifecycle.sqlite"
KEY_NAME = "secret.key"
# Staging debris younger than this may belong to a writer in another process; leave it alone.
STALE_SECONDS = 600

# Each entry upgrades the schema by one version; later features append, never edit.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        period TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        sources TEXT NOT NULL,
        counts TEXT NOT NULL,
        tables TEXT NOT NULL,
        report TEXT NOT NULL,
        options TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dataset TEXT NOT NULL,
        model_name TEXT NOT NULL,
        config TEXT NOT NULL,
        device TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        pid INTEGER,
        create_time REAL,
        progress REAL NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        step INTEGER NOT NULL DEFAULT 0,
        max_steps INTEGER NOT NULL DEFAULT 0,
        loss REAL,
        val_macro_f1 REAL,
        eta_seconds REAL,
        history TEXT NOT NULL DEFAULT '[]',
        error TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        resume INTEGER NOT NULL DEFAULT 0,
        resumed_from INTEGER
    );
    CREATE INDEX jobs_state ON jobs (state);
    """,
    """
    CREATE TABLE stage_labels (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dataset TEXT NOT NULL,
        product_id TEXT NOT NULL,
        period TEXT NOT NULL,
        stage INTEGER NOT NULL CHECK (stage BETWEEN 0 AND 3),
        author TEXT NOT NULL,
        created_at TEXT NOT NULL,
        undone_at TEXT,
        undone_by TEXT
    );
    CREATE INDEX stage_labels_dataset ON stage_labels (dataset, product_id);
    """,
    """
    CREATE TABLE saved_mappings (
        signature TEXT PRIMARY KEY,
        table_name TEXT NOT NULL,
        columns TEXT NOT NULL,
        file TEXT NOT NULL,
        saved_at TEXT NOT NULL
    );
    """,
]
LABEL_COLUMNS = ["id", "product_id", "period", "stage", "author", "created_at", "undone_at", "undone_by"]
_AUTHOR_RE = re.compile(r"[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class WorkspaceError(Exception):
    """A workspace operation was refused; the message says why and what to do."""


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    name: str
    created_at: str
    period: str
    content_hash: str
    sources: list
    counts: dict
    tables: list
    report: dict
    options: dict
    path: Path

    def summary(self) -> dict:
        c = self.counts
        return {
            "name": self.name,
            "created_at": self.created_at,
            "products": c.get("products"),
            "periods": c.get("periods"),
            "first_period": c.get("first_period"),
            "last_period": c.get("last_period"),
            "sales_rows": c.get("sales_rows"),
            "files": ", ".join(
                dict.fromkeys(s["name"] for s in self.sources)
            ),  # a products export is also read as stock
            "warnings": sum(1 for p in self.report.get("problems", []) if p["severity"] == "warning"),
        }


_NAME_RE = re.compile(r"[^/\\]{1,100}")
# Control, format (bidi overrides, zero-width), line/paragraph separators, surrogates, private and
# unassigned characters: a name holding one can read differently from what it is.
_INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def visible_name(name: object) -> bool:
    """Whether ``name`` is a string without control, bidi or other invisible characters."""
    import unicodedata

    return isinstance(name, str) and not any(unicodedata.category(c) in _INVISIBLE for c in name)


class Workspace:
    """A folder of datasets (and later models, jobs, predictions). Safe to open from several processes."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        try:
            (self.root / "datasets").mkdir(parents=True, exist_ok=True)
            (self.root / "tmp").mkdir(exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot create workspace folder {self.root}: {exc}") from exc
        self.db_path = self.root / DB_NAME
        with self._connect() as con:
            self._migrate(con)
        self.secret_key()  # created up front, so a failed ingest never leaves even a new key behind
        self._sweep()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # -- database ---------------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA foreign_keys=ON")
            con.row_factory = sqlite3.Row
            yield con
        finally:
            con.close()

    def _migrate(self, con: sqlite3.Connection) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            for i in range(version, len(MIGRATIONS)):
                # executescript() would commit the open transaction; run statements one by one instead.
                for stmt in filter(str.strip, MIGRATIONS[i].split(";")):
                    con.execute(stmt)
                con.execute(f"PRAGMA user_version={i + 1}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        with self._connect() as con:
            return int(con.execute("PRAGMA user_version").fetchone()[0])

    # -- secrets ----------------------------------------------------------------------------------

    def secret_key(self) -> bytes:
        """The workspace's pseudonymisation key, created on first use (32 random bytes, mode 0600)."""
        path = self.root / KEY_NAME
        if not path.exists():
            tmp = self.root / "tmp" / f"key-{uuid.uuid4().hex}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
            try:
                # link() fails if another process created the key first: theirs wins, consistently.
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        key = path.read_bytes()
        if len(key) < 16:
            raise WorkspaceError(f"{path} is damaged ({len(key)} bytes); restore it from a backup")
        return key

    # -- datasets ---------------------------------------------------------------------------------

    def check_dataset_name(self, name: str, *, replace: bool = False) -> None:
        """Raise WorkspaceError if ``name`` is not a valid new dataset name (checked before any work)."""
        if not visible_name(name) or not _NAME_RE.fullmatch(name) or not name.strip():
            raise WorkspaceError(
                f"dataset name {name!r} is not valid: use 1-100 characters without slashes, control or bidi characters"
            )
        if not replace and self._row(name) is not None:
            raise WorkspaceError(f"a dataset named {name!r} already exists; choose another name or replace it")

    def save_dataset(self, name: str, prepared: PreparedDataset, *, replace: bool = False) -> DatasetInfo:
        """Store a prepared dataset atomically; with ``replace`` an existing one of that name is swapped out."""
        self.check_dataset_name(name, replace=replace)
        ds_id = uuid.uuid4().hex[:12]
        staging = self.root / "tmp" / f"ds-{ds_id}"
        final = self.root / "datasets" / ds_id
        staging.mkdir()
        try:
            for table, frame in prepared.tables.items():
                frame.to_parquet(staging / f"{table}.parquet", index=False)
            meta = {
                "id": ds_id,
                "name": name,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "period": prepared.period,
                "content_hash": prepared.content_hash,
                "sources": prepared.sources,
                "counts": prepared.counts,
                "tables": sorted(prepared.tables),
                "report": prepared.report.to_dict(),
                "options": prepared.options.to_dict(),
            }
            # A copy beside the data lets a damaged database be rebuilt from the folders.
            (staging / "meta.json").write_text(json.dumps(meta, default=str, ensure_ascii=False, indent=1), "utf-8")
            os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        old_id = None
        try:
            with self._connect() as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    row = con.execute("SELECT id FROM datasets WHERE name=?", (name,)).fetchone()
                    if row is not None:
                        if not replace:
                            raise WorkspaceError(f"a dataset named {name!r} already exists; choose another name")
                        old_id = row["id"]
                        con.execute("DELETE FROM datasets WHERE id=?", (old_id,))
                    con.execute(
                        "INSERT INTO datasets VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (
                            ds_id,
                            name,
                            meta["created_at"],
                            meta["period"],
                            meta["content_hash"],
                            _dumps(meta["sources"]),
                            _dumps(meta["counts"]),
                            _dumps(meta["tables"]),
                            _dumps(meta["report"]),
                            _dumps(meta["options"]),
                        ),
                    )
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        if old_id:
            shutil.rmtree(self.root / "datasets" / old_id, ignore_errors=True)
        return self.dataset(name)

    def _row(self, name: str) -> sqlite3.Row | None:
        with self._connect() as con:
            return con.execute("SELECT * FROM datasets WHERE name=?", (name,)).fetchone()

    def _info(self, row: sqlite3.Row) -> DatasetInfo:
        return DatasetInfo(
            id=row["id"],
            name=row["name"],
            created_at=row["created_at"],
            period=row["period"],
            content_hash=row["content_hash"],
            sources=json.loads(row["sources"]),
            counts=json.loads(row["counts"]),
            tables=json.loads(row["tables"]),
            report=json.loads(row["report"]),
            options=json.loads(row["options"]),
            path=self.root / "datasets" / row["id"],
        )

    def dataset(self, name: str) -> DatasetInfo:
        row = self._row(name)
        if row is None:
            names = [d.name for d in self.list_datasets()]
            raise WorkspaceError(f"no dataset named {name!r} in {self.root}; datasets: {names or 'none yet'}")
        return self._info(row)

    def list_datasets(self) -> list[DatasetInfo]:
        with self._connect() as con:
            rows = con.execute("SELECT * FROM datasets ORDER BY created_at, name").fetchall()
        return [self._info(r) for r in rows]

    def load_table(self, name: str, table: str, *, columns: list[str] | None = None) -> pd.DataFrame:
        """One table of a stored dataset (products, sales, transactions, reviews, search_terms, inventory)."""
        info = self.dataset(name)
        if table not in info.tables:
            raise WorkspaceError(f"dataset {name!r} has no {table!r} table; it has {info.tables}")
        return pd.read_parquet(info.path / f"{table}.parquet", columns=columns)

    def delete_dataset(self, name: str) -> None:
        """Remove a dataset and its files. The catalog row goes first, so no reader finds a half-deleted one."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            row = con.execute("SELECT id FROM datasets WHERE name=?", (name,)).fetchone()
            if row is None:
                con.execute("ROLLBACK")
                raise WorkspaceError(f"no dataset named {name!r} to delete")
            con.execute("DELETE FROM datasets WHERE id=?", (row["id"],))
            con.execute("DELETE FROM stage_labels WHERE dataset=?", (name,))
            con.execute("COMMIT")
        shutil.rmtree(self.root / "datasets" / row["id"], ignore_errors=True)

    # -- stage labels set by users ----------------------------------------------------------------

    def add_stage_label(self, dataset: str, product_id: str, stage: int, period, *, author: str) -> int:
        """Store a merchandiser's stage for ``product_id`` from ``period`` on (a date; the period holding it).

        Kept by dataset *name*, so the next export of the same shop, ingested with --replace, keeps its
        corrections. Returns the label's id (for undo). ``author`` is who set it (cut to 100 characters)."""
        self.dataset(dataset)  # raises, naming the datasets there are, if it does not exist
        if int(stage) not in (0, 1, 2, 3):
            raise WorkspaceError(f"stage must be 0-3 (Introduction, Growth, Maturity, Decline), got {stage!r}")
        ids = self.load_table(dataset, "products", columns=["product_id"])["product_id"].astype("str")
        if str(product_id) not in set(ids):
            raise WorkspaceError(f"dataset {dataset!r} has no product {product_id!r}")
        when = pd.Timestamp(period)
        if pd.isna(when):
            raise WorkspaceError(f"the label needs the date it holds from, got {period!r}")
        who = _AUTHOR_RE.sub("", str(author or "")).strip()[:100] or "unknown"
        with self._connect() as con:
            cur = con.execute(
                "INSERT INTO stage_labels (dataset, product_id, period, stage, author, created_at) VALUES (?,?,?,?,?,?)",
                (dataset, str(product_id), str(when.date()), int(stage), who, _now()),
            )
            return int(cur.lastrowid)

    def stage_labels(self, dataset: str, *, include_undone: bool = False) -> pd.DataFrame:
        """The users' stage labels of ``dataset``, oldest first: LABEL_COLUMNS (period as datetime)."""
        sql = "SELECT * FROM stage_labels WHERE dataset=?" + ("" if include_undone else " AND undone_at IS NULL")
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY id", (dataset,)).fetchall()
        frame = pd.DataFrame([dict(r) for r in rows], columns=["dataset", *LABEL_COLUMNS])[LABEL_COLUMNS]
        frame["period"] = pd.to_datetime(frame["period"])
        return frame

    def undo_stage_label(self, label_id: int, *, author: str) -> None:
        """Withdraw a user label (kept in the history, no longer applied)."""
        who = _AUTHOR_RE.sub("", str(author or "")).strip()[:100] or "unknown"
        with self._connect() as con:
            cur = con.execute(
                "UPDATE stage_labels SET undone_at=?, undone_by=? WHERE id=? AND undone_at IS NULL",
                (_now(), who, int(label_id)),
            )
            if cur.rowcount == 0:
                raise WorkspaceError(f"no active stage label with id {label_id}")

    # -- mappings the user confirmed, per export layout -------------------------------------------

    def save_mapping(self, signature: str, mapping, *, file: str) -> None:
        """Remember ``mapping`` (a TableMapping) for files whose header has ``signature``
        (plan.header_signature): next month's export of the same shop maps itself."""
        from .schema import TABLES

        if mapping.table not in TABLES:
            raise WorkspaceError(f"cannot save a mapping to table {mapping.table!r}; tables: {list(TABLES)}")
        # Columns the user left unmapped are kept as null, so that they stay unmapped next time.
        columns = {**{c: None for c in mapping.extra}, **dict(mapping.columns)}
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO saved_mappings (signature, table_name, columns, file, saved_at) "
                "VALUES (?,?,?,?,?)",
                (signature, mapping.table, _dumps(columns), str(file)[:200], _now()),
            )

    def saved_mappings(self) -> dict[str, dict]:
        """signature -> {"mapping": TableMapping, "file": the file it was confirmed on, "saved_at"}."""
        from .mapping import TableMapping

        with self._connect() as con:
            rows = con.execute("SELECT * FROM saved_mappings ORDER BY saved_at").fetchall()
        out = {}
        for r in rows:
            cols = json.loads(r["columns"])
            mapped = {c: f for c, f in cols.items() if f is not None}
            tm = TableMapping(r["table_name"], mapped, {c: 1.0 for c in cols}, 1.0)
            out[r["signature"]] = {"mapping": tm, "file": r["file"], "saved_at": r["saved_at"]}
        return out

    def forget_mapping(self, signature: str) -> None:
        with self._connect() as con:
            cur = con.execute("DELETE FROM saved_mappings WHERE signature=?", (signature,))
            if cur.rowcount == 0:
                raise WorkspaceError(f"no saved mapping with signature {signature!r}")

    def _sweep(self) -> None:
        """Remove staging debris and dataset folders no catalog row points to (left by a crash)."""
        cutoff = time.time() - STALE_SECONDS
        with self._connect() as con:
            known = {r[0] for r in con.execute("SELECT id FROM datasets")}
        for folder in (self.root / "tmp", self.root / "datasets"):
            for p in folder.iterdir():
                if folder.name == "datasets" and p.name in known:
                    continue
                try:
                    if p.stat().st_mtime < cutoff:
                        shutil.rmtree(p) if p.is_dir() else p.unlink()
                except OSError:
                    pass  # another process got there first


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _dumps(obj: object) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)
