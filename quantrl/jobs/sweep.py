"""Parameter sweeps of strategies or RL agents on an executor, recorded in the registry.

A sweep spec is a TOML file::

    [sweep]
    name = "momentum-grid"
    kind = "strategy"               # strategy | agent
    market = "dow30"                # bundled name or file (quantrl.load_market)
    split = "valid"                 # where each combination is judged (valid | test)
    metric = "sharpe_ratio"         # ranks the report
    fees = 0.001
    study = ""                      # trial-ledger study (default: the market's name)
    valid_start = 2019-01-01        # split dates (default: the market's; needed for a data file
    test_start = 2021-01-01         #   without default dates, else 70 / 15 / 15 % of its rows)
    warmup = 252                    # history rows before the split (default: the strategy's
                                    #   lookback, at least 252)
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

Strategy combinations are backtested on the split exactly as ``quantrl compare`` does
(``quantrl.backtest.compare.run_strategy`` on ``quantrl.jobs.ledger.split_panel``: the history
the strategy declares, at least 252 rows, before the split); agent combinations train on the
train split (``train_agent``) and are backtested on the split (``evaluate_agent``). The panel goes
to the workers once; the driver alone writes the registry and the report.

Every combination is recorded in the registry's trial ledger (kind ``sweep``, in the spec's
``study``, default the market's name), and its ``deflated_sharpe_ratio`` deflates over the
study's trials on the split, this sweep's combinations included (``SweepResult.trials``).

Combinations are ranked on the validation split unless ``split = "test"`` says otherwise: picking
the best of many combinations by their test results would make the test split part of the
selection. The result, the registry rows, the report and the CLI table name the split used.

The spec is validated by the tables below (``quantrl.jobs.schema``): unknown tables and keys are
refused, grid values must be strings, booleans, integers or finite numbers, agent sweeps' ``algo``
values must be known algorithms and ``seed`` values seeds, and every problem is one ConfigError
line naming the table and key.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from matplotlib.figure import Figure
from pydantic import AfterValidator, model_validator

from quantrl.agents.evaluate import evaluate_agent
from quantrl.agents.factory import algo_name, env_class
from quantrl.agents.persist import data_hash
from quantrl.agents.training import train_agent
from quantrl.backtest.compare import required_history, run_strategy
from quantrl.data import load_market
from quantrl.data.cache import atomic_write_bytes
from quantrl.data.splits import split_dates
from quantrl.envs.core import fraction_split_dates
from quantrl.envs.registration import ENV_IDS, SHORT_NAMES
from quantrl.errors import ConfigError
from quantrl.evaluation.report import ReportFigure, ReportNotes, ReportTable, render_report
from quantrl.executors.executor import EXECUTORS, Executor, make_executor
from quantrl.jobs.ledger import sharpe_figures, split_panel
from quantrl.jobs.schema import (
    SEED_MAX,
    DateText,
    Float,
    Int,
    JobName,
    PathText,
    Str,
    Table,
    Text,
    choice,
    finite,
    int_range,
    read_toml,
    validate_spec,
)
from quantrl.jobs.store import Registry
from quantrl.progress import ProgressBar
from quantrl.stats.performance import TrialSet, deflated_sharpe_ratio

__all__ = [
    "METRICS",
    "SweepFile",
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


MAX_POINTS = 100_000
"""Most grid combinations one sweep may have."""
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _grid_values(value: Any) -> tuple[Any, ...]:
    values = value if isinstance(value, list | tuple) else [value]
    if not values:
        raise ValueError("is an empty list")
    for v in values:
        ok = isinstance(v, str | bool | int) or (isinstance(v, float) and math.isfinite(v))
        if not ok:
            raise ValueError(
                f"values must be strings, booleans, integers or finite numbers, got {v!r}"[:200]
            )
    return tuple(values)


def _param_name(name: str) -> str:
    if not _PARAM.fullmatch(name):
        raise ValueError(f"{name!r} is not a parameter name (letters, digits, '_')")
    return name


GridValues = Annotated[Any, AfterValidator(_grid_values)]


class SweepTable(Table):
    """``[sweep]``: what is swept, where it is judged and where it runs."""

    name: JobName
    kind: Annotated[Str, choice(("strategy", "agent"))] = "strategy"
    market: Text = "dow30"
    split: Annotated[Str, choice(("valid", "test"))] = "valid"
    metric: Annotated[Str, choice(tuple(METRICS))] = "sharpe_ratio"
    fees: Annotated[Float, finite(ge=0, lt=1)] = 0.001
    output_dir: PathText = ""
    registry: PathText = ""
    executor: Annotated[Str, choice(EXECUTORS)] = "local"
    workers: Annotated[Int, int_range(1, 4096)] = 1
    address: PathText = ""
    study: Str = ""
    valid_start: DateText = None
    test_start: DateText = None
    warmup: Annotated[Int, int_range(0, 100_000)] | None = None

    @model_validator(mode="after")
    def _both_dates(self) -> SweepTable:
        if (self.valid_start is None) != (self.test_start is None):
            raise ValueError("give both valid_start and test_start, or neither")
        if self.valid_start is not None and not self.valid_start < self.test_start:
            raise ValueError(f"valid_start {self.valid_start} must be before {self.test_start}")
        return self


class AgentTable(Table):
    """``[agent]``: the environment and training budget of agent sweeps."""

    env: Annotated[Str, choice((*ENV_IDS, *SHORT_NAMES))] = "quantrl/Portfolio-v0"
    timesteps: Annotated[Int, int_range(1, 10**9)] = 5000


class SweepFile(Table):
    """A whole sweep spec: ``[sweep]``, ``[grid]`` and (agent sweeps) ``[agent]``."""

    sweep: SweepTable
    grid: dict[Annotated[Str, AfterValidator(_param_name)], GridValues] = {}
    agent: AgentTable | None = None

    @model_validator(mode="after")
    def _grid_fits_kind(self) -> SweepFile:
        if not self.grid:
            raise ValueError("[grid] needs at least one parameter list")
        points = math.prod(len(v) for v in self.grid.values())
        if points > MAX_POINTS:
            raise ValueError(f"[grid] has {points} combinations, more than {MAX_POINTS}")
        if self.sweep.kind == "strategy":
            if "strategy" not in self.grid:
                raise ValueError("[grid] of a strategy sweep needs strategy = [names]")
            _all_of(self.grid["strategy"], str, "strategy", "strategy names")
            if self.agent is not None:
                raise ValueError("[agent] is only for kind = 'agent'")
            return self
        for algo in _all_of(self.grid.get("algo", ("ppo",)), str, "algo", "algorithm names"):
            algo_name(algo)
        for seed in _all_of(self.grid.get("seed", (0,)), int, "seed", "integers"):
            if isinstance(seed, bool) or not 0 <= seed <= SEED_MAX:
                raise ValueError(f"[grid] seed values must be integers in [0, {SEED_MAX}]")
        return self


def _all_of(values: tuple[Any, ...], kind: type, key: str, what: str) -> tuple[Any, ...]:
    if not all(isinstance(v, kind) for v in values):
        raise ValueError(f"[grid] {key} values must be {what}, got {list(values)!r}"[:200])
    return values


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep (see the module docstring for the TOML layout)."""

    name: str
    kind: str
    market: str
    grid: dict[str, tuple[Any, ...]]
    split: str
    metric: str
    fees: float
    output_dir: Path
    registry: Path
    executor: str
    workers: int
    address: str
    agent: dict[str, Any] = field(default_factory=dict)
    study: str = ""
    valid_start: str | None = None
    test_start: str | None = None
    warmup: int | None = None


def load_sweep(source: str | Path | dict[str, Any], *, base: Path | None = None) -> SweepSpec:
    """Read and validate a sweep TOML file (or its parsed mapping); one-line ConfigError."""
    if isinstance(source, dict):
        data, base = source, base or Path.cwd()
        model = validate_spec(SweepFile, data, what="sweep spec")
    else:
        path, data = read_toml(source, what="sweep spec")
        base = path.parent
        try:
            model = validate_spec(SweepFile, data, what="sweep spec")
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    head = model.sweep
    out = Path(head.output_dir or f"runs/sweeps/{head.name}")
    out = out if out.is_absolute() else base / out
    reg = Path(head.registry) if head.registry else out.parent / "registry.sqlite"
    reg = reg if reg.is_absolute() else base / reg
    agent = {}
    if head.kind == "agent":
        agent = (model.agent or AgentTable()).model_dump()
    return SweepSpec(
        name=head.name,
        kind=head.kind,
        market=head.market,
        grid=dict(model.grid),
        split=head.split,
        metric=head.metric,
        fees=head.fees,
        output_dir=out,
        registry=reg,
        executor=head.executor,
        workers=head.workers,
        address=head.address,
        agent=agent,
        study=head.study or head.market,
        valid_start=head.valid_start,
        test_start=head.test_start,
        warmup=head.warmup,
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
    """Worker side: backtest (or train and backtest) one combination on the sweep's split.

    Returns the parameters, the metrics, the backtest's ``returns`` (the driver deflates the
    Sharpe ratio over the study's trials with them) and its ``trial`` figures for the ledger.
    """
    spec: SweepSpec = shared["spec"]
    panel = shared["panel"]
    valid_start, test_start = shared["dates"]
    if spec.kind == "strategy":
        rest = {k: v for k, v in params.items() if k != "strategy"}
        strategy = shared["strategy_factory"](str(params["strategy"]), **rest)
        history = required_history([strategy]) if spec.warmup is None else spec.warmup
        target = split_panel(
            panel, spec.split, valid_start=valid_start, test_start=test_start, history=history
        )
        result = run_strategy(strategy, target, fees=spec.fees)
    else:
        algo_kwargs = {k: v for k, v in params.items() if k not in ("algo", "seed")}
        dates = (spec.valid_start, spec.test_start) if spec.valid_start else None
        outcome = train_agent(
            spec.agent["env"],
            algo=str(params.get("algo", "ppo")),
            timesteps=int(spec.agent["timesteps"]),
            market=panel,
            seed=int(params.get("seed", 0)),
            split_dates=dates,
            algo_kwargs=algo_kwargs or None,
        )
        env = env_class(outcome.env_id)(
            panel, split=spec.split, split_dates=dates, sampling="sequential"
        )
        result = evaluate_agent(outcome.model, env, spec.split)
        target = env.unwrapped.panel
    per_period, annual, n_obs = sharpe_figures(result)
    return {
        "params": dict(params),
        "metrics": _metrics(result.stats()),
        "returns": result.returns,
        "trial": {
            "sharpe": per_period,
            "sharpe_annual": annual,
            "n_obs": n_obs,
            "data_hash": data_hash(target),
            "history": int(target.warmup),
        },
    }


@dataclass
class SweepResult:
    """Every combination's parameters and metrics, best first by the sweep's metric."""

    name: str
    metric: str
    rows: list[dict[str, Any]]
    report: Path | None = None
    split: str = "valid"
    study: str = ""
    trials: TrialSet = field(default_factory=TrialSet)

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
    progress: bool = False,
) -> SweepResult:
    """Run every grid point on ``executor`` (default: the spec's), record and report them.

    Each point is recorded in the trial ledger of the spec's study; its deflated Sharpe ratio
    deflates over the study's trials on the split. ``progress`` shows a bar over the points.

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
    if spec.valid_start is not None and spec.test_start is not None:
        vs, ts = spec.valid_start, spec.test_start
    else:
        try:
            vs, ts = split_dates(spec.market)
        except ConfigError:  # a market without default dates (a file): 70 / 15 / 15 % of its rows
            vs, ts = (str(d)[:19] for d in fraction_split_dates(panel))
    shared = {
        "spec": spec,
        "panel": panel,
        "dates": (vs, ts),
        "strategy_factory": strategy_factory,
    }
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
    bar = ProgressBar(f"sweep {spec.name}", len(points), enabled=progress)
    try:
        for i, row in ex.map(run_point, points, shared):
            rows[i] = row
            bar.advance()
    finally:
        bar.close()
        if owned:
            ex.close()
    done = [r for r in rows if r is not None]
    registry = Registry(spec.registry)
    trials = _record_trials(registry, spec, done, (vs, ts))
    registry.record_sweep(spec.name, spec.kind, spec.split, done)
    ranked = sorted(done, key=_rank_key(spec.metric))
    spec.output_dir.mkdir(parents=True, exist_ok=True)
    result = SweepResult(
        spec.name, spec.metric, ranked, split=spec.split, study=spec.study, trials=trials
    )
    atomic_write_bytes(spec.output_dir / "results.json", json.dumps(ranked, indent=1).encode())
    result.report = write_sweep_report(result, spec.output_dir / "report.html")
    return result


def _record_trials(
    registry: Registry, spec: SweepSpec, rows: list[dict[str, Any]], dates: tuple[Any, Any]
) -> TrialSet:
    """Record every point in the ledger, then deflate each point's Sharpe over the study's trials.

    The points' ``returns`` and ``trial`` entries are consumed (removed from the rows).
    """
    for row in rows:
        trial = row.pop("trial")
        params = {
            **row["params"],
            "fees": spec.fees,
            "history": trial["history"],
            "valid_start": str(dates[0])[:19],
            "test_start": str(dates[1])[:19],
        }
        if spec.kind == "agent":
            params.update(spec.agent)
        registry.record_trial(
            spec.study,
            "sweep",
            str(row["params"].get("strategy", row["params"].get("algo", "ppo"))),
            split=spec.split,
            params=params,
            data_hash=trial["data_hash"],
            sharpe=trial["sharpe"],
            sharpe_annual=trial["sharpe_annual"],
            n_obs=trial["n_obs"],
        )
    trials = registry.trial_set(spec.study, spec.split)
    for row in rows:
        dsr = float(deflated_sharpe_ratio(row.pop("returns"), trials))
        row["metrics"]["deflated_sharpe_ratio"] = dsr if math.isfinite(dsr) else math.nan
    return trials


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
    ax.set_title(f"sweep {result.name}: {result.metric} per combination ({result.split} split)")
    fig.tight_layout()
    return fig


def write_sweep_report(result: SweepResult, path: str | Path) -> Path:
    """A self-contained HTML page: the metric per combination (bar chart) and the full table."""
    table = [
        {"parameters": _label(r["params"]), **{c: r["metrics"].get(c, math.nan) for c in METRICS}}
        for r in result.rows
    ]
    sections: list[Any] = [
        ReportFigure("metric", _sweep_figure(result), "metric per combination"),
        ReportTable("Combinations", table),
    ]
    if result.study:
        sections.append(
            ReportNotes(
                "Notes",
                [
                    f"Deflated Sharpe ratio over {result.trials.n_trials} trial(s) of study "
                    f"{result.study!r} on the {result.split} split (the trial ledger)"
                ],
            )
        )
    subtitle = (
        f"{len(result.rows)} combinations, ranked by {result.metric} on the {result.split} split"
    )
    return render_report(path, f"sweep {result.name}", sections, subtitle=subtitle)
