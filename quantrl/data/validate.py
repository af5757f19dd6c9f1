"""Checks every loaded bar passes; each failing rule raises a DataError naming symbol, date and rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from quantrl.errors import ConfigError, DataError

OnInvalid = Literal["raise", "drop"]

PRICE_NAMES = ("open", "high", "low", "close", "adj_close", "vwap", "price", "midpoint")
PRICE_PREFIXES = ("open_", "high_", "low_", "close_")

# Every rule a long frame is checked against, in the order they run.
RULES = (
    "field missing",
    "duplicated row",
    "non-finite price",
    "non-positive price",
    "high < low",
    "close outside [low, high]",
    "open outside [low, high]",
    "negative volume",
    "infinite volume",
)


@dataclass(frozen=True)
class Finding:
    """One failing bar: the rule, where it is, and how many bars share the rule."""

    rule: str
    symbol: str
    date: object
    count: int


@dataclass
class ValidationReport:
    """What validation found and, with ``on_invalid="drop"``, which rows it removed."""

    findings: list[Finding] = field(default_factory=list)
    dropped_rows: int = 0
    changes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no rule failed."""
        return not self.findings

    def summary(self) -> str:
        """One line per failing rule (and per repair), for logs and the CLI."""
        lines = [
            f"{f.rule}: {f.count} bar(s), first {f.symbol} at {str(f.date)[:19]}"
            for f in self.findings
        ]
        if self.dropped_rows:
            lines.append(f"dropped {self.dropped_rows} row(s)")
        lines.extend(self.changes)
        return "\n".join(lines) if lines else "clean"


def price_columns(columns: Sequence[str]) -> list[str]:
    """The columns that hold prices (must be finite and > 0 on every bar that exists)."""
    return [c for c in columns if c in PRICE_NAMES or c.startswith(PRICE_PREFIXES)]


def _rule_masks(df: pl.DataFrame, tolerance: float) -> list[tuple[str, pl.Expr]]:
    cols = set(df.columns)
    prices = [c for c in price_columns(df.columns) if df.schema[c].is_numeric()]
    masks: list[tuple[str, pl.Expr]] = []
    if prices:
        nonfinite = pl.any_horizontal(
            [pl.col(c).is_null() | ~pl.col(c).is_finite() for c in prices]
        )
        nonpositive = pl.any_horizontal([(pl.col(c) <= 0).fill_null(False) for c in prices])
        masks.append(("non-finite price", nonfinite))
        masks.append(("non-positive price", nonpositive))
    if {"high", "low"} <= cols:
        up, down = 1.0 + tolerance, 1.0 - tolerance
        masks.append(("high < low", (pl.col("high") * up < pl.col("low")).fill_null(False)))
        for name in ("close", "open"):
            if name in cols:
                outside = (pl.col(name) > pl.col("high") * up) | (
                    pl.col(name) < pl.col("low") * down
                )
                masks.append((f"{name} outside [low, high]", outside.fill_null(False)))
    if "volume" in cols and df.schema["volume"].is_numeric():
        masks.append(("negative volume", (pl.col("volume") < 0).fill_null(False)))
        masks.append(("infinite volume", pl.col("volume").is_infinite().fill_null(False)))
    return masks


def validate_long(
    df: pl.DataFrame,
    *,
    required: Sequence[str] = (),
    on_invalid: OnInvalid = "raise",
    tolerance: float = 1e-9,
) -> tuple[pl.DataFrame, ValidationReport]:
    """Check a normalised long frame (date, symbol, fields...) against every rule.

    ``on_invalid="raise"`` (default) raises a DataError for the first failing rule, naming the
    symbol and date of its first bar; ``"drop"`` removes the failing rows and reports them.
    Duplicated (date, symbol) rows and missing fields always raise: nothing says which copy is right.
    OHLC bounds are checked with a relative ``tolerance`` (adjusted prices carry rounding noise).
    """
    if on_invalid not in ("raise", "drop"):
        raise ConfigError(f"on_invalid must be 'raise' or 'drop', got {on_invalid!r}")
    report = ValidationReport()
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(
            f"required field(s) {', '.join(missing)} missing (have {_names(df.columns)})",
            rule="field missing",
        )
    if df.height == 0:
        raise DataError("no rows", rule="empty date range")
    dup = df.filter(pl.struct("date", "symbol").is_duplicated())
    if dup.height:
        first = dup.sort("date", "symbol").row(0, named=True)
        raise DataError(
            f"{dup.height} rows share a (date, symbol) key",
            rule="duplicated row",
            symbol=first["symbol"],
            date=first["date"],
        )
    bad_any = pl.lit(False)
    for rule, mask in _rule_masks(df, tolerance):
        hits = df.filter(mask)
        if hits.height == 0:
            continue
        first = hits.sort("date", "symbol").row(0, named=True)
        finding = Finding(rule, str(first["symbol"]), first["date"], hits.height)
        if on_invalid == "raise":
            raise DataError(
                f"{hits.height} bar(s) fail this rule; pass on_invalid='drop' to remove them",
                rule=rule,
                symbol=finding.symbol,
                date=finding.date,
            )
        report.findings.append(finding)
        bad_any = bad_any | mask
    if report.findings:
        before = df.height
        df = df.filter(~bad_any)
        report.dropped_rows = before - df.height
    return df, report


def _names(columns: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f", ... ({len(columns)} columns)" if len(columns) > limit else "")


def check_symbols(available: Sequence[str], requested: Sequence[str]) -> None:
    """Raise DataError naming the first requested symbol that is not available."""
    known = set(available)
    unknown = [s for s in requested if s not in known]
    if unknown:
        raise DataError(
            f"unknown symbol(s): {', '.join(unknown[:10])}"
            + (f" (+{len(unknown) - 10} more)" if len(unknown) > 10 else ""),
            rule="unknown symbol",
            symbol=unknown[0],
        )
