"""The trial ledger: evaluate on a split with history, record every evaluation, deflate by the study.

Every tool that ranks or selects (``quantrl compare``, ``backtest``, ``eval``, ``alpha eval``,
sweeps, experiments) evaluates through this module. It cuts the split (the validation split by
default: the test split is looked at on purpose, with ``split="test"``) with history before it,
runs the evaluation, records each evaluated configuration in the registry's ``trials`` table
under a named *study* (default: the market's name), and returns the results with the study's
``TrialSet``, so that the deflated Sharpe ratio reported beside the Sharpe ratio counts every
configuration tried on that split of that study (``Registry.trial_set``). A test-split evaluation
is recorded like any other, and ``Evaluation.test_evaluations`` says how many the study has.

History: strategies see ``required_history`` rows before the split (their declared ``lookback``,
at least a year of daily bars where the panel has them) and trade only from the split's first row
(``quantrl.backtest.compare``). Data honesty: a panel's survivorship note
(``panel.meta["survivorship_note"]``) goes into the evaluation's notes and the tear sheet.

The registry is ``registry=`` (a ``Registry`` or a path), else ``$QUANTRL_REGISTRY``, else
``runs/registry.sqlite``. Evaluated data are identified by ``quantrl.agents.persist.data_hash``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantrl.agents.evaluate import evaluate_agent
from quantrl.agents.persist import data_hash, load, make_run_env, read_meta
from quantrl.alpha import parse
from quantrl.backtest.compare import DEFAULT_HISTORY, WeightsSource, compare, required_history
from quantrl.backtest.result import BacktestResult
from quantrl.data import load_benchmark
from quantrl.data.panel import Panel, to_datetime64
from quantrl.data.splits import market_split, split_dates
from quantrl.errors import ConfigError, DataError
from quantrl.evaluation.alpha import AlphaReport, evaluate_formulas, split_segment
from quantrl.evaluation.comparison_shares import one_sided_notes
from quantrl.evaluation.logic import Judge
from quantrl.evaluation.report import stats_table, write_report
from quantrl.jobs.store import Registry
from quantrl.progress import ProgressBar
from quantrl.stats.performance import TrialSet, sharpe_ratio

__all__ = [
    "DEFAULT_REGISTRY",
    "REGISTRY_ENV",
    "SPLIT_NAMES",
    "AlphaEvaluation",
    "Evaluation",
    "data_notes",
    "evaluate_agent_run",
    "evaluate_alphas",
    "evaluate_strategies",
    "open_registry",
    "record_backtests",
    "record_pool",
    "registry_path",
    "result_hash",
    "sharpe_figures",
    "split_panel",
    "strategy_params",
    "note_test_use",
]

REGISTRY_ENV = "QUANTRL_REGISTRY"
"""Environment variable naming the registry file when none is given."""
DEFAULT_REGISTRY = Path("runs") / "registry.sqlite"
"""The registry used when neither ``registry=`` nor ``$QUANTRL_REGISTRY`` names one."""
SPLIT_NAMES = ("train", "valid", "test", "all")


def registry_path(registry: str | Path | None = None) -> Path:
    """``registry`` if given, else ``$QUANTRL_REGISTRY``, else ``runs/registry.sqlite``."""
    if registry is not None and str(registry):
        return Path(registry)
    env = os.environ.get(REGISTRY_ENV)
    return Path(env) if env else DEFAULT_REGISTRY


def open_registry(registry: Registry | str | Path | None = None) -> Registry:
    """A ``Registry`` as given, or opened at ``registry_path(registry)``."""
    return registry if isinstance(registry, Registry) else Registry(registry_path(registry))


def _check_split(split: str) -> str:
    if split not in SPLIT_NAMES:
        raise ConfigError(f"split must be one of {', '.join(SPLIT_NAMES)}, got {split!r}")
    return split


def _study(study: str | None, fallback: str) -> str:
    name = study if study is not None else (fallback or "default")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"a study needs a non-empty name, got {study!r}")
    return name


def _check_split_dates(market: str, split: str, valid_start: Any, test_start: Any) -> None:
    """ConfigError naming the options when a split needs dates the market does not have."""
    if split in ("all", None) or (valid_start is not None and test_start is not None):
        return
    try:
        split_dates(market)
    except ConfigError:
        raise ConfigError(
            f"market {market or 'unnamed'!r} has no default split dates: give valid_start and "
            "test_start (CLI: --valid-start DATE --test-start DATE)"
        ) from None


def split_panel(
    panel: Panel,
    split: str = "valid",
    *,
    market: str | None = None,
    valid_start: Any = None,
    test_start: Any = None,
    history: int = DEFAULT_HISTORY,
    start: Any = None,
    end: Any = None,
) -> Panel:
    """One split of ``panel`` with up to ``history`` rows before it (``panel.warmup``).

    Split dates default to the market's (``quantrl.data.splits.DEFAULT_SPLITS``); a market
    without defaults (a data file) needs ``valid_start`` and ``test_start``. ``start`` / ``end``
    narrow the evaluated rows inside the split, which keep up to ``history`` rows before them.
    """
    _check_split(split)
    if isinstance(history, bool) or not isinstance(history, int | np.integer) or history < 0:
        raise ConfigError(f"history (warm-up rows) must be an int >= 0, got {history!r}")
    name = market or panel.name
    _check_split_dates(name, split, valid_start, test_start)
    seg = market_split(
        panel,
        split,  # type: ignore[arg-type]
        market=name,
        valid_start=None if valid_start is None else str(valid_start),
        test_start=None if test_start is None else str(test_start),
        warmup=int(history),
    )
    if start is None and end is None:
        return seg
    lo = seg.warmup
    if start is not None:
        lo = max(lo, int(np.searchsorted(seg.dates, to_datetime64(start), "left")))
    hi = seg.n_dates
    if end is not None:
        hi = int(np.searchsorted(seg.dates, to_datetime64(end), "right"))
    if hi <= lo:
        raise DataError(
            f"no dates of the {split} split between {start} and {end} (it covers "
            f"{str(seg.dates[seg.warmup])[:10]}..{str(seg.dates[-1])[:10]})",
            rule="empty date range",
        )
    keep = min(int(history), lo)
    return seg.slice(seg.dates[lo - keep], seg.dates[hi - 1]).replace(warmup=keep)


def data_notes(panel: Panel) -> list[str]:
    """Honesty notes a panel carries: its survivorship note when it is survivorship-biased."""
    meta = panel.meta
    if meta.get("survivorship_biased"):
        note = str(meta.get("survivorship_note") or "the symbol list is today's, not history's")
        return [f"Survivorship bias ({panel.name or 'this market'}): {note}"]
    return []


BACKTEST_HISTORY = "decisions may read them, the backtest neither trades nor earns in them"
ALPHA_HISTORY = "the formulas may read them, the IC never uses them"


def history_note(panel: Panel, use: str = BACKTEST_HISTORY) -> str:
    """'History rows before the split: k (first .. last); ``use``' for a panel cut with history."""
    if not panel.warmup:
        return "History rows before the split: 0"
    first, last = str(panel.dates[0])[:10], str(panel.dates[panel.warmup - 1])[:10]
    return f"History rows before the split: {panel.warmup} ({first} .. {last}); {use}"


def note_test_use(study: str, count: int) -> str:
    """The one-line reminder printed after a test-split evaluation."""
    return (
        f"Test split used on purpose: study {study!r} has recorded {count} test-split "
        "evaluation(s) so far"
    )


def sharpe_figures(result: BacktestResult) -> tuple[float, float, int]:
    """(per-period Sharpe, annualised Sharpe, observations) of a backtest's returns."""
    returns = np.asarray(result.returns, dtype=np.float64)
    n_obs = int(np.isfinite(returns).sum())
    per_period = float(sharpe_ratio(returns, periods_per_year=1))
    annual = float(sharpe_ratio(returns, periods_per_year=result.periods_per_year))
    return per_period, annual, n_obs


def result_hash(result: BacktestResult) -> str:
    """``data_hash`` of the prices a backtest ran on (its dates, symbols and close)."""
    if result.dates is None:
        return ""
    return data_hash(Panel(result.dates, result.symbols, {"close": result.close}))


def strategy_params(strategy: Any) -> dict[str, Any]:
    """A strategy's parameters: its dataclass fields, else its public attributes (JSON-ready)."""
    if dataclasses.is_dataclass(strategy) and not isinstance(strategy, type):
        values = dataclasses.asdict(strategy)
    else:
        values = {k: v for k, v in vars(strategy).items() if not k.startswith("_")}
    return {
        str(k): v if isinstance(v, str | int | float | bool) else str(v) for k, v in values.items()
    }


def record_backtests(
    registry: Registry,
    study: str,
    kind: str,
    results: Mapping[str, BacktestResult],
    *,
    split: str,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    hashes: Mapping[str, str] | None = None,
) -> TrialSet:
    """Record each backtest as a trial of ``study`` and return the study's TrialSet on ``split``.

    ``hashes`` gives each result's data hash (default: ``result_hash``).
    """
    for name, res in results.items():
        per_period, annual, n_obs = sharpe_figures(res)
        registry.record_trial(
            study,
            kind,
            name,
            split=split,
            params=dict((params or {}).get(name, {})),
            data_hash=(hashes or {}).get(name) or result_hash(res),
            sharpe=per_period,
            sharpe_annual=annual,
            n_obs=n_obs,
        )
    return registry.trial_set(study, split)


@dataclass
class Evaluation:
    """Backtests on one split, recorded in a study, with the study's TrialSet for the DSR."""

    results: dict[str, BacktestResult]
    trials: TrialSet
    study: str
    split: str
    history: int
    test_evaluations: int
    registry: Path
    panel: Panel | None = None
    notes: list[str] = field(default_factory=list)

    def stats(self) -> pd.DataFrame:
        """Statistics per result; the DSR deflates over the study's trials ("Trials (DSR)" row)."""
        return stats_table(self.results, self.trials)

    @property
    def dsr_label(self) -> str:
        """'Deflated Sharpe ratio over N trial(s) of study S on the SPLIT split'."""
        return (
            f"Deflated Sharpe ratio over {self.trials.n_trials} trial(s) of study "
            f"{self.study!r} on the {self.split} split"
        )

    def write_report(
        self, path: str | Path, *, title: str = "quantrl tear sheet", subtitle: str = ""
    ) -> Path:
        """The tear sheet, with the study's TrialSet and the notes (history, bias, test use)."""
        return write_report(
            self.results,
            path,
            title=title,
            subtitle=subtitle,
            trials=self.trials,
            notes=[*self.notes, self.dsr_label],
        )


def _notes(
    panel: Panel, split: str, study: str, test_count: int, use: str = BACKTEST_HISTORY
) -> list[str]:
    notes = data_notes(panel)
    if split in ("valid", "test"):
        notes.append(history_note(panel, use))
    if split == "test":
        notes.append(note_test_use(study, test_count))
    return notes


def evaluate_strategies(
    strategies: Mapping[str, WeightsSource],
    panel: Panel,
    *,
    split: str = "valid",
    study: str | None = None,
    registry: Registry | str | Path | None = None,
    market: str | None = None,
    valid_start: Any = None,
    test_start: Any = None,
    warmup: int | None = None,
    start: Any = None,
    end: Any = None,
    benchmark: Any = "auto",
    cache: bool = True,
    progress: bool = False,
    **backtest: Any,
) -> Evaluation:
    """Backtest ``strategies`` on one split of ``panel`` with history, record them, deflate.

    ``panel`` is the whole market; the split (``"valid"`` by default) carries ``warmup`` rows of
    history (default ``required_history(strategies)``: the largest declared lookback, at least
    252). ``benchmark="auto"`` uses the market's bundled benchmark (None: none; or a callable
    ``f(split_panel)`` returning prices on its dates, or prices for its rows). Each strategy is
    recorded as a trial of ``study`` (default: the panel's name: a bundled market's name, a data
    file's stem) with its parameters and the backtest costs; the result's ``trials`` is the
    study's TrialSet on this split, these strategies included.
    """
    if not strategies:
        raise ConfigError("no strategies to evaluate")
    _check_split(split)
    history = required_history(strategies.values()) if warmup is None else warmup
    name = market or panel.name
    seg = split_panel(
        panel,
        split,
        market=name,
        valid_start=valid_start,
        test_start=test_start,
        history=history,
        start=start,
        end=end,
    )
    if isinstance(benchmark, str) and benchmark == "auto":
        bench = load_benchmark(seg, name, cache=cache)
    elif callable(benchmark):
        bench = benchmark(seg)
    else:
        bench = benchmark
    study_name = _study(study, panel.name or name)
    results: dict[str, BacktestResult] = {}
    with ProgressBar(f"backtesting on the {split} split", len(strategies), enabled=progress) as bar:
        for label, strategy in strategies.items():
            bar.update(info=str(label))
            results.update(compare({label: strategy}, seg, benchmark=bench, **backtest))
            bar.advance()
    costs = {k: v for k, v in backtest.items() if isinstance(v, str | int | float | bool)}
    dates = {"valid_start": valid_start, "test_start": test_start}
    run_params = {
        label: {
            **strategy_params(s),
            "backtest": costs,
            "history": seg.warmup,
            **{k: str(v) for k, v in dates.items() if v is not None},
        }
        for label, s in strategies.items()
    }
    seg_hash = data_hash(seg)
    reg = open_registry(registry)
    trials = record_backtests(
        reg,
        study_name,
        "strategy",
        results,
        split=split,
        params=run_params,
        hashes=dict.fromkeys(results, seg_hash),
    )
    tests = reg.count_trials(study_name, "test")
    return Evaluation(
        results=results,
        trials=trials,
        study=study_name,
        split=split,
        history=seg.warmup,
        test_evaluations=tests,
        registry=reg.path,
        panel=seg,
        notes=_notes(seg, split, study_name, tests),
    )


def _same_dates(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return [str(to_datetime64(x))[:10] for x in a] == [str(to_datetime64(x))[:10] for x in b]


def evaluate_agent_run(
    run: str | Path,
    *,
    split: str = "valid",
    study: str | None = None,
    registry: Registry | str | Path | None = None,
    market: Panel | None = None,
    valid_start: Any = None,
    test_start: Any = None,
    check_hash: bool = True,
    trust: bool = False,
) -> Evaluation:
    """Backtest a saved agent (run folder) on a split, record it as a trial, deflate.

    The split dates are the run's (those it was trained with); ``valid_start`` / ``test_start``
    may restate them (for a data-file market) but not change them, which would move training
    data into the evaluated split.
    """
    _check_split(split)
    meta = read_meta(run)
    overrides: dict[str, Any] = {}
    if valid_start is not None or test_start is not None:
        if valid_start is None or test_start is None:
            raise ConfigError("give both valid_start and test_start, or neither")
        given = (valid_start, test_start)
        known = meta.split_dates
        if known is None:
            try:
                known = split_dates(meta.market)
            except ConfigError:
                known = None
        if known is not None and not _same_dates(given, known):
            raise ConfigError(
                f"the run was trained with split dates {known[0]} / {known[1]}; evaluating with "
                f"{given[0]} / {given[1]} would mix its training data into the evaluation"
            )
        overrides["split_dates"] = (str(valid_start), str(test_start))
    loaded = load(run, trust=trust)
    env = make_run_env(meta, split=split, market=market, check_hash=check_hash, **overrides)
    result = evaluate_agent(loaded.model, env, split)
    label = f"{meta.algo} ({Path(run).name})"
    reg = open_registry(registry)
    study_name = _study(study, str(meta.market))
    params = {
        "algo": meta.algo,
        "env_id": meta.env_id,
        "run": str(Path(run).resolve()),
        "model_hash": meta.data_hash,
        **{k: str(v) for k, v in meta.extra.items() if isinstance(v, str | int | float)},
    }
    panel = env.unwrapped.panel
    trials = record_backtests(
        reg,
        study_name,
        "agent",
        {label: result},
        split=split,
        params={label: params},
        hashes={label: data_hash(panel)},
    )
    tests = reg.count_trials(study_name, "test")
    return Evaluation(
        results={label: result},
        trials=trials,
        study=study_name,
        split=split,
        history=int(panel.warmup),
        test_evaluations=tests,
        registry=reg.path,
        panel=panel,
        notes=_notes(panel, split, study_name, tests),
    )


@dataclass
class AlphaEvaluation:
    """Formulas evaluated on one split and recorded in a study."""

    reports: list[AlphaReport]
    diversity: float
    study: str
    split: str
    history: int
    test_evaluations: int
    registry: Path
    notes: list[str] = field(default_factory=list)


def evaluate_alphas(
    formulas: Sequence[Any],
    panel: Panel,
    *,
    split: str = "valid",
    study: str | None = None,
    registry: Registry | str | Path | None = None,
    horizon: int = 20,
    valid_start: Any = None,
    test_start: Any = None,
    warmup: int = 0,
    n_quantiles: int = 5,
    judge: Judge | None = None,
    seed: int = 0,
    noise_scale: float = 0.1,
) -> AlphaEvaluation:
    """IC, RankIC and AlphaEval scores of formulas on a split, each recorded as an alpha trial.

    The split carries the formulas' largest lookback of history (at least ``warmup`` rows), as
    ``quantrl.evaluation.alpha.evaluate_split`` does; a market without default split dates needs
    ``valid_start`` and ``test_start``. A note names each comparison that takes one outcome on
    the split's cells (``comparison_shares.one_sided_notes``).
    """
    _check_split(split)
    exprs = [parse(f) for f in formulas]
    if not exprs:
        raise ConfigError("no formula to evaluate")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ConfigError(f"warmup must be an int >= 0, got {warmup!r}")
    history = max([warmup, *(int(e.lookback) for e in exprs)])
    _check_split_dates(panel.name, split, valid_start, test_start)
    segment = split_segment(
        panel,
        split,
        valid_start=None if valid_start is None else str(valid_start),
        test_start=None if test_start is None else str(test_start),
        warmup=history,
    )
    reports, diversity = evaluate_formulas(
        exprs,
        segment,
        horizon,
        n_quantiles=n_quantiles,
        judge=judge,
        seed=seed,
        noise_scale=noise_scale,
    )
    reg = open_registry(registry)
    study_name = _study(study, panel.name)
    seg_hash = data_hash(segment)
    for rep in reports:
        m = rep.metrics
        reg.record_trial(
            study_name,
            "alpha",
            rep.formula,
            split=split,
            params={"horizon": horizon, "history": segment.warmup},
            data_hash=seg_hash,
            ic=m.ic,
            rank_ic=m.rank_ic,
            n_obs=int(m.n_dates),
        )
    tests = reg.count_trials(study_name, "test")
    notes = _notes(segment, split, study_name, tests, ALPHA_HISTORY)
    notes += one_sided_notes(exprs, segment, first_row=segment.warmup)
    return AlphaEvaluation(
        reports, diversity, study_name, split, segment.warmup, tests, reg.path, notes
    )


def record_pool(
    registry: Registry,
    study: str,
    job: str,
    metrics: Mapping[str, Mapping[str, float]],
    panels: Mapping[str, Panel],
    labels: Mapping[str, np.ndarray],
    params: Mapping[str, Any] | None = None,
) -> None:
    """Record a mined pool's validation and test IC / RankIC as ``pool`` trials of ``study``."""
    for split in ("valid", "test"):
        if split not in metrics or split not in panels:
            continue
        seg = panels[split]
        label = np.asarray(labels[split])[seg.warmup :] if split in labels else np.empty((0, 0))
        n_obs = int(np.isfinite(label).any(axis=1).sum()) if label.size else 0
        registry.record_trial(
            study,
            "pool",
            job,
            split=split,
            params=dict(params or {}),
            data_hash=data_hash(seg),
            ic=_finite(metrics[split].get("ic")),
            rank_ic=_finite(metrics[split].get("rank_ic")),
            n_obs=n_obs,
        )


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
