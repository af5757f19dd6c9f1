"""Bundled real datasets shipped in the repository's ``data/`` folder, loaded by name."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from quantrl.data.frames import normalize_long
from quantrl.data.validate import ValidationReport
from quantrl.errors import ConfigError, DataError

DATA_ENV = "QUANTRL_DATA_DIR"

Cleaner = Callable[[pl.DataFrame], tuple[pl.DataFrame, list[str]]]


def data_dir() -> Path:
    """Folder holding the bundled parquet files (``$QUANTRL_DATA_DIR`` overrides)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[3] / "data"


def _fmt_examples(df: pl.DataFrame, limit: int = 5) -> str:
    rows = df.select("symbol", "date").head(limit).rows()
    text = ", ".join(f"{s} {_when(d)}" for s, d in rows)
    return text + (f", ... (+{df.height - limit})" if df.height > limit else "")


def _when(value: object) -> str:
    text = str(value)
    return text[:10] if text[11:19] in ("", "00:00:00") else text[:16]


def close_from_midpoint(df: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Order-book snapshots have no bars: expose the mid-price as ``close``."""
    return df.with_columns(pl.col("midpoint").alias("close")), ["close = midpoint (no trades)"]


def clean_sp500(df: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Repair policy for the S&P 500 panel's known defects; returns the frame and what changed.

    1. A missing open (close present) becomes the previous bar's close of the same symbol, or
       the bar's own close on a symbol's first bar.
    2. A missing high or low becomes max(open, close) or min(open, close).
    3. A high below max(open, close) is raised to it; a low above min(open, close) is lowered.
    4. Zero-volume bars are kept (zero is a valid volume) and counted.
    Bars absent from the file stay absent (NaN in the panel): nothing is forward-filled here.
    """
    changes: list[str] = []
    df = df.sort("symbol", "date")
    bad_open = df.filter(pl.col("open").is_null() | pl.col("open").is_nan())
    if bad_open.height:
        changes.append(
            f"filled {bad_open.height} missing open(s) with the previous close: "
            + _fmt_examples(bad_open)
        )
    prev_close = pl.col("close").shift(1).over("symbol")
    df = df.with_columns(
        pl.when(pl.col("open").is_null() | pl.col("open").is_nan())
        .then(pl.coalesce(prev_close, pl.col("close")))
        .otherwise(pl.col("open"))
        .alias("open")
    )
    hi_oc = pl.max_horizontal("open", "close")
    lo_oc = pl.min_horizontal("open", "close")
    bad_hl = df.filter(
        pl.col("high").is_null()
        | pl.col("low").is_null()
        | pl.col("high").is_nan()
        | pl.col("low").is_nan()
    )
    if bad_hl.height:
        changes.append(
            f"set {bad_hl.height} missing high/low to max/min(open, close): "
            + _fmt_examples(bad_hl)
        )
    df = df.with_columns(
        pl.when(pl.col("high").is_null() | pl.col("high").is_nan())
        .then(hi_oc)
        .otherwise(pl.col("high"))
        .alias("high"),
        pl.when(pl.col("low").is_null() | pl.col("low").is_nan())
        .then(lo_oc)
        .otherwise(pl.col("low"))
        .alias("low"),
    )
    unbounded = df.filter((pl.col("high") < hi_oc) | (pl.col("low") > lo_oc))
    if unbounded.height:
        changes.append(
            f"widened {unbounded.height} bar(s) whose high/low did not bound open/close: "
            + _fmt_examples(unbounded)
        )
    df = df.with_columns(
        pl.max_horizontal("high", "open", "close").alias("high"),
        pl.min_horizontal("low", "open", "close").alias("low"),
    )
    zero_vol = df.filter(pl.col("volume") == 0)
    if zero_vol.height:
        changes.append(f"kept {zero_vol.height} zero-volume bar(s): " + _fmt_examples(zero_vol))
    return df, changes


def mid_quotes(df: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Add mid open/high/low/close = (bid + ask) / 2 to a bid/ask bar file; count crossed quotes."""
    parts = ("open", "high", "low", "close")
    df = df.with_columns([((pl.col(f"{p}_bid") + pl.col(f"{p}_ask")) / 2).alias(p) for p in parts])
    crossed = df.filter(pl.col("close_ask") < pl.col("close_bid"))
    notes = []
    if crossed.height:
        notes.append(
            f"kept {crossed.height} bar(s) whose ask close is below the bid close (crossed quotes): "
            + _fmt_examples(crossed)
        )
    return df, notes


@dataclass(frozen=True)
class Dataset:
    """A bundled dataset: its file, kind (panel or table), bar frequency and cleaning policy."""

    name: str
    file: str
    kind: str  # "panel" or "table"
    frequency: str
    description: str
    cleaner: Cleaner | None = None
    benchmark: str | None = None
    survivorship_biased: bool = False
    survivorship_note: str = ""

    @property
    def path(self) -> Path:
        """Absolute path of the parquet file."""
        return data_dir() / self.file

    @property
    def panel_meta(self) -> dict[str, object]:
        """What a loaded panel's ``meta`` says about the data's honesty (survivorship bias)."""
        meta: dict[str, object] = {"survivorship_biased": self.survivorship_biased}
        if self.survivorship_note:
            meta["survivorship_note"] = self.survivorship_note
        return meta


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "dow30",
            "us_dow30_daily.parquet",
            "panel",
            "1d",
            "29 DJIA members, adjusted daily OHLCV, 2010-2023 (Yahoo Finance)",
            benchmark="djia",
            survivorship_biased=True,
            survivorship_note=(
                "constituents as of 2020-2024 (the DJIA members from Aug 2020 to Feb 2024 except "
                "DOW) for the whole 2010-2023 period; names that left the index before then are "
                "missing"
            ),
        ),
        Dataset(
            "djia",
            "us_djia_index_daily.parquet",
            "panel",
            "1d",
            "Dow Jones Industrial Average index (^DJI), daily, 2010-2023",
        ),
        Dataset(
            "sp500",
            "us_sp500_daily_2013_2018.parquet",
            "panel",
            "1d",
            "505 S&P 500 constituents, split-adjusted daily OHLCV, 2013-02..2018-02 (IEX)",
            clean_sp500,
            survivorship_biased=True,
            survivorship_note=(
                "constituents as of early 2018 (the S&P 500 list on the last day of the data) "
                "for the whole 2013-2018 period; names that left the index before then are missing"
            ),
        ),
        Dataset(
            "crypto_minute",
            "crypto_btc_perp_1min.parquet",
            "panel",
            "1m",
            "BTC perpetual future, 1-minute bars, 2022-01",
        ),
        Dataset(
            "binanceus_minute",
            "crypto_binanceus_btc_1min_2023_03.parquet",
            "panel",
            "1m",
            "BTCUSD/BTCUSDC/BTCUSDT spot 1-minute bars on Binance.US, 2023-03",
        ),
        Dataset(
            "fx_minute",
            "fx_fxcm_1min_bidask.parquet",
            "panel",
            "1m",
            "GBP/USD (2012-02) and USD/JPY (2013-02) 1-minute bid/ask bars (FXCM); mid OHLC added",
            mid_quotes,
        ),
        Dataset(
            "btcusdt_lob",
            "crypto_btcusdt_lob_1min_sample.parquet",
            "panel",
            "1m",
            "BTC/USDT limit-order-book snapshots, 15 levels, 600 minutes (Binance)",
            close_from_midpoint,
        ),
        Dataset(
            "esg_sustainalytics",
            "esg_sp500_sustainalytics_kaggle.parquet",
            "table",
            "snapshot",
            "S&P 500 Sustainalytics ESG risk ratings, one snapshot (about 2023)",
        ),
        Dataset(
            "esg_yahoo_2021",
            "esg_sp500_yahoo_2021.parquet",
            "table",
            "snapshot",
            "S&P 500 ESG risk scores from Yahoo Finance, 2021-03-03",
        ),
        Dataset(
            "rates_oecd",
            "rates_oecd_short_term_interest.parquet",
            "table",
            "monthly",
            "OECD short-term interest rates (percent per annum), 43 locations",
        ),
    )
}


def list_datasets() -> list[Dataset]:
    """Every bundled dataset, panels first."""
    return sorted(DATASETS.values(), key=lambda d: (d.kind != "panel", d.name))


def get_dataset(name: str) -> Dataset:
    """Look up a bundled dataset by name; unknown names raise ConfigError listing the choices."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; bundled: {', '.join(DATASETS)}") from None


def read_table(name: str) -> pl.DataFrame:
    """Read a bundled dataset's raw file as a polars frame (tables and panels alike)."""
    spec = get_dataset(name)
    if not spec.path.exists():
        raise DataError(f"bundled file {spec.path} is missing", rule="missing file")
    try:
        return pl.read_parquet(spec.path)
    except Exception as exc:
        raise DataError(
            f"bundled file {spec.path} is unreadable: {exc}", rule="corrupt file"
        ) from exc


def read_bundled_long(name: str) -> tuple[pl.DataFrame, ValidationReport]:
    """A bundled panel dataset as a normalised long frame, after its cleaning policy."""
    spec = get_dataset(name)
    if spec.kind != "panel":
        raise ConfigError(
            f"{name!r} is a {spec.kind}, not a market panel: read it with read_table({name!r})"
            + (" or attach it with quantrl.data.providers.esg" if name.startswith("esg") else "")
        )
    df = normalize_long(read_table(name))
    report = ValidationReport()
    if spec.cleaner is not None:
        df, changes = spec.cleaner(df)
        report.changes.extend(changes)
    return df, report
