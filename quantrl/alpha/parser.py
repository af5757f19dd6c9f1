"""Formula parsers: Qlib infix strings (tokenizer + Pratt parser) and AlphaGen RPN token lists.

Infix grammar (Python precedence, as Qlib evaluates formulas with Python operators):
comparisons ``> < >= <= == !=`` (lowest, not chainable) < ``|`` < ``&`` < ``+ -`` < ``* /`` <
unary ``- +``. Calls are ``Name(arg, ...)``; features ``$name``; numbers are decimal or scientific
(``1e-12``), optionally with AlphaGen's day suffix (``10d``) for windows. Nothing is ever passed to
``eval``. Every error is a ``FormulaError`` carrying the formula and the character position.

Limits, checked while parsing so that nothing absurd reaches a kernel: windows, lags, offsets
and spans are whole numbers of rows up to ``ops.MAX_WINDOW`` (100,000), and a tree is at most
``ops.MAX_DEPTH`` (64) levels deep ("nested too deep", never a RecursionError).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from quantrl.alpha import ops as _ops
from quantrl.alpha.expr import Constant, Expr, Feature, Op
from quantrl.errors import FormulaError

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?P<dt>d(?![A-Za-z0-9_]))?
  | (?P<feat>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>>=|<=|==|!=|[-+*/<>&|])
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<comma>,)
    """,
    re.VERBOSE,
)

_BINARY_BP: dict[str, int] = {
    ">": 5,
    "<": 5,
    ">=": 5,
    "<=": 5,
    "==": 5,
    "!=": 5,
    "|": 10,
    "&": 20,
    "+": 30,
    "-": 30,
    "*": 40,
    "/": 40,
}
_CMP = {">", "<", ">=", "<=", "==", "!="}
_UNARY_BP = 50
# Recursion guard of the parser: calls, parentheses and unary signs it may nest (a canonical
# string of a tree at the depth limit nests at most one level more than the tree).
_MAX_NESTING = 2 * _ops.MAX_DEPTH


@dataclass(frozen=True)
class Token:
    """One lexical token: kind (num, feat, name, op, lp, rp, comma, end), text and position."""

    kind: str
    text: str
    pos: int
    dt: bool = False


def tokenize(text: str) -> list[Token]:
    """Split a formula into tokens; raise FormulaError at the first unknown character."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FormulaError(f"unexpected character {text[pos]!r}", formula=text, position=pos)
        kind = m.lastgroup or ""
        if kind == "dt":
            kind = "num"
        if kind != "ws":
            if kind == "num":
                tokens.append(Token("num", m.group("num"), pos, dt=m.group("dt") is not None))
            else:
                tokens.append(Token(kind, m.group(0), pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(
        self, text: str, *, allow_future: bool, fields: frozenset[str] | None = None
    ) -> None:
        self.text = text
        self.allow_future = allow_future
        self.fields = fields
        self.tokens = tokenize(text)
        self.i = 0
        self.nesting = 0

    # -- helpers
    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, pos: int) -> FormulaError:
        return FormulaError(message, formula=self.text, position=pos)

    def _describe(self, tok: Token) -> str:
        return "end of formula" if tok.kind == "end" else repr(tok.text)

    # -- grammar
    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise self.error("empty formula", 0)
        expr = self.expr(0)
        tok = self.peek()
        if tok.kind != "end":
            if tok.kind == "rp":
                raise self.error("unbalanced parentheses: unexpected ')'", tok.pos)
            raise self.error(f"unexpected {self._describe(tok)} after a complete formula", tok.pos)
        return expr

    def expr(self, min_bp: int) -> Expr:
        self.nesting += 1
        try:
            if self.nesting > _MAX_NESTING:
                raise self.error(
                    f"formula nested too deep (more than {_MAX_NESTING} levels of calls, "
                    f"parentheses and signs; trees may be at most {_ops.MAX_DEPTH} deep)",
                    self.peek().pos,
                )
            return self._expr(min_bp)
        finally:
            self.nesting -= 1

    def _expr(self, min_bp: int) -> Expr:
        left = self.prefix()
        last_cmp = False
        while True:
            tok = self.peek()
            if tok.kind != "op":
                break
            bp = _BINARY_BP[tok.text]
            if bp <= min_bp:
                break
            if tok.text in _CMP and last_cmp:
                raise self.error("chained comparison is ambiguous; add parentheses", tok.pos)
            self.next()
            right = self.expr(bp)
            left = self.build(_ops.INFIX[tok.text], [left, right], [], tok.pos, [tok.pos] * 2)
            last_cmp = tok.text in _CMP
        return left

    def prefix(self) -> Expr:
        tok = self.next()
        if tok.kind == "num":
            return self.number(tok)
        if tok.kind == "feat":
            name = tok.text[1:]
            if self.fields is not None and name not in self.fields:
                raise self.error(
                    f"unknown feature ${name}; available: "
                    + ", ".join("$" + f for f in sorted(self.fields)),
                    tok.pos,
                )
            return Feature(name)
        if tok.kind == "op" and tok.text in ("-", "+"):
            operand = self.expr(_UNARY_BP)
            if tok.text == "+":
                return operand
            if isinstance(operand, Constant):
                return Constant(-operand.value)
            return self.build("Mul", [Constant(-1.0), operand], [], tok.pos, [tok.pos] * 2)
        if tok.kind == "lp":
            inner = self.expr(0)
            close = self.peek()
            if close.kind != "rp":
                if close.kind == "end":
                    raise self.error("unbalanced parentheses: '(' is never closed", tok.pos)
                raise self.error(f"expected ')' but found {self._describe(close)}", close.pos)
            self.next()
            return inner
        if tok.kind == "name":
            return self.call(tok)
        if tok.kind == "end":
            raise self.error("formula ends where an operand was expected", tok.pos)
        if tok.kind == "rp":
            raise self.error("unexpected ')' where an operand was expected", tok.pos)
        raise self.error(f"unexpected {self._describe(tok)} where an operand was expected", tok.pos)

    def number(self, tok: Token) -> Expr:
        try:
            value = float(tok.text)
        except ValueError as exc:  # pragma: no cover - the regex only admits valid floats
            raise self.error(f"invalid number {tok.text!r}", tok.pos) from exc
        if value != value or value in (float("inf"), float("-inf")):
            raise self.error(f"number {tok.text} is not finite", tok.pos)
        return Constant(value)

    def call(self, name_tok: Token) -> Expr:
        spec = _ops.lookup(name_tok.text)
        if self.peek().kind != "lp":
            if spec is not None:
                raise self.error(f"operator {spec.name} must be followed by '('", self.peek().pos)
            raise self.error(
                f"unknown name {name_tok.text!r} (features are written with '$', "
                f"e.g. ${name_tok.text})",
                name_tok.pos,
            )
        if spec is None:
            raise self.error(f"unknown operator {name_tok.text!r}", name_tok.pos)
        lp = self.next()
        args: list[Expr] = []
        positions: list[int] = []
        if self.peek().kind == "rp":
            self.next()
        else:
            while True:
                positions.append(self.peek().pos)
                args.append(self.expr(0))
                tok = self.next()
                if tok.kind == "comma":
                    continue
                if tok.kind == "rp":
                    break
                if tok.kind == "end":
                    raise self.error("unbalanced parentheses: '(' is never closed", lp.pos)
                raise self.error(f"expected ',' or ')' but found {self._describe(tok)}", tok.pos)
        if len(args) != spec.arity:
            raise self.error(
                f"{spec.name} takes {spec.arity} argument(s) {spec.signature()}, got {len(args)}",
                name_tok.pos,
            )
        inputs = args[: spec.n_inputs]
        params = args[spec.n_inputs :]
        return self.build(spec.name, inputs, params, name_tok.pos, positions)

    def build(
        self,
        name: str,
        inputs: Sequence[Expr],
        params: Sequence[Expr],
        pos: int,
        positions: Sequence[int],
    ) -> Expr:
        spec = _ops.OPERATORS[name]
        depth = 1 + max((c.depth for c in inputs), default=0)
        if depth > _ops.MAX_DEPTH:
            raise self.error(
                f"formula nested too deep: {spec.name} here makes the tree {depth} levels deep "
                f"(at most {_ops.MAX_DEPTH})",
                pos,
            )
        values: list[Any] = []
        for k, (kind, p) in enumerate(zip(spec.params, params, strict=True)):
            ppos = positions[spec.n_inputs + k] if len(positions) > spec.n_inputs + k else pos
            if not isinstance(p, Constant):
                raise self.error(f"{spec.name}: {kind} must be a number, got {p}", ppos)
            value, err = _ops.check_param(spec, kind, p.value)
            if err:
                raise self.error(err, ppos)
            if kind == "offset" and value < 0 and not self.allow_future:
                raise self.error(
                    f"{spec.name} with a negative offset reads {-value} rows of the future; "
                    "pass allow_future=True to build a label",
                    ppos,
                )
            values.append(value)
        for k, child in enumerate(inputs):
            if spec.category in ("rolling", "pair_rolling", "cross_section") and not (
                child.is_featured
            ):
                cpos = positions[k] if k < len(positions) else pos
                raise self.error(f"{spec.name} needs a market-data operand, got {child}", cpos)
        if not any(c.is_featured for c in inputs):
            raise self.error(
                f"{spec.name} needs at least one operand that depends on market data", pos
            )
        return Op(spec, inputs, values)


def parse(
    text: str | Expr,
    *,
    allow_future: bool = False,
    fields: Iterable[str] | None = None,
) -> Expr:
    """Parse a Qlib-style infix formula (or return an Expr unchanged) into an expression tree.

    ``allow_future`` admits ``Ref(x, -d)`` (future data, for labels only); ``fields``, when
    given, restricts ``$name`` features to these panel fields.
    """
    if isinstance(text, Expr):
        if text.future and not allow_future:
            raise FormulaError(
                "formula reads future rows (negative Ref); pass allow_future=True for labels",
                formula=str(text),
                position=0,
            )
        return text
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, got {type(text).__name__}")
    allowed = frozenset(fields) if fields is not None else None
    return _Parser(text, allow_future=allow_future, fields=allowed).parse()


# --------------------------------------------------------------------------- RPN


def _token_text(token: Any) -> str:
    """Text of an RPN token: a string, or an AlphaGen token object (duck-typed)."""
    if isinstance(token, str):
        return token.strip()
    if isinstance(token, (int, float)) and not isinstance(token, bool):
        return _ops.format_number(token)
    if hasattr(token, "operator"):
        return getattr(token.operator, "__name__", str(token.operator))
    if hasattr(token, "feature"):
        feat = token.feature
        return "$" + str(getattr(feat, "name", feat)).lower()
    if hasattr(token, "delta_time"):
        return f"{int(token.delta_time)}d"
    if hasattr(token, "constant"):
        return _ops.format_number(float(token.constant))
    return str(token).strip()


_RPN_NUM = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?d?")


def parse_rpn(
    tokens: Sequence[Any] | str,
    *,
    allow_future: bool = False,
    fields: Iterable[str] | None = None,
) -> Expr:
    """Parse AlphaGen-style reverse Polish tokens into the same tree the infix form gives.

    Tokens are strings (``["$close", "10", "Mean", "$close", "Div"]``; windows may carry
    AlphaGen's ``d`` suffix) or AlphaGen token objects (Feature/Constant/DeltaTime/Operator
    tokens); a single string is split on whitespace (``"$close 10 Mean"``). Errors report the
    character position within ``" ".join(tokens)``; the begin/separator markers ``BEG``/``SEP``
    are skipped.
    """
    if isinstance(tokens, str):
        tokens = tokens.split()
    elif isinstance(tokens, (bytes, bytearray)) or not isinstance(tokens, Iterable):
        raise FormulaError(
            f"RPN tokens must be a list of tokens or a whitespace-separated string, "
            f"got {type(tokens).__name__}"
        )
    try:
        texts = [_token_text(t) for t in tokens]
    except (TypeError, ValueError, OverflowError) as exc:
        raise FormulaError(f"unreadable RPN token: {exc}") from exc
    texts_kept: list[tuple[str, int]] = []
    formula = ""
    for t in texts:
        pos = len(formula) + (1 if formula else 0)
        formula = f"{formula} {t}" if formula else t
        if t in ("BEG", "SEP", ""):
            continue
        texts_kept.append((t, pos))
    if not texts_kept:
        raise FormulaError("empty formula", formula=formula, position=0)
    allowed = frozenset(fields) if fields is not None else None
    helper = _Parser("", allow_future=allow_future, fields=allowed)
    helper.text = formula
    stack: list[tuple[Expr, int]] = []
    for t, pos in texts_kept:
        if _RPN_NUM.fullmatch(t):
            value = float(t.rstrip("d"))
            if value != value or value in (float("inf"), float("-inf")):
                raise FormulaError(f"number {t} is not finite", formula=formula, position=pos)
            stack.append((Constant(value), pos))
            continue
        if t.startswith("$"):
            name = t[1:]
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise FormulaError(f"invalid feature {t!r}", formula=formula, position=pos)
            if allowed is not None and name not in allowed:
                raise FormulaError(f"unknown feature {t}", formula=formula, position=pos)
            stack.append((Feature(name), pos))
            continue
        spec = _ops.lookup(t)
        if spec is None:
            raise FormulaError(f"unknown operator or token {t!r}", formula=formula, position=pos)
        if len(stack) < spec.arity:
            raise FormulaError(
                f"{spec.name} takes {spec.arity} argument(s) {spec.signature()}, "
                f"only {len(stack)} on the stack",
                formula=formula,
                position=pos,
            )
        args = stack[len(stack) - spec.arity :]
        del stack[len(stack) - spec.arity :]
        exprs = [a for a, _ in args]
        positions = [p for _, p in args]
        node = helper.build(
            spec.name, exprs[: spec.n_inputs], exprs[spec.n_inputs :], pos, positions
        )
        stack.append((node, pos))
    if len(stack) != 1:
        pos = stack[1][1] if len(stack) > 1 else 0
        raise FormulaError(
            f"RPN tokens leave {len(stack)} expressions instead of one",
            formula=formula,
            position=pos,
        )
    return stack[0][0]


def to_rpn(expr: Expr) -> list[str]:
    """Reverse Polish token strings of a tree (inverse of ``parse_rpn``)."""
    out: list[str] = []

    def visit(node: Expr) -> None:
        for c in node.children:
            visit(c)
        if isinstance(node, Op):
            out.extend(_ops.format_number(p) for p in node.params)
            out.append(node.name)
        else:
            out.append(str(node))

    visit(expr)
    return out
