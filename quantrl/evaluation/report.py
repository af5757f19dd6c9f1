"""HTML reports from Jinja2 templates, and the tear sheet of backtest results.

Every HTML page quantrl writes (tear sheets, experiment reports, sweep reports) is rendered here
from the templates in ``quantrl/evaluation/templates`` (autoescaped, so names and formulas are
shown as text, never run). ``render_report(path, title, sections)`` takes plain data: sections
are ``ReportTable`` (a DataFrame or rows of mappings), ``ReportFigure`` (a matplotlib ``Figure``,
embedded as a base64 PNG so the page opens offline) and ``ReportNotes`` (a list of sentences).
``write_report`` builds the tear sheet of one or more ``BacktestResult``: statistics, equity,
drawdown, rolling Sharpe, weights and monthly-returns figures (matplotlib's object API).
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import matplotlib
import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from matplotlib.figure import Figure

from quantrl.data.cache import atomic_write_bytes
from quantrl.display import format_value
from quantrl.errors import ConfigError
from quantrl.stats.performance import TrialSet

if TYPE_CHECKING:  # pragma: no cover
    from quantrl.backtest.result import BacktestResult

ROLLING_SHARPE_WINDOW = 126


def _index(result: BacktestResult) -> pd.Index:
    if result.dates is None:
        return pd.RangeIndex(result.n_bars, name="bar")
    return pd.DatetimeIndex(result.dates, name="date")


def _as_mapping(
    results: BacktestResult | Mapping[str, BacktestResult],
) -> dict[str, BacktestResult]:
    if isinstance(results, Mapping):
        if not results:
            raise ConfigError("no backtest results to report")
        return dict(results)
    return {"strategy": results}


def equity_figure(results: Mapping[str, BacktestResult]) -> Figure:
    """Growth of 1 for every result, and the first result's benchmark when it has one."""
    fig = Figure(figsize=(10, 4.2))
    ax = fig.subplots()
    first = next(iter(results.values()))
    for name, res in results.items():
        ax.plot(_index(res), res.equity / res.init_cash, label=name, lw=1.2)
    if first.benchmark_returns is not None:
        ax.plot(
            _index(first),
            np.cumprod(1 + first.benchmark_returns),
            label="benchmark",
            color="black",
            lw=1.0,
            ls="--",
        )
    ax.set_ylabel("growth of 1")
    ax.set_title("Equity")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


def drawdown_figure(results: Mapping[str, BacktestResult]) -> Figure:
    """Drawdown from the running peak for every result."""
    fig = Figure(figsize=(10, 3.2))
    ax = fig.subplots()
    for name, res in results.items():
        peak = np.maximum.accumulate(res.equity)
        ax.plot(_index(res), res.equity / peak - 1.0, label=name, lw=1.0)
    ax.set_ylabel("drawdown")
    ax.set_title("Drawdown")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    return fig


def monthly_returns(result: BacktestResult) -> pd.DataFrame:
    """(years x 12) table of compounded monthly returns."""
    if result.dates is None:
        raise ConfigError("monthly returns need dates")
    rets = pd.Series(np.nan_to_num(result.returns), index=_index(result))
    monthly = (1 + rets).groupby([rets.index.year, rets.index.month]).prod() - 1
    table = monthly.unstack(level=1).reindex(columns=range(1, 13))
    table.index.name, table.columns.name = "year", "month"
    return table


def monthly_heatmap_figure(result: BacktestResult) -> Figure:
    """Heatmap of monthly returns (rows = years, columns = months), values annotated in percent."""
    table = monthly_returns(result)
    values = table.to_numpy(dtype=float)
    fig = Figure(figsize=(10, 0.45 * len(table) + 1.5))
    ax = fig.subplots()
    limit = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 1.0
    im = ax.imshow(values, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(
        range(12),
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    )
    ax.set_yticks(range(len(table)), [str(y) for y in table.index])
    for i in range(values.shape[0]):
        for j in range(12):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{100 * values[i, j]:.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.025, pad=0.02)
    ax.set_title("Monthly returns (%)")
    fig.tight_layout()
    return fig


def rolling_sharpe(result: BacktestResult, window: int = ROLLING_SHARPE_WINDOW) -> pd.Series:
    """Annualised Sharpe ratio of the trailing ``window`` bars (mean / std with ddof=1)."""
    rets = pd.Series(result.returns, index=_index(result))
    roll = rets.rolling(window)
    return roll.mean() / roll.std(ddof=1) * np.sqrt(result.periods_per_year)


def rolling_sharpe_figure(
    results: Mapping[str, BacktestResult], window: int = ROLLING_SHARPE_WINDOW
) -> Figure:
    """Rolling annualised Sharpe ratio of every result."""
    fig = Figure(figsize=(10, 3.2))
    ax = fig.subplots()
    for name, res in results.items():
        series = rolling_sharpe(res, window)
        ax.plot(series.index, series.to_numpy(), label=name, lw=1.0)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_title(f"Rolling Sharpe ({window} bars)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


def weights_figure(result: BacktestResult, top: int = 10) -> Figure:
    """Stacked weights of the ``top`` largest holdings over time (the rest grouped as 'other')."""
    w = np.nan_to_num(result.weights)
    order = np.argsort(-np.abs(w).mean(axis=0))[:top]
    rest = np.setdiff1d(np.arange(w.shape[1]), order)
    fig = Figure(figsize=(10, 3.8))
    ax = fig.subplots()
    series = [w[:, j] for j in order]
    labels = [result.symbols[j] for j in order]
    if rest.size:
        series.append(w[:, rest].sum(axis=1))
        labels.append("other")
    tab10 = matplotlib.colormaps["tab10"]
    colors = [tab10(i % 10) for i in range(len(order))] + ["#bbbbbb"] * bool(rest.size)
    if (w >= -1e-12).all():
        ax.stackplot(_index(result), *series, labels=labels, colors=colors, alpha=0.85)
    else:
        for s, label in zip(series, labels, strict=True):
            ax.plot(_index(result), s, label=label, lw=0.8)
    ax.set_ylabel("weight")
    ax.set_title("Weights over time")
    ax.legend(loc="upper left", fontsize="x-small", ncol=min(6, len(labels)))
    fig.tight_layout()
    return fig


def tear_sheet_figures(results: BacktestResult | Mapping[str, BacktestResult]) -> dict[str, Figure]:
    """Every tear-sheet figure by name: equity, drawdown, monthly_returns, rolling_sharpe, weights.

    Figures that need one result (monthly heatmap, weights) show the first one.
    """
    mapping = _as_mapping(results)
    first = next(iter(mapping.values()))
    figures = {
        "equity": equity_figure(mapping),
        "drawdown": drawdown_figure(mapping),
        "rolling_sharpe": rolling_sharpe_figure(mapping),
        "weights": weights_figure(first),
    }
    if first.dates is not None:
        figures["monthly_returns"] = monthly_heatmap_figure(first)
    return figures


def stats_table(
    results: BacktestResult | Mapping[str, BacktestResult], trials: TrialSet | None = None
) -> pd.DataFrame:
    """Statistics with one column per result.

    The deflated Sharpe ratio uses ``trials`` (e.g. from the registry's trial ledger); without
    it, the results of the table are the trials (their count and the variance of their Sharpe
    ratios), so a single result is deflated against one trial.
    """
    mapping = _as_mapping(results)
    if trials is None and len(mapping) > 1:
        trials = TrialSet.from_returns(np.column_stack([r.returns for r in mapping.values()]))
    return pd.DataFrame({name: res.stats(trials) for name, res in mapping.items()})


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


# ---------------------------------------------------------------------------- rendering
_TEMPLATES = Environment(
    loader=PackageLoader("quantrl.evaluation", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_FIGURE_NAME = re.compile(r"[A-Za-z0-9_.-]+")

TemplateName = Literal["report", "tear_sheet"]
"""``report``: sections in the order given; ``tear_sheet``: the same with links to its figures."""


@dataclass(frozen=True)
class ReportTable:
    """A titled table: a DataFrame (its index becomes the first column) or rows of mappings."""

    title: str
    data: pd.DataFrame | Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class ReportFigure:
    """A matplotlib figure, embedded as PNG; ``name`` is its anchor (``fig-NAME``) and file stem."""

    name: str
    figure: Figure
    caption: str = ""


@dataclass(frozen=True)
class ReportNotes:
    """A titled list of sentences."""

    title: str
    notes: Sequence[str]


Section = ReportTable | ReportFigure | ReportNotes


def _cell(value: Any) -> str:
    """A table cell as text (``quantrl.display.format_value``: 5.6e-06, never 0.0000)."""
    return format_value(value)


def _table_view(section: ReportTable) -> dict[str, Any]:
    data = section.data
    if isinstance(data, pd.DataFrame):
        columns = [str(data.index.name or ""), *(str(c) for c in data.columns)]
        rows = [
            [str(idx), *(_cell(v) for v in row)]
            for idx, row in zip(data.index, data.itertuples(index=False), strict=True)
        ]
    else:
        keys = list(dict.fromkeys(k for row in data for k in row))
        columns = [str(k) for k in keys]
        rows = [[_cell(row.get(k)) for k in keys] for row in data]
    return {"kind": "table", "title": section.title, "columns": columns, "rows": rows}


def _figure_view(section: ReportFigure, png_dir: Path | None) -> dict[str, Any]:
    if not _FIGURE_NAME.fullmatch(section.name):
        raise ConfigError(
            f"figure name {section.name!r} must be letters, digits, '_', '.' or '-' only"
        )
    png = figure_png(section.figure)
    if png_dir is not None:
        atomic_write_bytes(png_dir / f"{section.name}.png", png)
    return {
        "kind": "figure",
        "name": section.name,
        "caption": section.caption or section.name.replace("_", " "),
        "png": base64.b64encode(png).decode("ascii"),
    }


def _view(section: Section, png_dir: Path | None) -> dict[str, Any]:
    if isinstance(section, ReportTable):
        return _table_view(section)
    if isinstance(section, ReportFigure):
        return _figure_view(section, png_dir)
    if isinstance(section, ReportNotes):
        return {"kind": "notes", "title": section.title, "notes": [str(n) for n in section.notes]}
    raise ConfigError(f"a report section must be a table, figure or notes, got {section!r}")


def render_html(
    title: str,
    sections: Sequence[Section],
    *,
    subtitle: str = "",
    template: TemplateName = "report",
    png_dir: str | Path | None = None,
) -> str:
    """The HTML page of ``sections`` (figures also written to ``png_dir`` as NAME.png if given)."""
    if template not in ("report", "tear_sheet"):
        raise ConfigError(f"unknown report template {template!r} (known: report, tear_sheet)")
    folder = Path(png_dir) if png_dir is not None else None
    return _TEMPLATES.get_template(f"{template}.html.j2").render(
        title=title,
        subtitle=subtitle,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        sections=[_view(s, folder) for s in sections],
    )


def render_report(
    path: str | Path,
    title: str,
    sections: Sequence[Section],
    *,
    subtitle: str = "",
    template: TemplateName = "report",
    png_dir: str | Path | None = None,
) -> Path:
    """Write a self-contained HTML report of ``sections`` to ``path`` atomically; returns it."""
    page = render_html(title, sections, subtitle=subtitle, template=template, png_dir=png_dir)
    out = Path(path)
    atomic_write_bytes(out, page.encode())
    return out


def write_report(
    results: BacktestResult | Mapping[str, BacktestResult],
    path: str | Path,
    *,
    title: str = "quantrl tear sheet",
    subtitle: str = "",
    trials: TrialSet | None = None,
    png_dir: str | Path | None = None,
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
    extra_figures: Mapping[str, Figure] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write a self-contained HTML tear sheet (opens offline); optionally each figure as PNG.

    Sections: statistics (with the deflated Sharpe ratio over ``trials``, by default the results
    themselves; see ``stats_table``), any ``extra_tables``, the ``notes``, then the figures: equity vs benchmark,
    drawdown, rolling Sharpe, weights, monthly-returns heatmap and any ``extra_figures``. The file
    is written atomically.
    """
    mapping = _as_mapping(results)
    figures = tear_sheet_figures(mapping)
    figures.update(extra_figures or {})
    table = stats_table(mapping, trials)
    table.index.name = "statistic"
    sections: list[Section] = [ReportTable("Statistics", table)]
    sections += [ReportTable(name, frame) for name, frame in (extra_tables or {}).items()]
    if notes:
        sections.append(ReportNotes("Notes", notes))
    sections += [ReportFigure(name, fig) for name, fig in figures.items()]
    return render_report(
        path, title, sections, subtitle=subtitle, template="tear_sheet", png_dir=png_dir
    )


__all__ = [
    "ROLLING_SHARPE_WINDOW",
    "ReportFigure",
    "ReportNotes",
    "ReportTable",
    "Section",
    "TemplateName",
    "drawdown_figure",
    "equity_figure",
    "figure_png",
    "monthly_heatmap_figure",
    "monthly_returns",
    "render_html",
    "render_report",
    "rolling_sharpe",
    "rolling_sharpe_figure",
    "stats_table",
    "tear_sheet_figures",
    "weights_figure",
    "write_report",
]
