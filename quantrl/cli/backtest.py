"""``quantrl backtest`` and ``quantrl compare``: strategies on a bundled market, with a tear sheet."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from quantrl.backtest.compare import compare
from quantrl.data import load_benchmark, load_market
from quantrl.data.splits import market_split
from quantrl.display import format_value
from quantrl.errors import ConfigError
from quantrl.evaluation.report import stats_table, write_report
from strategies import get_strategy

console = Console(width=max(Console().width, 110))


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
        table.add_row(str(name), *(_fmt(v) for v in row))
    return table


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
) -> dict[str, Any]:
    """Load the market, backtest each strategy with identical costs, print stats, write a report."""

    panel = load_market(market, cache=cache)
    if split != "all":
        panel = market_split(panel, split, market=market)  # type: ignore[arg-type]
    if start or end:
        panel = panel.slice(start, end)
    named = {Path(s).stem if s.endswith(".py") else s: load_strategy(s, params) for s in specs}
    results = compare(
        named,
        panel,
        benchmark=load_benchmark(panel, market, cache=cache),
        fees=fees,
        slippage=slippage,
        execution=execution,
    )
    span = f"{str(panel.dates[0])[:10]} .. {str(panel.dates[-1])[:10]}"
    console.print(stats_rich_table(stats_table(results), f"{title}: {market} {split} {span}"))
    if report is not None:
        path = write_report(
            results,
            report,
            title=title,
            subtitle=f"{market}, {split} split, {span}, fees {fees}, {execution}",
        )
        console.print(f"report: [bold]{path}[/]")
    return results


def backtest_command(
    strategy: Annotated[str, typer.Argument(help="registered strategy name or path/to/file.py")],
    market: Annotated[str, typer.Option(help="bundled market or data file")] = "dow30",
    split: Annotated[str, typer.Option(help="train, valid, test or all")] = "all",
    start: Annotated[str | None, typer.Option(help="first date")] = None,
    end: Annotated[str | None, typer.Option(help="last date")] = None,
    fees: Annotated[float, typer.Option(help="proportional fee per trade")] = 0.001,
    slippage: Annotated[float, typer.Option(help="fraction of price")] = 0.0,
    execution: Annotated[str, typer.Option(help="next_open or next_close")] = "next_open",
    param: Annotated[list[str] | None, typer.Option(help="strategy parameter key=value")] = None,
    report: Annotated[Path | None, typer.Option(help="write an HTML tear sheet here")] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="load without the disk cache")
    ] = False,
) -> None:
    """Backtest one strategy and print its statistics."""
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
    )


def compare_command(
    strategies: Annotated[list[str], typer.Argument(help="strategy names or .py files")],
    market: Annotated[str, typer.Option(help="bundled market or data file")] = "dow30",
    split: Annotated[str, typer.Option(help="train, valid, test or all")] = "test",
    start: Annotated[str | None, typer.Option(help="first date")] = None,
    end: Annotated[str | None, typer.Option(help="last date")] = None,
    fees: Annotated[float, typer.Option(help="proportional fee per trade")] = 0.001,
    slippage: Annotated[float, typer.Option(help="fraction of price")] = 0.0,
    execution: Annotated[str, typer.Option(help="next_open or next_close")] = "next_open",
    report: Annotated[Path | None, typer.Option(help="write an HTML comparison here")] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="load without the disk cache")
    ] = False,
) -> None:
    """Compare several strategies on the same data, costs and statistics."""
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
    )


def _fmt(value: Any) -> str:
    return format_value(value)
