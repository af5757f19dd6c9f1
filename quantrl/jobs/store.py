"""SQLite registry of mining runs and the alphas they found (WAL mode, safe for readers).

Tables: ``runs`` (one row per run: job, method, seed, status, start/finish times, steps, formulas
evaluated, pool metrics per split, output dir) and ``alphas`` (one row per pool member of a
finished run or checkpoint: canonical formula, weight, whether it is in the final pool, metrics
per split). ``Registry.top_alphas(metric)`` ranks alphas by a test metric across runs.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from quantrl.errors import ConfigError

__all__ = ["METRICS", "Registry"]

SPLITS = ("train", "valid", "test")
METRICS = ("ic", "rank_ic", "icir", "rank_icir")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
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
    {", ".join(f"{s}_{m} REAL" for s in SPLITS for m in METRICS)}
);
CREATE TABLE IF NOT EXISTS alphas (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    job TEXT NOT NULL,
    formula TEXT NOT NULL,
    weight REAL,
    in_pool INTEGER NOT NULL,
    created REAL NOT NULL,
    {", ".join(f"{s}_{m} REAL" for s in SPLITS for m in METRICS)}
);
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sweep TEXT NOT NULL,
    kind TEXT NOT NULL,
    split TEXT NOT NULL,
    params TEXT NOT NULL,
    metrics TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alphas_formula ON alphas(formula);
CREATE INDEX IF NOT EXISTS sweeps_name ON sweeps(sweep);
CREATE INDEX IF NOT EXISTS runs_job ON runs(job);
"""


class Registry:
    """Runs and alphas in one SQLite file (created on first use, WAL journal)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30.0)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.row_factory = sqlite3.Row
            with con:
                yield con
        finally:
            con.close()

    def journal_mode(self) -> str:
        """The database's journal mode (``wal``)."""
        with self._connect() as con:
            return str(con.execute("PRAGMA journal_mode").fetchone()[0])

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
        self, metric: str = "rank_ic", split: str = "test", limit: int = 20, job: str | None = None
    ) -> list[dict[str, Any]]:
        """Best distinct formulas by ``split``_``metric`` (largest absolute value first)."""
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
