"""Exception hierarchy: every error quantrl raises names what was wrong."""

from __future__ import annotations


class QuantRLError(Exception):
    """Base class of every error raised by quantrl."""


class DataError(QuantRLError, ValueError):
    """Market data is malformed, missing or inconsistent.

    ``rule`` names the check that failed; ``symbol`` and ``date`` locate the first offending bar
    when the problem is tied to one.
    """

    def __init__(
        self,
        message: str,
        *,
        rule: str | None = None,
        symbol: str | None = None,
        date: object | None = None,
    ) -> None:
        self.rule = rule
        self.symbol = symbol
        self.date = date
        parts = []
        if rule:
            parts.append(f"[{rule}]")
        parts.append(message)
        where = []
        if symbol is not None:
            where.append(f"symbol={symbol}")
        if date is not None:
            where.append(f"date={str(date)[:19]}")
        if where:
            parts.append("(" + ", ".join(where) + ")")
        super().__init__(" ".join(parts))


class FormulaError(QuantRLError, ValueError):
    """A formula is malformed; ``position`` is the character offset of the problem."""

    def __init__(self, message: str, *, formula: str = "", position: int | None = None) -> None:
        self.formula = formula
        self.position = position
        text = message
        if formula and position is not None:
            pointer = " " * position + "^"
            text = f"{message} at position {position}\n  {formula}\n  {pointer}"
        elif position is not None:
            text = f"{message} at position {position}"
        super().__init__(text)


class ConfigError(QuantRLError, ValueError):
    """An argument, option or specification is invalid."""


class JobError(QuantRLError, RuntimeError):
    """A scheduled or resumable job cannot run (lock held, corrupt checkpoint, ...)."""
