"""ESG scores: bundled snapshots as a long table, aligned to a panel without looking ahead.

Both bundled sources publish Sustainalytics ESG *risk* scores (lower is better, roughly 0-50).
quantrl works with a *quality* score, higher is better: ``quality = 100 - risk``. A snapshot
published at date d is visible from d on and forward-filled only from the past; before a symbol's
first snapshot its score is NaN.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import polars as pl

from quantrl.data.panel import DateLike, Panel, to_datetime64
from quantrl.data.providers.bundled import read_table
from quantrl.errors import ConfigError

# The Sustainalytics (Kaggle) snapshot carries no date; the dataset is from about 2023. This default
# publication date is an approximation: pass ``sustainalytics_as_of`` to change it.
SUSTAINALYTICS_AS_OF = "2023-06-30"
SOURCES = ("esg_yahoo_2021", "esg_sustainalytics")
SCORE_COLUMNS = ("esg_quality", "esg_risk", "env_risk", "soc_risk", "gov_risk")


class LookAheadWarning(UserWarning):
    """Data from the future is being used on purpose (e.g. a static ESG snapshot)."""


def load_esg_snapshots(
    sources: Sequence[str] = SOURCES, *, sustainalytics_as_of: DateLike = SUSTAINALYTICS_AS_OF
) -> pl.DataFrame:
    """Long table (symbol, as_of, source, esg_risk, env_risk, soc_risk, gov_risk, esg_quality)."""
    frames = []
    for source in sources:
        raw = read_table(source)
        if source == "esg_yahoo_2021":
            df = raw.select(
                pl.col("symbol"),
                pl.col("as_of").cast(pl.Datetime("ns")),
                pl.col("esgscore_tot").cast(pl.Float64).alias("esg_risk"),
                pl.col("esgscore_env").cast(pl.Float64).alias("env_risk"),
                pl.col("esgscore_soc").cast(pl.Float64).alias("soc_risk"),
                pl.col("esgscore_gov").cast(pl.Float64).alias("gov_risk"),
            )
        elif source == "esg_sustainalytics":
            as_of = np.datetime64(to_datetime64(sustainalytics_as_of), "ns")
            df = raw.select(
                pl.col("symbol"),
                pl.lit(as_of).cast(pl.Datetime("ns")).alias("as_of"),
                pl.col("total_esg_risk_score").cast(pl.Float64).alias("esg_risk"),
                pl.col("environment_risk_score").cast(pl.Float64).alias("env_risk"),
                pl.col("social_risk_score").cast(pl.Float64).alias("soc_risk"),
                pl.col("governance_risk_score").cast(pl.Float64).alias("gov_risk"),
            )
        else:
            raise ConfigError(f"unknown ESG source {source!r}; choose from {', '.join(SOURCES)}")
        frames.append(df.with_columns(pl.lit(source).alias("source")))
    out = pl.concat(frames).filter(pl.col("esg_risk").is_not_null())
    out = out.with_columns((100.0 - pl.col("esg_risk")).alias("esg_quality"))
    return out.sort("symbol", "as_of")


def align_snapshots(
    panel: Panel, snapshots: pl.DataFrame, column: str = "esg_quality", *, static: bool = False
) -> np.ndarray:
    """(T, N) array of ``column``: at date t, the latest snapshot with ``as_of <= t`` (NaN before).

    ``static=True`` instead uses each symbol's latest snapshot for every date: that looks ahead
    and emits a LookAheadWarning.
    """
    if column not in snapshots.columns:
        raise ConfigError(f"column {column!r} not in ESG table ({', '.join(snapshots.columns)})")
    out = np.full(panel.shape, np.nan)
    index = {s: j for j, s in enumerate(panel.symbols)}
    table = snapshots.filter(pl.col("symbol").is_in(list(index))).sort("symbol", "as_of")
    if static:
        warnings.warn(
            "static ESG scores use one snapshot for all dates, including dates before it was "
            "published: this looks ahead",
            LookAheadWarning,
            stacklevel=2,
        )
    for (symbol,), group in table.group_by(["symbol"], maintain_order=True):
        j = index[str(symbol)]
        values = group[column].to_numpy().astype(np.float64)
        when = group["as_of"].to_numpy().astype("datetime64[ns]")
        if static:
            out[:, j] = values[-1]
            continue
        pos = np.searchsorted(when, panel.dates, side="right") - 1
        visible = pos >= 0
        out[visible, j] = values[pos[visible]]
    return out


def attach_esg(
    panel: Panel,
    *,
    sources: Sequence[str] = SOURCES,
    columns: Sequence[str] = ("esg_quality",),
    static: bool = False,
    sustainalytics_as_of: DateLike = SUSTAINALYTICS_AS_OF,
) -> Panel:
    """Return ``panel`` with ESG score extras (default ``esg_quality``) aligned without look-ahead."""
    table = load_esg_snapshots(sources, sustainalytics_as_of=sustainalytics_as_of)
    arrays = {c: align_snapshots(panel, table, c, static=static) for c in columns}
    return panel.with_extras(**arrays)
