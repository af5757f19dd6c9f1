"""SQLite registry of mining runs, the alphas they found, sweep results and the trial ledger.

Tables: ``runs`` (one row per run: job, method, seed, status, start/finish times, steps, formulas
evaluated, pool metrics per split, output dir, spec digest), ``alphas`` (one row per pool member
of a finished run or checkpoint: canonical formula, weight, whether it is in the final pool,
metrics per split), ``sweeps`` (one row per sweep combination) and ``trials`` (the ledger: one
row per evaluation of a strategy, agent, sweep point, experiment policy, alpha or mined pool, in a
named study). ``Registry.top_alphas`` ranks alphas by a metric of one split (the validation split
by default); ``Registry.trial_set`` turns a study's recorded Sharpe ratios into the ``TrialSet``
that deflates a Sharpe ratio (``quantrl.stats.performance.deflated_sharpe_ratio``).

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

import hashlib
import json
import math
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from quantrl.errors import ConfigError
from quantrl.stats.performance import TrialSet

__all__ = [
    "APPLICATION_ID",
    "IC_KINDS",
    "METRICS",
    "SCHEMA_VERSION",
    "SHARPE_KINDS",
    "SPLITS",
    "TRIAL_KINDS",
    "TRIAL_SPLITS",
    "Registry",
]

SPLITS = ("train", "valid", "test")
METRICS = ("ic", "rank_ic", "icir", "rank_icir")

APPLICATION_ID = 0x51524C31
"""``PRAGMA application_id`` of quantrl registries: the bytes "QRL1"."""
SCHEMA_VERSION = 2
"""``PRAGMA user_version`` of the tables below (2 added ``trials``)."""

SHARPE_KINDS = ("strategy", "agent", "sweep", "experiment", "workflow")
"""Trial kinds judged by a Sharpe ratio: the ones a study's ``TrialSet`` counts."""
IC_KINDS = ("alpha", "pool")
"""Trial kinds judged by IC / RankIC (formulaic alphas and mined pools)."""
TRIAL_KINDS = (*SHARPE_KINDS, *IC_KINDS)
TRIAL_SPLITS = (*SPLITS, "all")

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
    "trials": """CREATE TABLE IF NOT EXISTS trials (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        study TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        params TEXT NOT NULL,
        split TEXT NOT NULL,
        data_hash TEXT NOT NULL,
        trial_key TEXT NOT NULL,
        sharpe REAL,
        sharpe_annual REAL,
        ic REAL,
        rank_ic REAL,
        n_obs INTEGER NOT NULL,
        created REAL NOT NULL
    )""",
}
"""Table name -> its CREATE statement."""

INDEXES = (
    "CREATE INDEX IF NOT EXISTS alphas_formula ON alphas(formula)",
    "CREATE INDEX IF NOT EXISTS sweeps_name ON sweeps(sweep)",
    "CREATE INDEX IF NOT EXISTS runs_job ON runs(job)",
    "CREATE INDEX IF NOT EXISTS trials_study ON trials(study, split)",
)


class Registry:
    """Runs, alphas, sweeps and trials in one SQLite file of quantrl's (see the module docstring)."""

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
        """Bring tables of schema ``version`` up to ``SCHEMA_VERSION`` (inside the open transaction).

        1 -> 2: the ``trials`` table (the trial ledger) and its index. The generic ``CREATE ...
        IF NOT EXISTS`` pass has already made them; the step is kept explicit so that every
        version's change is listed here.
        """
        if version < 2:
            con.execute(TABLES["trials"])
            con.execute("CREATE INDEX IF NOT EXISTS trials_study ON trials(study, split)")

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

    # ------------------------------------------------------------------ trial ledger
    def record_trial(
        self,
        study: str,
        kind: str,
        name: str,
        *,
        split: str,
        params: dict[str, Any] | None = None,
        data_hash: str = "",
        sharpe: float | None = None,
        sharpe_annual: float | None = None,
        ic: float | None = None,
        rank_ic: float | None = None,
        n_obs: int = 0,
    ) -> int:
        """Record one evaluation in the ledger of ``study``; returns its row id.

        ``sharpe`` is the per-period (not annualised) Sharpe ratio, ``sharpe_annual`` the
        annualised one; alphas and pools give ``ic`` / ``rank_ic`` instead. ``data_hash``
        identifies the evaluated data (``quantrl.agents.persist.data_hash``), ``n_obs`` counts
        the observations behind the figures. NaN figures are stored as NULL.
        """
        if not isinstance(study, str) or not study.strip():
            raise ConfigError(f"a trial needs a study name, got {study!r}")
        if kind not in TRIAL_KINDS:
            raise ConfigError(f"trial kind must be one of {TRIAL_KINDS}, got {kind!r}")
        if split not in TRIAL_SPLITS:
            raise ConfigError(f"trial split must be one of {TRIAL_SPLITS}, got {split!r}")
        text = json.dumps(params or {}, default=str, sort_keys=True, separators=(",", ":"))
        key = hashlib.sha256(
            "\x1f".join((kind, str(name), text, split, data_hash)).encode()
        ).hexdigest()
        with self._connect() as con:
            cur = con.execute(
                "INSERT INTO trials (study, kind, name, params, split, data_hash, trial_key, "
                "sharpe, sharpe_annual, ic, rank_ic, n_obs, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    study,
                    kind,
                    str(name),
                    text,
                    split,
                    data_hash,
                    key,
                    _num(sharpe),
                    _num(sharpe_annual),
                    _num(ic),
                    _num(rank_ic),
                    int(n_obs),
                    time.time(),
                ),
            )
            return int(cur.lastrowid or 0)

    def trials(self, study: str, split: str | None = None) -> list[dict[str, Any]]:
        """Every evaluation recorded in ``study`` (of one split if given), oldest first.

        Rows are dicts with ``params`` decoded and NaN for missing figures.
        """
        sql = "SELECT * FROM trials WHERE study = ?"
        args: tuple[Any, ...] = (study,)
        if split is not None:
            sql += " AND split = ?"
            args += (split,)
        with self._connect() as con:
            rows = [dict(r) for r in con.execute(sql + " ORDER BY id", args).fetchall()]
        for row in rows:
            row["params"] = json.loads(row["params"])
            for col in ("sharpe", "sharpe_annual", "ic", "rank_ic"):
                row[col] = float("nan") if row[col] is None else float(row[col])
        return rows

    def studies(self) -> list[str]:
        """Names of the studies with recorded trials."""
        with self._connect() as con:
            return [str(r[0]) for r in con.execute("SELECT DISTINCT study FROM trials ORDER BY 1")]

    def trial_set(self, study: str, split: str | None = None) -> TrialSet:
        """The ``TrialSet`` of ``study`` (optionally one split): what a Sharpe ratio is deflated by.

        N counts the distinct configurations evaluated with a Sharpe ratio (strategies, agents,
        sweep points, experiment policies): the same kind, name, parameters, split and data
        recorded twice is one trial (its latest figures count). V is the variance of their
        per-period Sharpe ratios (``TrialSet.from_sharpes``: a trial without a finite Sharpe
        still counts in N); with fewer than two finite Sharpe ratios among several trials V is
        taken as 0. An empty study is one trial (``TrialSet()``).
        """
        sql = (
            "SELECT sharpe FROM trials WHERE id IN (SELECT MAX(id) FROM trials WHERE study = ?"
            + (" AND split = ?" if split is not None else "")
            + f" AND kind IN ({', '.join('?' for _ in SHARPE_KINDS)}) GROUP BY trial_key)"
            " ORDER BY id"
        )
        args = (study, *((split,) if split is not None else ()), *SHARPE_KINDS)
        with self._connect() as con:
            values = [float("nan") if r[0] is None else float(r[0]) for r in con.execute(sql, args)]
        if not values:
            return TrialSet()
        finite = [v for v in values if math.isfinite(v)]
        if len(values) > 1 and len(finite) < 2:
            return TrialSet(len(values), 0.0)
        return TrialSet.from_sharpes(values)

    def count_trials(self, study: str, split: str | None = None) -> int:
        """How many evaluations ``study`` has recorded (of one split if given), repeats included."""
        sql = "SELECT COUNT(*) FROM trials WHERE study = ?"
        args: tuple[Any, ...] = (study,)
        if split is not None:
            sql += " AND split = ?"
            args += (split,)
        with self._connect() as con:
            return int(con.execute(sql, args).fetchone()[0])


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
