"""SQLite registry of mining runs, the alphas they found and sweep results (WAL mode).

Tables: ``runs`` (one row per run: job, method, seed, status, start/finish times, steps, formulas
evaluated, pool metrics per split, output dir, spec digest), ``alphas`` (one row per pool member
of a finished run or checkpoint: canonical formula, weight, whether it is in the final pool,
metrics per split) and ``sweeps`` (one row per sweep combination). ``Registry.top_alphas``
ranks alphas by a metric of one split (the validation split by default).

The file is marked as quantrl's: ``PRAGMA application_id`` is ``APPLICATION_ID`` ("QRL1") and
``PRAGMA user_version`` the schema version. Opening refuses, with a ConfigError naming the path
and without writing anything, a file that is not SQLite (or is damaged), another application's
database (a different application id, or tables that are not quantrl's) and a registry written
by a newer schema; damage anywhere in the file (``PRAGMA quick_check``) is refused the same way,
so every command on a damaged registry fails with one clear line. A missing or empty file becomes
a new registry; a registry made before the
marks existed (no application id, only quantrl's tables) is adopted. Every later SQLite error
(a file damaged while in use) is a ConfigError naming the path too. To add a table, add its
``CREATE`` statement to ``TABLES`` (``CREATE ... IF NOT EXISTS`` keeps older registries valid);
a change to an existing table bumps ``SCHEMA_VERSION`` with a migration in ``_migrate``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from quantrl.errors import ConfigError

__all__ = ["APPLICATION_ID", "METRICS", "SCHEMA_VERSION", "SPLITS", "Registry"]

SPLITS = ("train", "valid", "test")
METRICS = ("ic", "rank_ic", "icir", "rank_icir")

APPLICATION_ID = 0x51524C31
"""``PRAGMA application_id`` of quantrl registries: the bytes "QRL1"."""
SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of the tables below."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_METRIC_COLUMNS = ", ".join(f"{s}_{m} REAL" for s in SPLITS for m in METRICS)

TABLES: dict[str, str] = {
    "runs": f"""CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job TEXT NOT NULL,
        method TEXT NOT NULL,
        seed INTEGER NOT NULL,
        status TEXT NOT NULL,
        started REAL NOT NULL,
        finished REAL,
        steps INTEGER DEFAULT 0,
        n_formulas INTEGER DEFAULT 0,
        output_dir TEXT,
        spec_digest TEXT,
        message TEXT,
        {_METRIC_COLUMNS}
    )""",
    "alphas": f"""CREATE TABLE IF NOT EXISTS alphas (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        job TEXT NOT NULL,
        formula TEXT NOT NULL,
        weight REAL,
        in_pool INTEGER NOT NULL,
        created REAL NOT NULL,
        {_METRIC_COLUMNS}
    )""",
    "sweeps": """CREATE TABLE IF NOT EXISTS sweeps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sweep TEXT NOT NULL,
        kind TEXT NOT NULL,
        split TEXT NOT NULL,
        params TEXT NOT NULL,
        metrics TEXT NOT NULL,
        created REAL NOT NULL
    )""",
}
"""Table name -> its CREATE statement."""

INDEXES = (
    "CREATE INDEX IF NOT EXISTS alphas_formula ON alphas(formula)",
    "CREATE INDEX IF NOT EXISTS sweeps_name ON sweeps(sweep)",
    "CREATE INDEX IF NOT EXISTS runs_job ON runs(job)",
)


class Registry:
    """Runs, alphas and sweeps in one SQLite file of quantrl's (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"registry {self.path}: cannot create its folder: {exc}") from None
        self._open()

    # ------------------------------------------------------------------ opening
    def _open(self) -> None:
        """Check the file is ours (or new), then create the tables and mark it."""
        self._check_header()
        with self._raw() as con:
            problem = str(con.execute("PRAGMA quick_check(1)").fetchone()[0])
            if problem != "ok":
                raise self._damaged(sqlite3.DatabaseError(problem))
            app_id = int(con.execute("PRAGMA application_id").fetchone()[0])
            version = int(con.execute("PRAGMA user_version").fetchone()[0])
            tables = {
                str(r[0])
                for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not str(r[0]).startswith("sqlite_")
            }
            if app_id not in (0, APPLICATION_ID):
                raise ConfigError(
                    f"{self.path} is not a quantrl registry: it belongs to another application "
                    f"(SQLite application_id {app_id:#010x}); choose another registry path"
                )
            foreign = sorted(tables - set(TABLES))
            if app_id == 0 and foreign:
                raise ConfigError(
                    f"{self.path} is not a quantrl registry: it is an SQLite database with other "
                    f"tables ({', '.join(foreign[:5])}); choose another registry path"
                )
            for name in sorted(tables & set(TABLES)):
                have = {str(r[1]) for r in con.execute(f"PRAGMA table_info({name})")}
                lacking = sorted(_columns()[name] - have)
                if lacking:
                    raise ConfigError(
                        f"{self.path} is not a quantrl registry: its table {name!r} lacks the "
                        f"columns {', '.join(lacking[:5])}; choose another registry path"
                    )
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"registry {self.path} has schema version {version}, newer than this "
                    f"quantrl's {SCHEMA_VERSION}; upgrade quantrl to use it"
                )
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")  # all or nothing: DDL would otherwise autocommit
            for ddl in (*TABLES.values(), *INDEXES):
                con.execute(ddl)
            self._migrate(con, version)
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _check_header(self) -> None:
        try:
            with self.path.open("rb") as handle:
                head = handle.read(100)
        except FileNotFoundError:
            return  # a new registry
        except OSError as exc:
            raise ConfigError(f"registry {self.path} cannot be read: {exc}") from None
        if head and not head.startswith(_SQLITE_MAGIC):
            raise ConfigError(
                f"{self.path} is not an SQLite database (damaged, or another kind of file); "
                "choose another registry path or restore the file"
            )
        if head and len(head) < 100:
            raise ConfigError(f"registry {self.path} is truncated ({len(head)} bytes)")

    @staticmethod
    def _migrate(con: sqlite3.Connection, version: int) -> None:
        """Bring tables of schema ``version`` up to ``SCHEMA_VERSION`` (none needed yet)."""
        del con, version

    @contextmanager
    def _raw(self) -> Iterator[sqlite3.Connection]:
        """A connection that changes nothing on its own (no journal-mode switch)."""
        try:
            con = sqlite3.connect(self.path, timeout=30.0)
        except sqlite3.Error as exc:
            raise ConfigError(f"registry {self.path} cannot be opened: {exc}") from None
        try:
            yield con
        except sqlite3.Error as exc:
            raise self._damaged(exc) from None
        finally:
            con.close()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._raw() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.row_factory = sqlite3.Row
            with con:
                yield con

    def _damaged(self, exc: sqlite3.Error) -> ConfigError:
        text = " ".join(str(exc).split())[:300]  # quick_check reports span lines
        if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
            return ConfigError(f"registry {self.path} is locked by another process: {text}")
        return ConfigError(
            f"registry {self.path} is damaged or not a quantrl registry ({text}); restore it "
            "from a backup or choose another path"
        )

    def journal_mode(self) -> str:
        """The database's journal mode (``wal``)."""
        with self._connect() as con:
            return str(con.execute("PRAGMA journal_mode").fetchone()[0])

    def marks(self) -> tuple[int, int]:
        """(application_id, user_version) of the file."""
        with self._raw() as con:
            app = int(con.execute("PRAGMA application_id").fetchone()[0])
            return app, int(con.execute("PRAGMA user_version").fetchone()[0])

    # ------------------------------------------------------------------ runs
    def start_run(
        self, job: str, method: str, seed: int, output_dir: str, spec_digest: str = ""
    ) -> int:
        """Record a new running run and return its id."""
        with self._connect() as con:
            cur = con.execute(
                "INSERT INTO runs (job, method, seed, status, started, output_dir, spec_digest)"
                " VALUES (?, ?, ?, 'running', ?, ?, ?)",
                (job, method, int(seed), time.time(), output_dir, spec_digest),
            )
            return int(cur.lastrowid or 0)

    def update_run(self, run_id: int, **values: Any) -> None:
        """Set columns of a run (status, steps, n_formulas, finished, message, <split>_<metric>)."""
        allowed = {"status", "steps", "n_formulas", "finished", "message"} | {
            f"{s}_{m}" for s in SPLITS for m in METRICS
        }
        bad = set(values) - allowed
        if bad:
            raise ConfigError(f"unknown run column(s): {sorted(bad)}")
        if not values:
            return
        cols = ", ".join(f"{k} = ?" for k in values)
        with self._connect() as con:
            con.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*values.values(), int(run_id)))

    def run(self, run_id: int) -> dict[str, Any] | None:
        """One run as a dict, or None."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        return dict(row) if row else None

    def runs(self, job: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Most recent runs first (optionally of one job)."""
        sql = "SELECT * FROM runs"
        args: tuple[Any, ...] = ()
        if job:
            sql += " WHERE job = ?"
            args = (job,)
        sql += " ORDER BY id DESC LIMIT ?"
        with self._connect() as con:
            return [dict(r) for r in con.execute(sql, (*args, int(limit))).fetchall()]

    def last_run(self, job: str) -> dict[str, Any] | None:
        """The job's most recent run, or None."""
        rows = self.runs(job, limit=1)
        return rows[0] if rows else None

    # ------------------------------------------------------------------ alphas
    def record_alphas(
        self,
        run_id: int,
        job: str,
        members: Sequence[dict[str, Any]],
    ) -> None:
        """Replace the run's alphas with ``members`` (formula, weight, in_pool, <split>_<metric>)."""
        now = time.time()
        cols = [f"{s}_{m}" for s in SPLITS for m in METRICS]
        with self._connect() as con:
            con.execute("DELETE FROM alphas WHERE run_id = ?", (int(run_id),))
            for m in members:
                con.execute(
                    "INSERT INTO alphas (run_id, job, formula, weight, in_pool, created, "
                    + ", ".join(cols)
                    + ") VALUES (?, ?, ?, ?, ?, ?, "
                    + ", ".join("?" for _ in cols)
                    + ")",
                    (
                        int(run_id),
                        job,
                        str(m["formula"]),
                        float(m.get("weight", 0.0)),
                        int(bool(m.get("in_pool", True))),
                        now,
                        *[_num(m.get(c)) for c in cols],
                    ),
                )

    def alphas(self, run_id: int) -> list[dict[str, Any]]:
        """Alphas of one run, in insertion order."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT * FROM alphas WHERE run_id = ? ORDER BY id", (int(run_id),)
            ).fetchall()
        return [dict(r) for r in rows]

    def record_sweep(
        self, sweep: str, kind: str, split: str, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Replace the stored results of ``sweep`` with ``rows`` ({"params": ..., "metrics": ...})."""
        now = time.time()
        with self._connect() as con:
            con.execute("DELETE FROM sweeps WHERE sweep = ?", (sweep,))
            for r in rows:
                con.execute(
                    "INSERT INTO sweeps (sweep, kind, split, params, metrics, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (sweep, kind, split, dumps(r["params"]), _metrics_json(r["metrics"]), now),
                )

    def sweep_results(self, sweep: str) -> list[dict[str, Any]]:
        """Stored rows of a sweep: params and metrics as dicts (NaN for missing metrics)."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT params, metrics FROM sweeps WHERE sweep = ? ORDER BY id", (sweep,)
            ).fetchall()
        return [
            {
                "params": json.loads(r["params"]),
                "metrics": {
                    k: (float("nan") if v is None else v)
                    for k, v in json.loads(r["metrics"]).items()
                },
            }
            for r in rows
        ]

    def top_alphas(
        self, metric: str = "rank_ic", split: str = "valid", limit: int = 20, job: str | None = None
    ) -> list[dict[str, Any]]:
        """Best distinct formulas by ``split``_``metric`` (largest absolute value first).

        The validation split by default: choosing alphas by their test metric would make the
        test split part of the selection.
        """
        if metric not in METRICS:
            raise ConfigError(f"metric must be one of {METRICS}, got {metric!r}")
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
        col = f"{split}_{metric}"
        where = f"WHERE {col} IS NOT NULL" + (" AND job = ?" if job else "")
        sql = (
            f"SELECT formula, job, run_id, weight, in_pool, {', '.join(_all_cols())} FROM alphas "
            f"{where} ORDER BY ABS({col}) DESC"
        )
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        with self._connect() as con:
            for row in con.execute(sql, (job,) if job else ()):
                if row["formula"] in seen:
                    continue
                seen.add(row["formula"])
                out.append(dict(row))
                if len(out) >= limit:
                    break
        return out


@cache
def _columns() -> dict[str, frozenset[str]]:
    """Column names of every table in ``TABLES``."""
    con = sqlite3.connect(":memory:")
    try:
        out = {}
        for name, ddl in TABLES.items():
            con.execute(ddl)
            out[name] = frozenset(str(r[1]) for r in con.execute(f"PRAGMA table_info({name})"))
        return out
    finally:
        con.close()


def _all_cols() -> list[str]:
    return [f"{s}_{m}" for s in SPLITS for m in METRICS]


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


def _metrics_json(metrics: dict[str, float]) -> str:
    return json.dumps({k: _num(v) for k, v in metrics.items()}, separators=(",", ":"))


def dumps(value: Any) -> str:
    """Compact JSON for message columns."""
    return json.dumps(value, default=str, separators=(",", ":"))
