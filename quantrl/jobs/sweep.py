"""Parameter sweeps of strategies or RL agents on an executor, recorded in the registry.

A sweep spec is a TOML file::

    [sweep]
    name = "momentum-grid"
    kind = "strategy"               # strategy | agent
    market = "dow30"                # bundled name or file (quantrl.load_market)
    split = "test"                  # where each combination is judged (valid | test)
    metric = "sharpe_ratio"         # ranks the report
    fees = 0.001
    output_dir = "runs/sweeps/momentum-grid"
    registry = "runs/registry.sqlite"
    executor = "local"              # local | ray
    workers = 2
    address = ""                    # ray only: "" (local Ray), "auto", "ray://host:10001"

    [grid]                          # every combination of these lists is one task
    strategy = ["momentum"]         # strategy sweeps: the strategy name, then its parameters
    lookback = [60, 126, 252]
    quantile = [0.1, 0.2]

    [agent]                         # agent sweeps: fixed settings; the grid holds algo, seed and
    env = "quantrl/Portfolio-v0"    # any keyword of the algorithm (learning_rate, gamma, ...)
    timesteps = 5000

Strategy combinations compute target weights on the split (with a year of history before it)
and backtest them with ``run_weights``; agent combinations train on the train split
(``train_agent``) and are backtested on the split (``evaluate_agent``). The panel goes to the
workers once; the driver alone writes the registry (table ``sweeps``) and the report.
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from quantrl.agents.evaluate import evaluate_agent
from quantrl.agents.factory import env_class
from quantrl.agents.training import train_agent
from quantrl.backtest import run_weights
from quantrl.data import load_market
from quantrl.data.cache import atomic_write_bytes
from quantrl.data.splits import market_split, split_dates
from quantrl.envs.core import fraction_split_dates
from quantrl.errors import ConfigError
from quantrl.evaluation.report import ReportFigure, ReportTable, render_report
from quantrl.executors.executor import Executor, make_executor
from quantrl.jobs.store import Registry

__all__ = [
    "METRICS",
    "SweepResult",
    "SweepSpec",
    "grid_points",
    "load_sweep",
    "run_point",
    "run_sweep",
    "write_sweep_report",
]

METRICS = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "annual_volatility": "Annual volatility",
    "sharpe_ratio": "Sharpe ratio",
    "sortino_ratio": "Sortino ratio",
    "calmar_ratio": "Calmar ratio",
    "max_drawdown": "Max drawdown",
    "turnover": "Turnover",
    "deflated_sharpe_ratio": "Deflated Sharpe ratio",
}
"""Registry / report metric name -> row of ``BacktestResult.stats()``."""


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep (see the module docstring for the TOML layout)."""

    name: str
    kind: str
    market: str
    grid: dict[str, tuple[Any, ...]]
    split: str = "test"
    metric: str = "sharpe_ratio"
    fees: float = 0.001
    output_dir: Path = Path("runs/sweeps")
    registry: Path = Path("runs/registry.sqlite")
    executor: str = "local"
    workers: int = 1
    address: str = ""
    agent: dict[str, Any] = field(default_factory=dict)


def load_sweep(source: str | Path | dict[str, Any], *, base: Path | None = None) -> SweepSpec:
    """Read and validate a sweep TOML file (or its parsed mapping)."""
    if isinstance(source, dict):
        data, base = source, base or Path.cwd()
    else:
        path = Path(source).expanduser().resolve()
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read sweep spec {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"sweep spec {path} is not valid TOML: {exc}") from exc
        base = path.parent
    unknown = set(data) - {"sweep", "grid", "agent"}
    if unknown:
        raise ConfigError(f"unknown section(s) {sorted(unknown)} (known: sweep, grid, agent)")
    head = dict(data.get("sweep", {}))
    known = {
        "name", "kind", "market", "split", "metric", "fees", "output_dir", "registry",
        "executor", "workers", "address",
    }  # fmt: skip
    bad = set(head) - known
    if bad:
        raise ConfigError(f"unknown key(s) {sorted(bad)} in [sweep] (known: {sorted(known)})")
    name = str(head.get("name", ""))
    if not name:
        raise ConfigError("[sweep] name is required")
    kind = head.get("kind", "strategy")
    if kind not in ("strategy", "agent"):
        raise ConfigError(f"[sweep] kind must be 'strategy' or 'agent', got {kind!r}")
    split = head.get("split", "test")
    if split not in ("valid", "test"):
        raise ConfigError(f"[sweep] split must be 'valid' or 'test', got {split!r}")
    metric = head.get("metric", "sharpe_ratio")
    if metric not in METRICS:
        raise ConfigError(f"[sweep] metric must be one of {sorted(METRICS)}, got {metric!r}")
    grid_raw = data.get("grid", {})
    if not grid_raw:
        raise ConfigError("[grid] needs at least one parameter list")
    grid: dict[str, tuple[Any, ...]] = {}
    for key, values in grid_raw.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ConfigError(f"[grid] {key} is an empty list")
        grid[str(key)] = tuple(values)
    if kind == "strategy" and "strategy" not in grid:
        raise ConfigError("[grid] of a strategy sweep needs strategy = [names]")
    agent = dict(data.get("agent", {}))
    if kind == "agent":
        agent.setdefault("env", "quantrl/Portfolio-v0")
        agent.setdefault("timesteps", 5000)
        if int(agent["timesteps"]) < 1:
            raise ConfigError("[agent] timesteps must be >= 1")
    workers = head.get("workers", 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"[sweep] workers must be an integer >= 1, got {workers!r}")
    out = Path(head.get("output_dir", f"runs/sweeps/{name}"))
    out = out if out.is_absolute() else base / out
    reg = Path(head.get("registry", str(out.parent / "registry.sqlite")))
    reg = reg if reg.is_absolute() else base / reg
    fees = float(head.get("fees", 0.001))
    if not math.isfinite(fees) or fees < 0:
        raise ConfigError(f"[sweep] fees must be >= 0, got {fees}")
    return SweepSpec(
        name=name,
        kind=kind,
        market=str(head.get("market", "dow30")),
        grid=grid,
        split=split,
        metric=metric,
        fees=fees,
        output_dir=out,
        registry=reg,
        executor=str(head.get("executor", "local")),
        workers=workers,
        address=str(head.get("address", "")),
        agent=agent,
    )


def grid_points(grid: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Every combination of the grid's lists, in a fixed order (last key varies fastest)."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _metrics(stats: Any) -> dict[str, float]:
    out = {}
    for key, label in METRICS.items():
        value = float(stats[label]) if label in stats.index else math.nan
        out[key] = value if math.isfinite(value) else math.nan
    return out


def run_point(shared: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Worker side: backtest (or train and backtest) one combination on the sweep's split."""
    spec: SweepSpec = shared["spec"]
    panel = shared["panel"]
    if spec.kind == "strategy":
        rest = {k: v for k, v in params.items() if k != "strategy"}
        target = shared["split"]
        strategy = shared["strategy_factory"](str(params["strategy"]), **rest)
        result = run_weights(target, strategy.target_weights(target), fees=spec.fees)
    else:
        algo_kwargs = {k: v for k, v in params.items() if k not in ("algo", "seed")}
        outcome = train_agent(
            spec.agent["env"],
            algo=str(params.get("algo", "ppo")),
            timesteps=int(spec.agent["timesteps"]),
            market=panel,
            seed=int(params.get("seed", 0)),
            algo_kwargs=algo_kwargs or None,
        )
        env = env_class(outcome.env_id)(panel, split=spec.split, sampling="sequential")
        result = evaluate_agent(outcome.model, env, spec.split)
    return {"params": dict(params), "metrics": _metrics(result.stats())}


@dataclass
class SweepResult:
    """Every combination's parameters and metrics, best first by the sweep's metric."""

    name: str
    metric: str
    rows: list[dict[str, Any]]
    report: Path | None = None

    def best(self) -> dict[str, Any]:
        """The best row."""
        return self.rows[0]


def _rank_key(metric: str) -> Any:
    sign = 1.0 if metric == "max_drawdown" else -1.0  # drawdowns are negative: higher is better

    def key(row: dict[str, Any]) -> tuple[bool, float]:
        v = row["metrics"].get(metric, math.nan)
        return (not math.isfinite(v), sign * v if math.isfinite(v) else 0.0)

    return key


def run_sweep(
    spec: SweepSpec | str | Path,
    executor: Executor | str | None = None,
    *,
    workers: int | None = None,
    address: str | None = None,
    strategy_factory: Callable[..., Any] | None = None,
) -> SweepResult:
    """Run every grid point on ``executor`` (default: the spec's), record and report them.

    Strategy sweeps need ``strategy_factory(name, **params)`` returning an object with
    ``target_weights(panel)``, e.g. ``strategies.get_strategy`` (the CLI passes it): the library
    does not import the strategy gallery itself. It must be importable by name (a module-level
    function) so that it travels to worker processes.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_sweep(spec)
    if spec.kind == "strategy" and strategy_factory is None:
        raise ConfigError(
            "a strategy sweep needs strategy_factory (e.g. strategies.get_strategy) to build "
            "strategies from their names"
        )
    panel = load_market(spec.market)
    try:
        vs, ts = split_dates(spec.market)
    except ConfigError:  # a market without default dates (a file): 70 / 15 / 15 % of its rows
        vs, ts = fraction_split_dates(panel)
    target = market_split(panel, spec.split, valid_start=vs, test_start=ts, warmup=250)
    shared = {"spec": spec, "panel": panel, "split": target, "strategy_factory": strategy_factory}
    points = grid_points(spec.grid)
    owned = not hasattr(executor, "map")
    ex: Any = executor
    if owned:
        ex = make_executor(
            str(executor or spec.executor),
            workers=workers or spec.workers,
            address=address if address is not None else (spec.address or None),
        )
    rows: list[dict[str, Any] | None] = [None] * len(points)
    try:
        for i, row in ex.map(run_point, points, shared):
            rows[i] = row
    finally:
        if owned:
            ex.close()
    done = [r for r in rows if r is not None]
    Registry(spec.registry).record_sweep(spec.name, spec.kind, spec.split, done)
    ranked = sorted(done, key=_rank_key(spec.metric))
    spec.output_dir.mkdir(parents=True, exist_ok=True)
    result = SweepResult(spec.name, spec.metric, ranked)
    atomic_write_bytes(spec.output_dir / "results.json", json.dumps(ranked, indent=1).encode())
    result.report = write_sweep_report(result, spec.output_dir / "report.html")
    return result


def _label(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _sweep_figure(result: SweepResult) -> Figure:
    """Horizontal bars: the sweep's metric for every combination, best on top."""
    rows = result.rows
    fig = Figure(figsize=(8, 0.35 * len(rows) + 1.2))
    ax = fig.subplots()
    ax.barh(
        range(len(rows)),
        [r["metrics"].get(result.metric, math.nan) for r in rows],
        color="#3b6ea5",
    )
    ax.set_yticks(range(len(rows)), [_label(r["params"]) for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(result.metric)
    ax.set_title(f"sweep {result.name}: {result.metric} per combination")
    fig.tight_layout()
    return fig


def write_sweep_report(result: SweepResult, path: str | Path) -> Path:
    """A self-contained HTML page: the metric per combination (bar chart) and the full table."""
    table = [
        {"parameters": _label(r["params"]), **{c: r["metrics"].get(c, math.nan) for c in METRICS}}
        for r in result.rows
    ]
    sections = [
        ReportFigure("metric", _sweep_figure(result), "metric per combination"),
        ReportTable("Combinations", table),
    ]
    subtitle = f"{len(result.rows)} combinations, ranked by {result.metric}"
    return render_report(path, f"sweep {result.name}", sections, subtitle=subtitle)
