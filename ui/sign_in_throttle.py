"""Wrong passwords counted where every server process sees them: a small SQLite file in the workspace.

A count kept in one process's memory is reset by a restart and split by a second process behind a load
balancer; this one is neither. Each guess is a row (time, session, client address), written before the
password is checked and in the same transaction as the count that allowed it, so that many guesses sent
at once cannot all pass one count (a salted hash takes tens of milliseconds to check); a right password
deletes its row. The sign-in waits while the last minute holds too many rows for the session, for the
address, or in all.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

WINDOW_SECONDS = 60.0
MAX_SESSION_FAILS = 5  # one browser session
MAX_ADDRESS_FAILS = 10  # one client address, however many sessions it opens
MAX_GLOBAL_FAILS = 30  # everyone: bounds a guesser with many addresses (it also locks out real users)
KEEP_SECONDS = 3600.0  # older rows are deleted as new ones come


class SignInThrottle:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _db(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=10, isolation_level=None)  # transactions by hand
        con.execute("CREATE TABLE IF NOT EXISTS failures (at REAL NOT NULL, session TEXT, address TEXT)")
        con.execute("CREATE INDEX IF NOT EXISTS failures_at ON failures (at)")
        return con

    def attempt(self, now: float, session: str | None, address: str | None) -> tuple[float, int | None]:
        """(seconds to wait, None) when this guess must wait; else (0, the id of its row, recorded as a
        failure until ``succeeded`` removes it)."""
        con = self._db()
        try:
            con.execute("BEGIN IMMEDIATE")  # one counter at a time, across processes
            con.execute("DELETE FROM failures WHERE at < ?", (now - KEEP_SECONDS,))
            wait = self._wait(con, now, session, address)
            if wait > 0:
                con.commit()
                return wait, None
            cur = con.execute("INSERT INTO failures VALUES (?, ?, ?)", (now, session or "", address or ""))
            con.commit()
            return 0.0, cur.lastrowid
        finally:
            con.close()

    def succeeded(self, row: int | None) -> None:
        """The guess of ``row`` was right: it is no failure."""
        if row is None:
            return
        with self._db() as con:
            con.execute("DELETE FROM failures WHERE rowid = ?", (row,))
        con.close()

    def wait(self, now: float, session: str | None, address: str | None) -> float:
        """Seconds before this session may guess again (0: it may)."""
        con = self._db()
        try:
            return self._wait(con, now, session, address)
        finally:
            con.close()

    @staticmethod
    def _wait(con: sqlite3.Connection, now: float, session: str | None, address: str | None) -> float:
        since = now - WINDOW_SECONDS
        waits = []
        for where, args, limit in (
            ("session = ?", (session,), MAX_SESSION_FAILS if session else 0),
            ("address = ?", (address,), MAX_ADDRESS_FAILS if address else 0),
            ("1 = 1", (), MAX_GLOBAL_FAILS),
        ):
            if not limit:
                continue
            # The limit-th most recent failure: the lock lasts until it leaves the window.
            row = con.execute(
                f"SELECT at FROM failures WHERE at >= ? AND {where} ORDER BY at DESC LIMIT 1 OFFSET ?",
                (since, *args, limit - 1),
            ).fetchone()
            if row is not None:
                waits.append(row[0] + WINDOW_SECONDS - now)
        return max(waits, default=0.0)

    def clear(self) -> None:
        con = self._db()
        con.execute("DELETE FROM failures")
        con.close()
