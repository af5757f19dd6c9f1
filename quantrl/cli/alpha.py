"""``quantrl alpha ...``: evaluate formulaic alphas on a market split (thin over the library).

``alpha eval`` is thin over ``quantrl.jobs.ledger.evaluate_alphas``: the validation split by
default (``--split test`` on purpose), each formula recorded in the trial ledger.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from quantrl.cli.backtest import RegistryOpt, StudyOpt
from quantrl.data import load_market
from quantrl.errors import ConfigError
from quantrl.evaluation.alpha import SPLITS, AlphaReport, plot_reports
from quantrl.evaluation.logic import Judge, LLMJudge, RuleBasedJudge
from quantrl.jobs.ledger import evaluate_alphas
from quantrl.progress import ProgressBar

alpha_app = typer.Typer(
    help="Formulaic alphas: IC, RankIC and AlphaEval's five dimensions.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@alpha_app.callback()
def alpha_callback() -> None:
    """Formulaic alphas: IC, RankIC and AlphaEval's five dimensions."""


#: Environment variable holding the API key of an optional LLM judge.
LLM_KEY_ENV = "QUANTRL_LLM_API_KEY"


def read_formula_file(path: Path) -> list[str]:
    """Formulas from a text file: one per line; blank lines and ``#`` comments are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read formula file {path}: {exc}") from exc
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _fmt(value: float, digits: int = 4) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def reports_table(reports: list[AlphaReport], diversity: float, title: str) -> Table:
    """Rich table: one row per formula with the IC family and the five AlphaEval dimensions."""
    table = Table(title=title, caption=f"set diversity: {_fmt(diversity, 3)}")
    table.add_column("formula", overflow="fold")
    for name in ("IC", "RankIC", "ICIR", "RankICIR", "PPS", "RRE", "PFS", "Div", "Logic", "dates"):
        table.add_column(name, justify="right")
    for rep in reports:
        m = rep.metrics
        table.add_row(
            rep.formula,
            _fmt(m.ic),
            _fmt(m.rank_ic),
            _fmt(m.icir, 3),
            _fmt(m.rank_icir, 3),
            _fmt(m.pps),
            _fmt(m.rre, 3),
            _fmt(m.pfs, 3),
            _fmt(m.diversity, 3),
            _fmt(m.logic, 2),
            str(m.n_dates),
        )
    return table


@alpha_app.command("eval")
def eval_command(
    formulas: Annotated[
        list[str] | None, typer.Argument(help='formulas, e.g. "Mean($close, 20) / $close - 1"')
    ] = None,
    market: Annotated[str, typer.Option(help="bundled market name or data file")] = "sp500",
    horizon: Annotated[int, typer.Option(help="label: forward return over this many bars")] = 20,
    split: Annotated[
        str,
        typer.Option(
            help="segment: " + "|".join(SPLITS) + "; test is looked at on purpose and recorded"
        ),
    ] = "valid",
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="text file, one formula per line")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="write cumulative IC + quantile returns PNG")
    ] = None,
    start: Annotated[str | None, typer.Option(help="load data from this date")] = None,
    end: Annotated[str | None, typer.Option(help="load data up to this date")] = None,
    symbols: Annotated[str | None, typer.Option(help="comma-separated symbol subset")] = None,
    valid_start: Annotated[str | None, typer.Option(help="override the valid split date")] = None,
    test_start: Annotated[str | None, typer.Option(help="override the test split date")] = None,
    warmup: Annotated[
        int,
        typer.Option(
            help="rows of history before the split, at least (default: the lookback)", min=0
        ),
    ] = 0,
    study: StudyOpt = None,
    registry: RegistryOpt = None,
    quantiles: Annotated[int, typer.Option(help="number of factor quantiles")] = 5,
    seed: Annotated[int, typer.Option(help="seed of the robustness noise")] = 0,
    noise_scale: Annotated[float, typer.Option(help="robustness noise scale")] = 0.1,
    judge_url: Annotated[
        str | None,
        typer.Option(help=f"OpenAI-compatible LLM judge base URL (key from ${LLM_KEY_ENV})"),
    ] = None,
    judge_model: Annotated[str | None, typer.Option(help="LLM judge model name")] = None,
    judge_timeout: Annotated[
        float, typer.Option(help="LLM judge deadline per formula, whole request (seconds)")
    ] = 60.0,
) -> None:
    """Evaluate formulas on a market split and print IC, RankIC, ICIR and AlphaEval scores.

    Put -- before a formula that starts with a minus sign: eval -- "-Std($close, 20)".
    """
    texts = list(formulas or [])
    if file is not None:
        texts += read_formula_file(file)
    if not texts:
        raise ConfigError("give at least one formula or --file")
    judge: Judge = RuleBasedJudge()
    if judge_url:
        if not judge_model:
            raise ConfigError("--judge-url needs --judge-model")
        judge = LLMJudge(
            judge_url, judge_model, api_key=os.environ.get(LLM_KEY_ENV), timeout=judge_timeout
        )
    subset = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    with ProgressBar(f"loading {market}", None, transient=True):
        panel = load_market(market, start=start, end=end, symbols=subset)
    with ProgressBar(f"evaluating {len(texts)} formula(s)", None, transient=True):
        evaluation = evaluate_alphas(
            texts,
            panel,
            split=split,
            study=study,
            registry=registry,
            horizon=horizon,
            valid_start=valid_start,
            test_start=test_start,
            warmup=warmup,
            n_quantiles=quantiles,
            judge=judge,
            seed=seed,
            noise_scale=noise_scale,
        )
    reports, diversity = evaluation.reports, evaluation.diversity
    first, last = str(reports[0].dates[0])[:10], str(reports[0].dates[-1])[:10]
    title = f"{market} {split} {first}..{last}, label: {horizon}-bar forward return"
    console = Console(width=max(Console().width, 120))
    console.print(reports_table(reports, diversity, title))
    for rep in reports:
        for reason in rep.metrics.logic_reasons:
            console.print(f"[yellow]logic[/] {rep.formula}: {reason}")
    for note in evaluation.notes:
        console.print(f"note: {note}", soft_wrap=True, markup=False, highlight=False)
    if plot is not None:
        plot_reports(reports, str(plot))
        console.print(f"figure written to {plot}")
