"""The demo's steps: strategy backtests, the PPO agent, alpha mining and AlphaEval, tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import scipy.stats as sps
from matplotlib.figure import Figure

from quantrl.agents.evaluate import rollout, trajectory_weights
from quantrl.agents.training import train_agent
from quantrl.alpha import evaluate, parse
from quantrl.backtest.compare import compare
from quantrl.data import load_market
from quantrl.data.splits import market_split
from quantrl.demo.config import (
    ALPHA_COLUMNS,
    POOL_NAME,
    REFERENCE_FORMULA,
    REFERENCE_NAME,
    SUMMARY_COLUMNS,
    TEMPERATURE,
    DemoBudget,
)
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.errors import ConfigError
from quantrl.evaluation.alpha import alphaeval, diversity, evaluate_split, quantile_returns
from quantrl.mining import MiningTask, Vocabulary
from quantrl.mining.baselines import RandomSearch
from quantrl.mining.pool import AlphaPool
from quantrl.mining.simplify import Simplifier
from quantrl.stats.ic import nanmean, rank_ic_series
from quantrl.stats.inference import ic_lags, newey_west_t


# ---------------------------------------------------------------------------- strategies
def backtest_strategies(
    strategies: Mapping[str, Any], test: Any, benchmark: np.ndarray | None, fees: float
) -> dict[str, Any]:
    """Backtest strategy objects (``target_weights(panel)``) on a test panel with warm-up rows."""
    if not strategies:
        return {}
    return compare(dict(strategies), test, benchmark=benchmark, fees=fees)


# ---------------------------------------------------------------------------- PPO
def train_demo_agent(budget: DemoBudget, seed: int, fees: float) -> Any:
    """PPO on ``Portfolio-v0`` (DOW30 train split) through ``quantrl.agents.train_agent``."""
    outcome = train_agent(
        "quantrl/Portfolio-v0",
        algo="ppo",
        timesteps=budget.ppo_steps,
        market="dow30",
        seed=seed,
        n_envs=budget.ppo_n_envs,
        env_kwargs={
            "episode_length": budget.ppo_episode_length,
            "fees": fees,
            "temperature": TEMPERATURE,
        },
    )
    return outcome.model


def agent_test_weights(model: Any, test: Any, fees: float) -> np.ndarray:
    """Roll the deterministic policy through the test split; (T, N) targets on ``test``'s rows.

    Rows without a decision (the warm-up history, the last row) are 0 (cash).
    """
    env = PortfolioEnv(
        "dow30", split="test", episode_length=None, fees=fees, temperature=TEMPERATURE
    )
    if tuple(env.symbols) != tuple(test.symbols):
        raise ConfigError("the PPO test env and the test panel list different symbols")
    decided = trajectory_weights(rollout(model, env), env.panel.n_dates)
    rows = np.searchsorted(test.dates, env.panel.dates)
    inside = rows < test.n_dates
    inside[inside] = test.dates[rows[inside]] == env.panel.dates[inside]
    keep = inside & np.isfinite(decided).all(axis=1)
    weights = np.zeros((test.n_dates, test.n_symbols))
    weights[rows[keep]] = decided[keep]
    return weights


# ---------------------------------------------------------------------------- alpha mining
def mine_pools(budget: DemoBudget, seed: int) -> tuple[list[Any], Any]:
    """Masked random search on an S&P 500 slice (train split), one pool per seed ``seed`` ..
    ``seed + budget.mine_seeds - 1`` -> (pools, full sp500 slice)."""

    if budget.mine_seeds < 1:
        raise ConfigError(f"mine_seeds must be >= 1, got {budget.mine_seeds}")
    sp = load_market("sp500", start=budget.mine_start)
    sp = sp.select(list(sp.symbols[: budget.mine_symbols]))
    train = market_split(sp, "train", market="sp500")
    label = train.forward_returns(budget.horizon)
    pools = []
    for s in range(seed, seed + budget.mine_seeds):
        pool = AlphaPool(budget.pool_capacity, purge=budget.horizon)
        vocab = Vocabulary(max_len=12)
        task = MiningTask(train, label, pool, simplifier=Simplifier(vocab))
        RandomSearch(task, vocab, seed=s).run_chunk(budget.mine_tokens)
        if len(pool) == 0:  # pragma: no cover - a pool always accepts its first valid factor
            pool.try_add(REFERENCE_FORMULA)
        pools.append(pool)
    return pools, sp


def combined_on_test(pool: Any, sp: Any, horizon: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """A pool's combined factor on the test split (warm-up rows from before it read, not
    scored) -> (factor, forward-return label, dates), one row per test date."""
    warmup = max(int(parse(f).lookback) for f in pool.formulas)
    seg = market_split(sp, "test", market="sp500", warmup=warmup)
    combo = pool.combined(seg)[seg.warmup :]
    label = seg.forward_returns(horizon)[seg.warmup :]
    return combo, label, seg.dates[seg.warmup :]


def reference_on_test(sp: Any) -> np.ndarray:
    """``REFERENCE_FORMULA`` on the test split (warm-up rows read, not scored)."""
    warmup = int(parse(REFERENCE_FORMULA).lookback)
    seg = market_split(sp, "test", market="sp500", warmup=warmup)
    return evaluate(REFERENCE_FORMULA, seg)[seg.warmup :]


def alpha_tables(pool: Any, sp: Any, horizon: int, seed: int) -> tuple[pd.DataFrame, Any]:
    """AlphaEval of each pool member and of the combined factor on the S&P 500 test split."""

    formulas = pool.formulas
    reports, _ = evaluate_split(formulas, sp, "test", horizon=horizon, seed=seed)
    # diversity over the members that carry information on the test split (constants do not)
    live = [r.factor for r in reports if r.metrics.n_dates > 0]
    div = diversity(live) if len(live) > 1 else math.nan
    rows = {}
    for k, rep in enumerate(reports):
        m = rep.metrics
        rows[f"alpha {k + 1}"] = {
            "formula": rep.formula,
            "weight": float(pool.weights[k]),
            **{c: float(getattr(m, c)) for c in ALPHA_COLUMNS if c != "diversity"},
            "diversity": div,
        }
    combo, label, dates = combined_on_test(pool, sp, horizon)
    m = alphaeval(combo, label, seed=seed)
    rows[POOL_NAME] = {
        "formula": f"{len(formulas)} members, fitted weights",
        "weight": math.nan,
        **{c: float(getattr(m, c)) for c in ALPHA_COLUMNS if c not in ("logic", "diversity")},
        "logic": math.nan,
        "diversity": div,
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "factor"
    return table, (reports, combo, label, dates)


_TAB10 = tuple(matplotlib.colormaps["tab10"].colors)  # type: ignore[attr-defined]


def alpha_figure(
    reports: list[Any],
    combo: np.ndarray,
    label: np.ndarray,
    dates: Any,
    others: Sequence[np.ndarray] = (),
    reference: np.ndarray | None = None,
) -> Any:
    """Cumulative RankIC of every member and the combined factor (with ``others``, the other
    seeds' combined RankIC series, in grey, and the ``reference`` factor's, dashed), and the
    combined factor's quantile returns."""

    fig = Figure(figsize=(11, 4.2))
    ax_ic, ax_q = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    colours = [c for i, c in enumerate(_TAB10) if i != 7]  # grey is the other seeds' colour
    for k, rep in enumerate(reports):
        ax_ic.plot(
            rep.dates, np.cumsum(np.nan_to_num(rep.rank_ic)), lw=1.0, label=f"alpha {k + 1}",
            color=colours[k % len(colours)],
        )  # fmt: skip
    for k, series in enumerate(others):
        name = f"{POOL_NAME}, other seeds" if k == 0 else None
        ax_ic.plot(dates, np.cumsum(np.nan_to_num(series)), color="0.55", lw=1.0, label=name)
    if reference is not None:
        ax_ic.plot(
            dates, np.cumsum(np.nan_to_num(reference)), color="black", lw=1.2, ls="--",
            label=REFERENCE_NAME,
        )  # fmt: skip
    combined_ric = rank_ic_series(combo, label)
    ax_ic.plot(
        dates, np.cumsum(np.nan_to_num(combined_ric)), color="black", lw=2.0, label=POOL_NAME
    )
    ax_ic.axhline(0.0, color="grey", lw=0.5)
    ax_ic.set_title("Cumulative RankIC on the test split (S&P 500 slice)")
    ax_ic.legend(fontsize="small", loc="upper left")
    ax_ic.grid(alpha=0.3)
    ax_ic.tick_params(axis="x", labelrotation=30)
    qmeans, _ = quantile_returns(combo, label, 5)
    means = [
        float(np.nanmean(qmeans[:, i])) if np.isfinite(qmeans[:, i]).any() else 0.0
        for i in range(5)
    ]
    ax_q.bar(np.arange(1, 6), means, color=["#c0392b", "#e67e22", "#95a5a6", "#27ae60", "#1e8449"])
    ax_q.axhline(0.0, color="grey", lw=0.5)
    ax_q.set_title("Combined factor: mean forward return by quintile")
    ax_q.set_xlabel("quintile (1 = lowest factor)")
    fig.tight_layout()
    return fig


def _date_mean(series: Sequence[np.ndarray]) -> np.ndarray:
    """Per date, the mean of the finite values across series (NaN where none is finite)."""
    stack = np.vstack([np.asarray(x, dtype=np.float64) for x in series])
    finite = np.isfinite(stack)
    count = finite.sum(axis=0)
    total = np.where(finite, stack, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def pool_verdict(
    series: Mapping[int, np.ndarray], reference: np.ndarray, horizon: int, level: float = 0.95
) -> str:
    """Plain sentences on the mined pools' combined test RankIC over seeds and against the
    reference factor.

    ``series`` maps each seed to its pool's per-date combined test RankIC, ``reference`` is the
    reference factor's on the same dates. The pools hold up only when the seed mean is > 0, the
    lower end of its t-interval over seeds is > 0 and the Newey-West t of the seeds' per-date
    average is >= 2 (``ic_lags`` for ``horizon``-bar labels); one seed is never a claim. The
    comparison is the per-date difference (seed average - reference) with a Newey-West interval.
    """
    seeds = list(series)
    if not seeds:
        raise ConfigError("pool_verdict needs the RankIC series of at least one seed")
    per_seed = np.array([nanmean(series[s]) for s in seeds])
    mean = float(per_seed.mean())
    average = _date_mean([series[s] for s in seeds])
    n_dates = int(np.isfinite(average).sum())
    lags = ic_lags(n_dates, horizon)
    nw = newey_west_t(average, lags=lags)
    listed = ", ".join(f"seed {s} {v:+.4f}" for s, v in zip(seeds, per_seed, strict=True))
    if len(seeds) > 1:
        ci = sps.ttest_1samp(per_seed, 0.0).confidence_interval(confidence_level=level)
        low, high = (mean, mean) if np.ptp(per_seed) == 0.0 else (float(ci.low), float(ci.high))
        spread = f"[{low:+.4f}, {high:+.4f}] ({level:.0%} CI over {len(seeds)} seeds: {listed})"
        subject = f"over {len(seeds)} seeds the pools' combined test RankIC averages"
    else:
        low = high = math.nan
        spread = f"({listed}; one seed is no claim)"
        subject = "the pool's combined test RankIC is"
    figures = (
        f"{subject} {mean:+.4f} {spread}; the seeds' per-date average has Newey-West t "
        f"{nw.t:.2f} ({nw.lags} lags, {n_dates} dates)"
    )
    if not math.isfinite(mean) or not math.isfinite(nw.t):
        head = f"The mined pools could not be scored on the test split: {figures}."
    elif mean > 0 and low > 0 and nw.t >= 2.0:
        head = f"The mined pools hold up on the test split: {figures}."
    elif mean > 0:
        head = f"No reliable edge at this budget: {figures}; positive, not significant."
    else:
        head = f"This budget found nothing: {figures}; not positive."
    ref = _reference_sentence(average, reference, lags, level)
    return f"{head} {ref}"


def _reference_sentence(average: np.ndarray, reference: np.ndarray, lags: int, level: float) -> str:
    """The per-date difference (pools' seed average - reference) and its Newey-West interval."""
    ref = np.asarray(reference, dtype=np.float64)
    if ref.shape != average.shape:
        raise ConfigError(f"reference series {ref.shape} and pool series {average.shape} differ")
    diff = np.where(np.isfinite(average) & np.isfinite(ref), average - ref, np.nan)
    nw = newey_west_t(diff, lags=lags)
    z = float(sps.norm.ppf(0.5 + level / 2.0))
    low, high = nw.mean - z * nw.se, nw.mean + z * nw.se
    if not (math.isfinite(low) and math.isfinite(high)):
        outcome = "not measurable"
    elif low > 0:
        outcome = "the pools are above it"
    elif high < 0:
        outcome = "the pools are below it"
    else:
        outcome = "no difference shown"
    return (
        f"Against the {REFERENCE_NAME} factor {REFERENCE_FORMULA} (test RankIC "
        f"{nanmean(ref):+.4f}) on the same dates: {nw.mean:+.4f} "
        f"[{low:+.4f}, {high:+.4f}] (Newey-West {level:.0%} CI, {nw.n} dates), {outcome}."
    )


# ---------------------------------------------------------------------------- tables
def summary_table(results: dict[str, Any]) -> pd.DataFrame:
    """Headline statistics, one row per backtest result."""
    rows = {}
    for name, res in results.items():
        stats = res.stats()
        rows[name] = {c: float(stats.get(c, math.nan)) for c in SUMMARY_COLUMNS}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "strategy"
    return table


__all__ = [
    "agent_test_weights",
    "alpha_figure",
    "alpha_tables",
    "backtest_strategies",
    "combined_on_test",
    "mine_pools",
    "pool_verdict",
    "reference_on_test",
    "summary_table",
    "train_demo_agent",
]
