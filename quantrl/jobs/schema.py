"""The schema library of job and sweep specs: pydantic tables, small validators, one-line errors.

Each TOML table is a ``Table`` (a frozen pydantic model that refuses unknown keys). Field types
are strict (a string is never an integer, a boolean never a number), bounds are checked by the
validators below, and ``validate_spec`` turns a pydantic ``ValidationError`` into one
``ConfigError`` line that names the table and key, e.g.
``[budget] minutes: must be a finite number >= 0, got nan``. ``canonical_json`` dumps a
validated spec (defaults filled in, values normalised) as sorted JSON for digests.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Strict, ValidationError

from quantrl.errors import ConfigError
from quantrl.mining.tokens import Vocabulary

__all__ = [
    "SEED_MAX",
    "Bool",
    "DateText",
    "Float",
    "Int",
    "JobName",
    "Operators",
    "PathText",
    "Seed",
    "Str",
    "Table",
    "Text",
    "canonical_json",
    "changed_keys",
    "choice",
    "describe_errors",
    "distinct",
    "finite",
    "int_range",
    "iso_date",
    "non_empty",
    "operator_names",
    "read_toml",
    "validate_spec",
]

SEED_MAX = 2**32 - 1
"""Largest seed numpy, torch and SB3 all accept."""

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]  # strict floats accept integers, never booleans or strings
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]

T = TypeVar("T")


class Table(BaseModel):
    """A TOML table: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- validators


def int_range(lo: int, hi: int | None = None) -> AfterValidator:
    """An integer within ``[lo, hi]`` (``hi`` None: no upper bound)."""

    def check(value: int) -> int:
        if value < lo or (hi is not None and value > hi):
            bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise ValueError(f"must be an integer {bound}, got {_short(value)}")
        return value

    return AfterValidator(check)


def finite(
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    note: str = "",
) -> AfterValidator:
    """A finite number within the given bounds (``note`` explains a special value)."""
    parts = [
        f"{op} {_num(b)}"
        for op, b in ((">=", ge), (">", gt), ("<=", le), ("<", lt))
        if b is not None
    ]
    want = "a finite number" + (" " + " and ".join(parts) if parts else "") + note

    def check(value: float) -> float:
        v = float(value)
        ok = math.isfinite(v)
        ok = ok and (ge is None or v >= ge) and (gt is None or v > gt)
        ok = ok and (le is None or v <= le) and (lt is None or v < lt)
        if not ok:
            raise ValueError(f"must be {want}, got {_short(value)}")
        return v

    return AfterValidator(check)


def choice(options: Sequence[str]) -> AfterValidator:
    """One of ``options``."""

    def check(value: str) -> str:
        if value not in options:
            listed = ", ".join(repr(o) for o in options)
            raise ValueError(f"must be one of {listed}, got {_short(value)}")
        return value

    return AfterValidator(check)


def _distinct(values: tuple[T, ...]) -> tuple[T, ...]:
    seen: set[Any] = set()
    for v in values:
        key = json.dumps(v, sort_keys=True) if isinstance(v, list | tuple | dict) else v
        if key in seen:
            raise ValueError(f"values must be distinct, {_short(v)} appears twice")
        seen.add(key)
    return values


distinct = AfterValidator(_distinct)
"""A list without repeated values."""


def _non_empty(values: tuple[T, ...]) -> tuple[T, ...]:
    if not values:
        raise ValueError("must not be empty")
    return values


non_empty = AfterValidator(_non_empty)
"""A list with at least one value."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _job_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"must start with a letter or digit and use letters, digits, '-', '_' or '.' "
            f"(at most 128), got {_short(value)}"
        )
    return value


def _path_text(value: str) -> str:
    if "\x00" in value or len(value) > 4096:
        raise ValueError(f"is not a usable path: {_short(value)}")
    return value


def _text(value: str) -> str:
    if not value.strip() or "\x00" in value:
        raise ValueError(f"must be a non-empty string, got {_short(value)}")
    return value


def iso_date(value: Any) -> str | None:
    """A TOML date or a ``YYYY-MM-DD`` string -> ISO text (None stays None)."""
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        raise ValueError(f"{value.isoformat()} carries a time zone; give a plain date")
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(f"must be a date (YYYY-MM-DD), got {_kind(value)} {_short(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{_short(value)} is not a date (YYYY-MM-DD)") from None
    if parsed.tzinfo is not None:
        raise ValueError(f"{_short(value)} carries a time zone; give a plain date")
    return value


def operator_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """Operators of the miner's vocabulary (known, supported), as canonical names."""
    if not names:
        raise ValueError("needs at least one operator")
    return _distinct(Vocabulary(operators=names).operators)


JobName = Annotated[Str, AfterValidator(_job_name)]
"""A job or sweep name: letters, digits, '-', '_' and '.'."""
PathText = Annotated[Str, AfterValidator(_path_text)]
"""A file or folder path ("" = the default)."""
Text = Annotated[Str, AfterValidator(_text)]
"""A non-empty string."""
Seed = Annotated[Int, int_range(0, SEED_MAX)]
"""A random seed (0 .. 2**32 - 1)."""
DateText = Annotated[Any, AfterValidator(iso_date)]
"""An optional date (TOML date or ISO string)."""
Operators = Annotated[tuple[Str, ...], AfterValidator(operator_names)]
"""A list of miner operators."""


# --------------------------------------------------------------------------- errors


M = TypeVar("M", bound=BaseModel)


def validate_spec(model: type[M], data: Any, *, what: str = "spec") -> M:
    """``model`` validated from ``data``, or one ConfigError line naming table and key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(model, exc, what=what)) from None


def describe_errors(model: type[BaseModel], exc: ValidationError, *, what: str = "spec") -> str:
    """One line describing the problems of a ValidationError (the first three, then a count)."""
    lines = [_describe(model, err, what) for err in exc.errors(include_url=False)]
    lines = list(dict.fromkeys(lines))
    text = "; ".join(lines[:3])
    if len(lines) > 3:
        text += f" (and {len(lines) - 3} more problems)"
    return text


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _describe(model: type[BaseModel], err: Any, what: str) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    where = _where(loc)
    if kind == "extra_forbidden":
        known = _known_keys(model, loc[:-1])
        listed = f" (known: {', '.join(known)})" if known else ""
        noun = "table" if len(loc) == 1 else "key"
        return f"{where}: unknown {noun}{listed}"
    if kind == "missing":
        return f"{where} is required"
    if kind == "invalid_key":
        return f"{_where(loc[:-1]) or what}: keys must be strings, got {_short(loc[-1])}"
    if kind in _EXPECTED:
        value = err.get("input")
        got = f"got {_kind(value)} {_short(value)}"
        return f"{where or what}: must be {_EXPECTED[kind]}, {got}"
    ctx = err.get("ctx") or {}
    message = str(ctx["error"]) if "error" in ctx else str(err["msg"])
    message = message.splitlines()[0] if message else kind
    if not where:
        return message
    return f"{where} {message}" if len(loc) == 1 else f"{where}: {message}"


def _where(loc: tuple[Any, ...]) -> str:
    loc = tuple(part for part in loc if part != "[key]")  # pydantic's mark of a bad dict key
    if not loc:
        return ""
    text = f"[{_key(loc[0])}]"
    for i, part in enumerate(loc[1:]):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += (" " if i == 0 else ".") + _key(part)
    return text


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _key(part: Any) -> str:
    """A key as TOML writes it: bare when it can be, else quoted (one line either way)."""
    text = str(part)
    return text if _BARE_KEY.fullmatch(text) else _short(text)


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    cls: Any = model
    for part in loc:
        field = getattr(cls, "model_fields", {}).get(part)
        if field is None:
            return []
        cls = field.annotation
    fields = getattr(cls, "model_fields", None)
    return sorted(fields) if isinstance(fields, dict) else []


def _kind(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array"}
    if isinstance(value, dict):
        return "table"
    if isinstance(value, datetime | date):
        return "date"
    return names.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


# --------------------------------------------------------------------------- files and digests


def read_toml(path: str | Path, *, what: str) -> tuple[Path, dict[str, Any]]:
    """The resolved path and parsed mapping of a TOML file (ConfigError when unreadable)."""
    p = Path(path).expanduser().resolve()
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    try:
        return p, tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {p} is not valid TOML: {exc}") from None


def canonical_json(model: BaseModel, exclude: dict[str, Iterable[str]] | None = None) -> str:
    """Sorted, compact JSON of a validated spec without the ``exclude``d keys per table."""
    data = model.model_dump(mode="json")
    for table, keys in (exclude or {}).items():
        section = data.get(table)
        if isinstance(section, dict):
            for key in keys:
                section.pop(key, None)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


_ABSENT = object()


def changed_keys(old: str, new: str) -> list[str]:
    """``[table] key: old -> new`` for every key that differs between two canonical JSON dumps
    (``(absent)`` for a key only one of them has)."""
    a, b = json.loads(old), json.loads(new)
    out: list[str] = []

    def shown(value: Any) -> str:
        return "(absent)" if value is _ABSENT else _short(value, 40)

    def walk(x: Any, y: Any, loc: tuple[str, ...]) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                walk(x.get(key, _ABSENT), y.get(key, _ABSENT), (*loc, key))
        elif x != y:
            out.append(f"{_where(loc) or 'spec'}: {shown(x)} -> {shown(y)}")

    walk(a, b, ())
    return out
