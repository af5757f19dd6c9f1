"""``quantrl data ...``: list, describe and fetch market data (thin over quantrl.data)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from quantrl.data import load_market
from quantrl.data.providers.bundled import get_dataset, list_datasets, read_table
from quantrl.data.providers.files import is_file_source
from quantrl.data.summary import panel_summary
from quantrl.progress import ProgressBar

data_app = typer.Typer(
    help="Bundled datasets, local files and the Yahoo Finance cache.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
console = Console(width=max(Console().width, 110))


def summary_table(rows: list[dict], title: str) -> Table:
    """Render dataset summary rows as a rich table."""
    table = Table(title=title)
    for col in ("dataset", "freq", "symbols", "dates", "span", "fields", "missing"):
        table.add_column(
            col, justify="right" if col in ("symbols", "dates", "fields", "missing") else "left"
        )
    for r in rows:
        start, end = r["start"], r["end"]
        if r.get("frequency", "1d") in ("1d", "") or (
            start.endswith("00:00") and end.endswith("00:00")
        ):
            start, end = start[:10], end[:10]
        table.add_row(
            r["name"],
            r.get("frequency", ""),
            str(r["symbols"]) + ("" if r.get("kind", "panel") == "panel" else " rows"),
            str(r["dates"]) if r["dates"] else "-",
            f"{start} .. {end}" if start else "-",
            str(r["fields"]),
            f"{100 * r['missing']:.2f}%",
        )
    return table


@data_app.command("list")
def list_command() -> None:
    """List the bundled datasets."""
    table = Table(title="Bundled datasets")
    for col in ("name", "kind", "freq", "file", "description", "survivorship bias"):
        table.add_column(col)
    for d in list_datasets():
        biased = "yes" if d.survivorship_biased else ("no" if d.kind == "panel" else "-")
        table.add_row(d.name, d.kind, d.frequency, d.file, d.description, biased)
    console.print(table)


@data_app.command("info")
def info_command(
    name: Annotated[str, typer.Argument(help="bundled name, file path or yahoo:TICKERS")],
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="load without reading or writing the disk cache")
    ] = False,
    date_format: Annotated[
        str | None,
        typer.Option(help="strptime format of a file's non-ISO dates, e.g. %m/%d/%Y"),
    ] = None,
) -> None:
    """Describe one dataset: size, span, fields, missing bars and the repairs its loader made."""
    if ":" not in name and not is_file_source(name):
        spec = get_dataset(name)
        if spec.kind != "panel":
            console.print(read_table(name))
            return
    with ProgressBar(f"loading {name}", None, console=console, transient=True):
        panel = load_market(name, offline=True, cache=not no_cache, date_format=date_format)
    row = panel_summary(panel)
    console.print(summary_table([row], title=str(panel)))
    console.print(
        f"symbols: {', '.join(panel.symbols[:40])}" + (" ..." if panel.n_symbols > 40 else "")
    )
    console.print(f"fields: {', '.join(panel.fields)}")
    if panel.meta.get("survivorship_biased"):
        console.print(
            f"[yellow]survivorship bias[/]: {escape(str(panel.meta.get('survivorship_note', '')))}"
        )
    elif "survivorship_biased" in panel.meta:
        console.print("survivorship bias: none known")
    for line in panel.meta.get("cleaning", []):
        console.print(f"[yellow]repair[/]: {line}")
    if panel.meta.get("gaps"):
        console.print(
            f"[yellow]gaps[/]: {panel.meta['gaps']} missing bar(s) inside symbols' histories"
        )


@data_app.command("fetch")
def fetch_command(
    source: Annotated[str, typer.Argument(help="e.g. yahoo:AAPL,MSFT")],
    start: Annotated[str | None, typer.Option(help="first date, YYYY-MM-DD")] = None,
    end: Annotated[
        str | None, typer.Option(help="last date (exclusive for Yahoo), YYYY-MM-DD")
    ] = None,
) -> None:
    """Download into the disk cache (network only on a cache miss) and summarise."""
    with ProgressBar(f"fetching {source}", None, console=console, transient=True):
        panel = load_market(source, start=start, end=end)
    console.print(summary_table([panel_summary(panel)], title=f"cached {source}"))
