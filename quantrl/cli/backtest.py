"""``quantrl backtest`` and ``quantrl compare``: strategies on a market split, with a tear sheet.

Both are thin over ``quantrl.jobs.ledger.evaluate_strategies``: the validation split by default
(``--split test`` looks at the test split on purpose), history before the split, every evaluated
strategy recorded in the registry's trial ledger under ``--study``, and the deflated Sharpe ratio
over the study's trials. They share their options and defaults (defined once, below).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from quantrl.data import load_market
from quantrl.data.panel import Panel
from quantrl.display import format_value
from quantrl.errors import ConfigError
from quantrl.jobs.ledger import Evaluation, evaluate_strategies
from quantrl.progress import ProgressBar
from strategies import get_strategy

console = Console(width=max(Console().width, 110))

DEFAULT_MARKET = "dow30"
DEFAULT_SPLIT = "valid"
DEFAULT_FEES = 0.001
DEFAULT_SLIPPAGE = 0.0
DEFAULT_EXECUTION = "next_open"

MarketOpt = Annotated[str, typer.Option(help="bundled market or data file (CSV/Parquet)")]
SplitOpt = Annotated[
    str,
    typer.Option(
        help="train, valid, test or all; test is looked at on purpose and recorded in the ledger"
    ),
]
StartOpt = Annotated[str | None, typer.Option(help="first evaluated date inside the split")]
EndOpt = Annotated[str | None, typer.Option(help="last evaluated date inside the split")]
ValidStartOpt = Annotated[
    str | None,
    typer.Option(help="first date of the validation split (default: the market's)"),
]
TestStartOpt = Annotated[
    str | None, typer.Option(help="first date of the test split (default: the market's)")
]
WarmupOpt = Annotated[
    int | None,
    typer.Option(
        help="rows of history before the split (default: the largest strategy lookback, at "
        "least 252)",
        min=0,
    ),
]
FeesOpt = Annotated[float, typer.Option(help="proportional fee per trade")]
SlippageOpt = Annotated[float, typer.Option(help="fraction of price")]
ExecutionOpt = Annotated[str, typer.Option(help="next_open or next_close")]
StudyOpt = Annotated[
    str | None,
    typer.Option(help="trial-ledger study that counts the trials (default: the market's name)"),
]
RegistryOpt = Annotated[
    Path | None,
    typer.Option(help="registry SQLite file (default: $QUANTRL_REGISTRY or runs/registry.sqlite)"),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="load without the disk cache")]

"""Statistics printed as whole numbers."""


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``["window=60", "long_short=true"]`` -> {"window": 60, "long_short": True} (no eval)."""
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param expects key=value, got {item!r}")
        value: Any = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            for cast in (int, float):
                try:
                    value = cast(raw)
                    break
                except ValueError:
                    continue
        params[key.strip()] = value
    return params


def load_strategy(spec: str, params: dict[str, Any]) -> Any:
    """A registered strategy name, or a path to a .py file defining ``strategy`` (or a class)."""
    if spec.endswith(".py"):
        path = Path(spec)
        if not path.exists():
            raise ConfigError(f"strategy file {path} does not exist")
        module_spec = importlib.util.spec_from_file_location(f"user_strategy_{path.stem}", path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(f"cannot import {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        obj = getattr(module, "strategy", None)
        if obj is None:
            candidates = [
                v
                for v in vars(module).values()
                if isinstance(v, type)
                and hasattr(v, "target_weights")
                and v.__module__ == module.__name__
            ]
            if not candidates:
                raise ConfigError(f"{path} defines no `strategy` object or strategy class")
            obj = candidates[0](**params)
        return obj

    return get_strategy(spec, **params)


def stats_rich_table(frame: Any, title: str) -> Table:
    """Render a statistics frame (rows = statistics, columns = strategies) as a rich table."""
    table = Table(title=title)
    table.add_column("statistic")
    for col in frame.columns:
        table.add_column(str(col), justify="right")
    for name, row in frame.iterrows():
        table.add_row(str(name), *(format_value(v) for v in row))
    return table


def load_with_progress(market: str, *, cache: bool = True) -> Panel:
    """``load_market`` under a progress bar (loading a large market takes seconds)."""
    with ProgressBar(f"loading {market}", None, transient=True):
        return load_market(market, cache=cache)


def print_evaluation(evaluation: Evaluation, title: str, market: str) -> None:
    """Print the statistics (DSR over the study's trials) and the evaluation's notes."""
    results = evaluation.results
    first = next(iter(results.values()))
    span = (
        f"{str(first.dates[0])[:10]} .. {str(first.dates[-1])[:10]}"
        if first.dates is not None
        else f"{first.n_bars} bars"
    )
    console.print(
        stats_rich_table(evaluation.stats(), f"{title}: {market} {evaluation.split} split {span}")
    )
    console.print(evaluation.dsr_label, soft_wrap=True, markup=False, highlight=False)
    for note in evaluation.notes:
        console.print(f"note: {note}", soft_wrap=True, markup=False, highlight=False)


def run_comparison(
    specs: list[str],
    market: str,
    split: str,
    start: str | None,
    end: str | None,
    fees: float,
    slippage: float,
    execution: str,
    params: dict[str, Any],
    report: Path | None,
    title: str,
    *,
    cache: bool = True,
    valid_start: str | None = None,
    test_start: str | None = None,
    warmup: int | None = None,
    study: str | None = None,
    registry: Path | None = None,
) -> Evaluation:
    """Load the market, evaluate each strategy on the split (recorded), print stats and a report."""
    panel = load_with_progress(market, cache=cache)
    named = {Path(s).stem if s.endswith(".py") else s: load_strategy(s, params) for s in specs}
    evaluation = evaluate_strategies(
        named,
        panel,
        split=split,
        study=study,
        registry=registry,
        market=market,
        valid_start=valid_start,
        test_start=test_start,
        warmup=warmup,
        start=start,
        end=end,
        cache=cache,
        progress=True,
        fees=fees,
        slippage=slippage,
        execution=execution,
    )
    print_evaluation(evaluation, title, market)
    if report is not None:
        first = next(iter(evaluation.results.values()))
        span = f"{str(first.dates[0])[:10]} .. {str(first.dates[-1])[:10]}"
        path = evaluation.write_report(
            report,
            title=title,
            subtitle=(
                f"{market}, {evaluation.split} split, {span}, {evaluation.history} history rows, "
                f"fees {fees}, slippage {slippage}, {execution}, study {evaluation.study}"
            ),
        )
        console.print(f"report: {path}", markup=False, highlight=False)
    return evaluation


def backtest_command(
    strategy: Annotated[str, typer.Argument(help="registered strategy name or path/to/file.py")],
    market: MarketOpt = DEFAULT_MARKET,
    split: SplitOpt = DEFAULT_SPLIT,
    start: StartOpt = None,
    end: EndOpt = None,
    valid_start: ValidStartOpt = None,
    test_start: TestStartOpt = None,
    warmup: WarmupOpt = None,
    fees: FeesOpt = DEFAULT_FEES,
    slippage: SlippageOpt = DEFAULT_SLIPPAGE,
    execution: ExecutionOpt = DEFAULT_EXECUTION,
    param: Annotated[list[str] | None, typer.Option(help="strategy parameter key=value")] = None,
    report: Annotated[Path | None, typer.Option(help="write an HTML tear sheet here")] = None,
    study: StudyOpt = None,
    registry: RegistryOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Backtest one strategy on a split (validation by default) and print its statistics.

    The evaluation is recorded in the trial ledger; the deflated Sharpe ratio counts the trials
    of the study on that split.
    """
    run_comparison(
        [strategy],
        market,
        split,
        start,
        end,
        fees,
        slippage,
        execution,
        parse_params(param),
        report,
        title=f"backtest {strategy}",
        cache=not no_cache,
        valid_start=valid_start,
        test_start=test_start,
        warmup=warmup,
        study=study,
        registry=registry,
    )


def compare_command(
    strategies: Annotated[list[str], typer.Argument(help="strategy names or .py files")],
    market: MarketOpt = DEFAULT_MARKET,
    split: SplitOpt = DEFAULT_SPLIT,
    start: StartOpt = None,
    end: EndOpt = None,
    valid_start: ValidStartOpt = None,
    test_start: TestStartOpt = None,
    warmup: WarmupOpt = None,
    fees: FeesOpt = DEFAULT_FEES,
    slippage: SlippageOpt = DEFAULT_SLIPPAGE,
    execution: ExecutionOpt = DEFAULT_EXECUTION,
    report: Annotated[Path | None, typer.Option(help="write an HTML comparison here")] = None,
    study: StudyOpt = None,
    registry: RegistryOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Compare several strategies on the same split (validation by default), costs and statistics.

    Every strategy is recorded in the trial ledger; the deflated Sharpe ratio counts the trials
    of the study on that split.
    """
    run_comparison(
        strategies,
        market,
        split,
        start,
        end,
        fees,
        slippage,
        execution,
        {},
        report,
        title="comparison",
        cache=not no_cache,
        valid_start=valid_start,
        test_start=test_start,
        warmup=warmup,
        study=study,
        registry=registry,
    )
