"""Tear sheet: a self-contained HTML report (figures embedded as PNG) and PNG export of each figure."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from quantrl.data.cache import atomic_write_bytes
from quantrl.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from quantrl.backtest.result import BacktestResult

ROLLING_SHARPE_WINDOW = 126

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1100px; color: #222; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px; }
.meta { color: #666; font-size: 13px; }
table.stats { border-collapse: collapse; font-size: 13px; }
table.stats th, table.stats td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
table.stats th:first-child, table.stats td:first-child { text-align: left; }
figure { margin: 12px 0; } figure img { max-width: 100%; } figcaption { color: #555; font-size: 13px; }
"""


def _pyplot() -> Any:

    matplotlib.use("Agg", force=False)

    return plt


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
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.2))
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
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.2))
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
    plt = _pyplot()
    table = monthly_returns(result)
    values = table.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(table) + 1.5))
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
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.2))
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
    plt = _pyplot()
    w = np.nan_to_num(result.weights)
    order = np.argsort(-np.abs(w).mean(axis=0))[:top]
    rest = np.setdiff1d(np.arange(w.shape[1]), order)
    fig, ax = plt.subplots(figsize=(10, 3.8))
    series = [w[:, j] for j in order]
    labels = [result.symbols[j] for j in order]
    if rest.size:
        series.append(w[:, rest].sum(axis=1))
        labels.append("other")
    colors = [plt.cm.tab10(i % 10) for i in range(len(order))] + ["#bbbbbb"] * bool(rest.size)
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
    results: BacktestResult | Mapping[str, BacktestResult], n_trials: int | None = None
) -> pd.DataFrame:
    """Statistics with one column per result; the deflated Sharpe counts every result as a trial."""
    mapping = _as_mapping(results)
    trials = n_trials if n_trials is not None else max(len(mapping), 1)
    return pd.DataFrame({name: res.stats(n_trials=trials) for name, res in mapping.items()})


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _table_html(frame: pd.DataFrame) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float | np.floating):
            if not np.isfinite(v):
                return "–"
            if float(v).is_integer() and abs(v) >= 10:
                return f"{v:,.0f}"
            return f"{v:.4f}" if abs(v) < 1e4 else f"{v:,.0f}"
        return html.escape(str(v))

    head = "".join(
        f"<th>{html.escape(str(c))}</th>" for c in [frame.index.name or "", *frame.columns]
    )
    rows = "".join(
        "<tr><td>"
        + html.escape(str(idx))
        + "</td>"
        + "".join(f"<td>{fmt(v)}</td>" for v in row)
        + "</tr>"
        for idx, row in zip(frame.index, frame.to_numpy(), strict=True)
    )
    return f'<table class="stats"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def write_report(
    results: BacktestResult | Mapping[str, BacktestResult],
    path: str | Path,
    *,
    title: str = "quantrl tear sheet",
    subtitle: str = "",
    n_trials: int | None = None,
    png_dir: str | Path | None = None,
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
    extra_figures: Mapping[str, Figure] | None = None,
) -> Path:
    """Write a self-contained HTML tear sheet (opens offline); optionally each figure as PNG.

    Sections: statistics (with the deflated Sharpe ratio over ``n_trials``, default the number of
    results), equity vs benchmark, drawdown, rolling Sharpe, weights, monthly-returns heatmap, then
    any ``extra_tables`` and ``extra_figures``. The file is written atomically.
    """

    mapping = _as_mapping(results)
    figures = tear_sheet_figures(mapping)
    figures.update(extra_figures or {})
    table = stats_table(mapping, n_trials)
    table.index.name = "statistic"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>{html.escape(subtitle)} · generated "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by quantrl</p>",
        "<h2>Statistics</h2>",
        _table_html(table),
    ]
    for name, frame in (extra_tables or {}).items():
        parts += [f"<h2>{html.escape(name)}</h2>", _table_html(frame)]
    png_folder = Path(png_dir) if png_dir is not None else None
    for name, fig in figures.items():
        png = figure_png(fig)
        if png_folder is not None:
            atomic_write_bytes(png_folder / f"{name}.png", png)
        encoded = base64.b64encode(png).decode()
        caption = name.replace("_", " ")
        parts.append(
            f"<figure id='fig-{html.escape(name)}'><img alt='{html.escape(caption)}' "
            f"src='data:image/png;base64,{encoded}'><figcaption>{html.escape(caption)}"
            "</figcaption></figure>"
        )
        plt.close(fig)
    parts.append("</body></html>")
    out = Path(path)
    atomic_write_bytes(out, "\n".join(parts).encode())
    return out
