"""Panel: the one market-data container (dates x symbols x fields) behind all of quantrl."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import polars as pl

from quantrl.data.dates import to_ns_array
from quantrl.data.folds import Fold, purged_kfold_rows, walk_forward_rows
from quantrl.data.frames import long_to_panel_arrays, wide_to_arrays
from quantrl.data.frequency import infer_periods_per_year
from quantrl.data.layouts import FrameLayout, frame_to_long
from quantrl.display import summary_html
from quantrl.errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import polars as pl

DateLike = str | np.datetime64 | Any
Layout = Literal["long", "wide"]

_OHLCV_AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def to_datetime64(value: DateLike) -> np.datetime64:
    """Convert a date-like value (str, datetime, pandas Timestamp, numpy) to datetime64[ns]."""
    if hasattr(value, "to_datetime64"):
        value = value.to_datetime64()
    if isinstance(value, bool) or not isinstance(value, str | np.datetime64 | _dt.date):
        raise ConfigError(f"cannot interpret {value!r} as a date")
    try:
        stamp = value if isinstance(value, np.datetime64) else np.datetime64(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(f"cannot interpret {value!r} as a date") from exc
    if np.datetime_data(stamp.dtype)[0] == "generic":
        raise ConfigError(f"cannot interpret {value!r} as a date")
    try:
        return to_ns_array(np.array([stamp]), what="date")[0]
    except DataError as exc:
        raise ConfigError(f"date {value!r} is out of range: {exc}") from exc


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(names: Iterable[str], limit: int = 12) -> str:
    """At most ``limit`` names, comma-separated, then how many more."""
    items = [str(n) for n in names]
    shown = ", ".join(_clip(n, 24) for n in items[:limit])
    return shown + (f", … (+{len(items) - limit})" if len(items) > limit else "")


def _frozen(array: np.ndarray) -> np.ndarray:
    out = np.asarray(array)
    if out.flags.writeable:
        out = out.copy() if out.base is not None else out
        out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Panel:
    """Immutable market panel.

    ``dates`` is datetime64[ns], strictly increasing, shape (T,); ``symbols`` a tuple of N names;
    ``fields`` maps a field name (open, high, low, close, volume, ...) to a float64 (T, N) array
    with NaN where a symbol has no bar; ``extras`` holds aligned non-price (T, N) arrays such as
    ESG scores. ``warmup`` counts leading rows that are history only (features may read them,
    evaluation and labels never use them). ``meta`` carries provenance and cleaning notes.
    """

    dates: np.ndarray
    symbols: tuple[str, ...]
    fields: Mapping[str, np.ndarray]
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)
    warmup: int = 0
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        dates = np.asarray(self.dates)
        if dates.ndim != 1:
            raise DataError(f"dates must be one-dimensional, got shape {dates.shape}", rule="shape")
        dates = to_ns_array(dates)
        if np.isnat(dates).any():
            raise DataError("dates contain NaT", rule="missing date")
        if dates.size > 1:
            steps = np.diff(dates.view("int64"))
            bad = np.flatnonzero(steps <= 0)
            if bad.size:
                i = int(bad[0]) + 1
                rule = "duplicated date" if steps[bad[0]] == 0 else "unsorted dates"
                raise DataError("dates must be strictly increasing", rule=rule, date=dates[i])
        symbols = tuple(str(s) for s in self.symbols)
        if len(set(symbols)) != len(symbols):
            seen: set[str] = set()
            dup = next(s for s in symbols if s in seen or seen.add(s))  # type: ignore[func-returns-value]
            raise DataError("symbols must be unique", rule="duplicated symbol", symbol=dup)
        shape = (dates.size, len(symbols))
        if not self.fields:
            raise DataError("a panel needs at least one field", rule="field missing")
        fields = {str(k): self._check_array(k, v, shape) for k, v in self.fields.items()}
        extras = {str(k): self._check_array(k, v, shape) for k, v in self.extras.items()}
        if not 0 <= int(self.warmup) <= dates.size:
            raise ConfigError(f"warmup={self.warmup} outside [0, {dates.size}]")
        object.__setattr__(self, "dates", _frozen(dates))
        object.__setattr__(self, "symbols", symbols)
        object.__setattr__(self, "fields", MappingProxyType(fields))
        object.__setattr__(self, "extras", MappingProxyType(extras))
        object.__setattr__(self, "warmup", int(self.warmup))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle support (the read-only mappings are rebuilt from plain dicts)."""
        args = (
            self.dates,
            self.symbols,
            dict(self.fields),
            dict(self.extras),
            self.warmup,
            dict(self.meta),
        )
        return (Panel, args)

    @staticmethod
    def _check_array(name: str, value: Any, shape: tuple[int, int]) -> np.ndarray:
        try:
            array = np.asarray(value, dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise DataError(f"field {name!r} is not numeric", rule="dtype") from exc
        if array.shape != shape:
            raise DataError(
                f"field {name!r} has shape {array.shape}, expected (dates, symbols) = {shape}",
                rule="shape",
            )
        if array.flags.writeable:
            array = array.copy()
            array.setflags(write=False)
        return array

    # ------------------------------------------------------------------ basic accessors
    @property
    def n_dates(self) -> int:
        """Number of rows (bars), warm-up rows included."""
        return int(self.dates.size)

    @property
    def n_symbols(self) -> int:
        """Number of symbols (columns)."""
        return len(self.symbols)

    @property
    def shape(self) -> tuple[int, int]:
        """(dates, symbols)."""
        return (self.n_dates, self.n_symbols)

    @property
    def field_names(self) -> tuple[str, ...]:
        """Names of the price/volume fields."""
        return tuple(self.fields)

    @property
    def segment_dates(self) -> np.ndarray:
        """Dates of the rows that belong to this segment (warm-up rows excluded)."""
        return self.dates[self.warmup :]

    @property
    def name(self) -> str:
        """Dataset name from the provenance metadata, or an empty string."""
        return str(self.meta.get("name", ""))

    def __getitem__(self, key: str) -> np.ndarray:
        """Return field or extra ``key`` as a read-only (T, N) array."""
        if key in self.fields:
            return self.fields[key]
        if key in self.extras:
            return self.extras[key]
        raise DataError(
            f"field {key!r} not in panel; fields: {', '.join(self.fields)}"
            + (f"; extras: {', '.join(self.extras)}" if self.extras else ""),
            rule="field missing",
        )

    def __copy__(self) -> Panel:
        return self  # immutable: a copy is the panel itself

    def __deepcopy__(self, memo: dict) -> Panel:
        return self

    def __contains__(self, key: object) -> bool:
        return key in self.fields or key in self.extras

    @property
    def periods_per_year(self) -> float:
        """Bars per year inferred from the dates (``quantrl.data.frequency``; 252 for daily)."""
        return infer_periods_per_year(self.dates)

    def _span(self) -> str:
        if not self.n_dates:
            return "empty"
        first, last = (str(d)[:19].replace("T", " ") for d in (self.dates[0], self.dates[-1]))
        if first.endswith("00:00:00") and last.endswith("00:00:00"):
            first, last = first[:10], last[:10]
        return f"{first}..{last}"

    def __repr__(self) -> str:
        """One bounded line: name, dates, symbols and (at most 12) field names."""
        return (
            f"Panel({_clip(self.name or 'unnamed', 40)}: {self.n_dates} dates {self._span()}, "
            f"{self.n_symbols} symbols, fields=[{_names(self.fields)}]"
            + (f", extras=[{_names(self.extras)}]" if self.extras else "")
            + (f", warmup={self.warmup}" if self.warmup else "")
            + ")"
        )

    def _repr_html_(self) -> str:
        """A small HTML summary for Jupyter (counts and names, never the arrays)."""
        rows = [
            ("dates", f"{self.n_dates} ({self._span()})"),
            ("symbols", f"{self.n_symbols}: {_names(self.symbols, 10)}"),
            ("fields", _names(self.fields)),
        ]
        if self.extras:
            rows.append(("extras", _names(self.extras)))
        if self.warmup:
            rows.append(("warm-up rows", str(self.warmup)))
        if self.n_dates >= 3:
            rows.append(("bars per year", f"{self.periods_per_year:,.0f}"))
        return summary_html(f"Panel {_clip(self.name or 'unnamed', 60)}", rows)

    def equals(self, other: Panel) -> bool:
        """True when dates, symbols, fields and extras are identical (NaNs compare equal)."""
        if not isinstance(other, Panel):
            return False
        if self.symbols != other.symbols or not np.array_equal(self.dates, other.dates):
            return False
        if set(self.fields) != set(other.fields) or set(self.extras) != set(other.extras):
            return False
        for mine, theirs in ((self.fields, other.fields), (self.extras, other.extras)):
            for k in mine:
                if not np.array_equal(mine[k], theirs[k], equal_nan=True):
                    return False
        return self.warmup == other.warmup

    def replace(self, **changes: Any) -> Panel:
        """Return a copy with some attributes replaced (the panel itself never changes)."""
        values = {
            "dates": self.dates,
            "symbols": self.symbols,
            "fields": dict(self.fields),
            "extras": dict(self.extras),
            "warmup": self.warmup,
            "meta": dict(self.meta),
        }
        values.update(changes)
        return Panel(**values)

    def with_extras(self, **arrays: np.ndarray) -> Panel:
        """Return a copy with aligned (T, N) extras added or replaced."""
        extras = dict(self.extras)
        extras.update(arrays)
        return self.replace(extras=extras)

    # ------------------------------------------------------------------ row/column selection
    def _take_rows(self, rows: slice | np.ndarray, warmup: int = 0) -> Panel:
        return Panel(
            dates=self.dates[rows],
            symbols=self.symbols,
            fields={k: v[rows] for k, v in self.fields.items()},
            extras={k: v[rows] for k, v in self.extras.items()},
            warmup=warmup,
            meta=self.meta,
        )

    def _row_bounds(self, start: DateLike | None, end: DateLike | None) -> tuple[int, int]:
        lo = 0 if start is None else int(np.searchsorted(self.dates, to_datetime64(start), "left"))
        hi = (
            self.n_dates
            if end is None
            else int(np.searchsorted(self.dates, to_datetime64(end), "right"))
        )
        return lo, hi

    def slice(self, start: DateLike | None = None, end: DateLike | None = None) -> Panel:
        """Rows with ``start <= date <= end`` (both inclusive; None means open-ended)."""
        lo, hi = self._row_bounds(start, end)
        if hi <= lo:
            raise DataError(
                f"no dates between {start} and {end} "
                f"(panel covers {str(self.dates[0])[:10] if self.n_dates else '-'}"
                f"..{str(self.dates[-1])[:10] if self.n_dates else '-'})",
                rule="empty date range",
            )
        return self._take_rows(slice(lo, hi))

    def select(self, symbols: str | Iterable[str]) -> Panel:
        """Columns for ``symbols`` in the order given; unknown symbols raise DataError."""
        wanted = [symbols] if isinstance(symbols, str) else list(symbols)
        if not wanted:
            raise DataError("no symbols requested", rule="unknown symbol")
        index = {s: i for i, s in enumerate(self.symbols)}
        unknown = [s for s in wanted if s not in index]
        if unknown:
            raise DataError(
                f"unknown symbol(s) {', '.join(map(str, unknown[:10]))}"
                + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""),
                rule="unknown symbol",
                symbol=str(unknown[0]),
            )
        if len(set(wanted)) != len(wanted):
            raise DataError("a symbol is requested twice", rule="duplicated symbol")
        cols = np.array([index[s] for s in wanted], dtype=np.intp)
        return Panel(
            dates=self.dates,
            symbols=tuple(wanted),
            fields={k: v[:, cols] for k, v in self.fields.items()},
            extras={k: v[:, cols] for k, v in self.extras.items()},
            warmup=self.warmup,
            meta=self.meta,
        )

    def select_fields(self, fields: Iterable[str]) -> Panel:
        """Keep only the named fields; a missing field raises DataError."""
        names = list(fields)
        missing = [f for f in names if f not in self.fields]
        if missing:
            raise DataError(
                f"field(s) {', '.join(missing)} not in panel (has {', '.join(self.fields)})",
                rule="field missing",
            )
        return self.replace(fields={f: self.fields[f] for f in names})

    def split(
        self, valid_start: DateLike, test_start: DateLike, *, warmup: int = 0
    ) -> tuple[Panel, Panel, Panel]:
        """Split by date into train / valid / test panels that never overlap.

        Train holds dates < ``valid_start``, valid holds ``valid_start <= date < test_start``,
        test holds dates >= ``test_start``. With ``warmup=k`` the valid and test panels also
        carry the ``k`` rows before their start as history (``panel.warmup == k``): features may
        read them, labels and evaluation never do.
        """
        v0, t0 = to_datetime64(valid_start), to_datetime64(test_start)
        if not v0 < t0:
            raise ConfigError(f"valid_start {valid_start} must be before test_start {test_start}")
        if warmup < 0:
            raise ConfigError(f"warmup must be >= 0, got {warmup}")
        iv = int(np.searchsorted(self.dates, v0, "left"))
        it = int(np.searchsorted(self.dates, t0, "left"))
        lo = self.warmup
        names = ("train", "valid", "test")
        bounds = ((lo, iv), (iv, it), (it, self.n_dates))
        for name, (a, b) in zip(names, bounds, strict=True):
            if b <= max(a, lo):
                raise DataError(
                    f"the {name} split is empty (valid_start={valid_start}, "
                    f"test_start={test_start})",
                    rule="empty date range",
                )
        parts = [self._take_rows(slice(lo, iv), warmup=0)]
        for a, b in bounds[1:]:
            w = min(warmup, a)
            parts.append(self._take_rows(slice(a - w, b), warmup=w))
        return parts[0], parts[1], parts[2]

    # ------------------------------------------------------------------ returns and labels
    def _price(self, field: str) -> np.ndarray:
        if field not in self.fields:
            raise DataError(f"field {field!r} not in panel", rule="field missing")
        return self.fields[field]

    def returns(self, horizon: int = 1, *, field: str = "close") -> np.ndarray:
        """Past simple returns ``p[t] / p[t-h] - 1``; the first ``h`` rows are NaN."""
        if horizon < 1:
            raise ConfigError(f"horizon must be >= 1, got {horizon}")
        price = self._price(field)
        out = np.full(price.shape, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[horizon:] = price[horizon:] / price[:-horizon] - 1.0
        return out

    def forward_returns(self, horizon: int = 1, *, field: str = "close") -> np.ndarray:
        """FUTURE returns ``p[t+h] / p[t] - 1``: a label, never a feature.

        Computed inside this panel only, so the last ``h`` rows have no label (NaN) and a label
        never uses prices of the next segment. Warm-up rows get NaN too.
        """
        if horizon < 1:
            raise ConfigError(f"horizon must be >= 1, got {horizon}")
        price = self._price(field)
        out = np.full(price.shape, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:-horizon] = price[horizon:] / price[:-horizon] - 1.0
        out[: self.warmup] = np.nan
        return out

    # ------------------------------------------------------------------ resampling
    def resample(self, rule: str) -> Panel:
        """Aggregate bars to a coarser frequency (polars duration, e.g. "5m", "1h", "1d").

        open = first, high = max, low = min, close = last, volume = sum; other fields and extras
        take the last value of the bucket. A bucket is labelled by its start time.
        """

        long = self.to_polars("long", include_extras=True)
        aggs = []
        for name in [*self.fields, *self.extras]:
            how = _OHLCV_AGG.get(name, "last")
            col = pl.col(name).drop_nulls()
            aggs.append(getattr(col, how)().alias(name))
        try:
            out = (
                long.sort("symbol", "date")
                .with_columns(pl.col("date").dt.truncate(rule).alias("date"))
                .group_by("symbol", "date", maintain_order=True)
                .agg(aggs)
            )
        except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError) as exc:
            raise ConfigError(f"invalid resample rule {rule!r}: {exc}") from exc
        panel = Panel.from_long(out, extras=list(self.extras))
        return panel.select(self.symbols).replace(meta=dict(self.meta, resampled=rule))

    # ------------------------------------------------------------------ conversions
    def to_polars(
        self, layout: Layout = "long", *, field: str | None = None, include_extras: bool = True
    ) -> pl.DataFrame:
        """Long (date, symbol, fields...) or wide (date + one column per symbol, one field)."""

        if layout == "wide":
            name = self._wide_field(field)
            data = {"date": self.dates}
            arr = self[name]
            for j, sym in enumerate(self.symbols):
                data[sym] = arr[:, j]
            return pl.DataFrame(data).with_columns(pl.col("date").cast(pl.Datetime("ns")))
        if layout != "long":
            raise ConfigError(f"layout must be 'long' or 'wide', got {layout!r}")
        columns = {**self.fields, **(self.extras if include_extras else {})}
        stacked = np.stack([v for v in columns.values()], axis=-1)  # (T, N, F)
        present = ~np.all(np.isnan(stacked), axis=-1)
        rows, cols = np.nonzero(present)
        frame = {
            "date": self.dates[rows],
            "symbol": np.asarray(self.symbols, dtype=object)[cols].astype(str),
        }
        for k, v in columns.items():
            frame[k] = v[rows, cols]
        df = pl.DataFrame(frame).with_columns(pl.col("date").cast(pl.Datetime("ns")))
        df = df.with_columns([pl.col(k).fill_nan(None) for k in columns])
        return df.sort("symbol", "date")

    def to_pandas(self, layout: Layout = "long", *, include_extras: bool = True) -> pd.DataFrame:
        """Long frame (date, symbol, fields...) or wide frame with (field, symbol) columns."""

        if layout == "long":
            return self.to_polars("long", include_extras=include_extras).to_pandas()
        if layout != "wide":
            raise ConfigError(f"layout must be 'long' or 'wide', got {layout!r}")
        columns = {**self.fields, **(self.extras if include_extras else {})}
        frames = {
            k: pd.DataFrame(np.array(v), columns=list(self.symbols)) for k, v in columns.items()
        }
        wide = pd.concat(frames, axis=1, names=["field", "symbol"])
        wide.index = pd.DatetimeIndex(self.dates, name="date")
        return wide

    def _wide_field(self, field: str | None) -> str:
        if field is None:
            if len(self.fields) == 1:
                return next(iter(self.fields))
            raise ConfigError(
                "a polars wide frame holds one field: pass field=... "
                f"(one of {', '.join(self.fields)})"
            )
        self[field]  # raises DataError when missing
        return field

    @classmethod
    def from_long(
        cls,
        frame: Any,
        *,
        fields: Sequence[str] | None = None,
        extras: Sequence[str] = (),
        meta: Mapping[str, Any] | None = None,
        date_format: str | None = None,
    ) -> Panel:
        """Build a panel from a long polars/pandas frame with ``date`` and ``symbol`` columns.

        Text dates must be ISO 8601 unless ``date_format`` (``strptime`` codes) is given; see
        ``quantrl.data.dates`` for time zones.
        """

        dates, symbols, arrays = long_to_panel_arrays(frame, fields=fields, date_format=date_format)
        field_arrays = {k: v for k, v in arrays.items() if k not in extras}
        extra_arrays = {k: arrays[k] for k in extras if k in arrays}
        return cls(dates, symbols, field_arrays, extra_arrays, meta=meta or {})

    @classmethod
    def from_wide(
        cls, frames: Mapping[str, Any], *, meta: Mapping[str, Any] | None = None
    ) -> Panel:
        """Build a panel from ``{field: wide frame}`` (polars with a date column, or pandas)."""

        if not frames:
            raise DataError("no frames given", rule="field missing")
        dates = None
        symbols: tuple[str, ...] | None = None
        arrays = {}
        for name, frame in frames.items():
            d, s, a = wide_to_arrays(frame)
            if dates is None:
                dates, symbols = d, s
            elif not np.array_equal(d, dates) or s != symbols:
                raise DataError(
                    f"wide frame for {name!r} is not aligned with the others", rule="shape"
                )
            arrays[name] = a
        return cls(dates, symbols, arrays, meta=meta or {})

    @classmethod
    def from_pandas_wide(
        cls, frame: pd.DataFrame, *, meta: Mapping[str, Any] | None = None
    ) -> Panel:
        """Build a panel from a pandas frame with (field, symbol) or (symbol, field) columns.

        The field level is detected as in ``from_frame(layout="wide")`` (yfinance frames of both
        ``group_by`` layouts included) and field names are normalised (``Adj Close`` ->
        ``adj_close``); a header that does not say which level holds the fields raises.
        """

        if not isinstance(frame, pd.DataFrame) or not isinstance(frame.columns, pd.MultiIndex):
            raise DataError("expected a pandas frame with two levels of columns", rule="shape")
        return cls.from_frame(frame, layout="wide", meta=meta)

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        layout: FrameLayout = "auto",
        *,
        symbol: str | None = None,
        field: str | None = None,
        adjust: bool = False,
        extras: Sequence[str] = (),
        date_format: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Panel:
        """Build a panel from your own pandas or polars frame: long, wide or yfinance layout.

        ``layout="auto"`` detects the layout (``quantrl.data.layouts``): two column levels are a
        wide frame (fields and symbols in either order, as ``yfinance.download`` returns with
        ``group_by="column"`` or ``"ticker"``), a symbol column (symbol, ticker, tic, ...) makes
        a long frame, a frame of one symbol needs ``symbol=``, and one column per symbol of a
        single field needs ``field=``; an ambiguous header raises DataError. Field names become
        lower snake case (``Adj Close`` -> ``adj_close``); ``close`` stays as given and
        ``adjust=True`` scales open/high/low/close by ``adj_close / close`` (yfinance's
        ``auto_adjust``). Bars are not validated here: ``load_market(frame)`` validates them.
        """

        long = frame_to_long(
            frame, layout, symbol=symbol, field=field, adjust=adjust, date_format=date_format
        )
        return cls.from_long(long, extras=extras, meta=meta)

    # ------------------------------------------------------------------ out-of-sample folds
    def walk_forward(
        self,
        train: int,
        test: int,
        step: int | None = None,
        *,
        embargo: int = 0,
        warmup: int = 0,
        expanding: bool = False,
    ) -> list[tuple[Panel, Panel]]:
        """(train panel, test panel) pairs of ``quantrl.data.folds.walk_forward_rows``.

        Rows count from the first row after this panel's own warm-up. With ``warmup=k`` both
        panels of a fold carry up to ``k`` earlier rows as history (``panel.warmup``), as
        ``split`` does. Labels are computed inside each panel (``forward_returns``), so a
        training label never reads a test price; ``embargo`` leaves rows between the two out.
        """
        if isinstance(warmup, bool) or not isinstance(warmup, int | np.integer) or warmup < 0:
            raise ConfigError(f"warmup must be an integer >= 0, got {warmup!r}")
        off = self.warmup
        folds = walk_forward_rows(
            self.n_dates - off, train, test, step, embargo=embargo, expanding=expanding
        )
        out = []
        for fold in folds:
            pair = []
            for rows in fold:
                a, b = off + int(rows[0]), off + int(rows[-1]) + 1
                w = min(int(warmup), a)
                pair.append(self._take_rows(slice(a - w, b), warmup=w))
            out.append((pair[0], pair[1]))
        return out

    def purged_kfold(self, k: int, horizon: int, embargo: int = 0) -> list[Fold]:
        """Row indices of ``quantrl.data.folds.purged_kfold_rows`` over this panel's rows.

        Indices address this panel's rows (arrays such as ``panel["close"]`` or
        ``panel.forward_returns(horizon)``); the warm-up rows are never in a fold. Row indices,
        not panels: the training rows around a test block are not contiguous, and a panel with a
        gap would compute labels across it.
        """
        off = self.warmup
        return [
            Fold(f.train + off, f.test + off)
            for f in purged_kfold_rows(self.n_dates - off, k, horizon, embargo)
        ]
