"""Financial-logic judges: score a formula in [0, 1] with the reasons behind the score.

``RuleBasedJudge`` (the default) needs nothing but the expression tree. ``LLMJudge`` asks an
OpenAI-compatible chat endpoint and is used only when a user configures one: it sends the
formula text (never market data), follows no redirect (the API key goes to the configured host
only), gives the whole request one deadline and reads at most ``MAX_REPLY_BYTES`` of the reply.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from quantrl.alpha import parse
from quantrl.errors import ConfigError, FormulaError, QuantRLError
from quantrl.evaluation.formula_rules import (
    NegationMemo,
    decided_comparisons,
    decided_folds,
    double_negatives,
    idle_signs,
    negated_formula,
    shared_cores,
)
from quantrl.evaluation.node_rules import (
    SCALE,
    SHIFT,
    idle_guards,
    node_findings,
    operand,
    rule_name,
)

__all__ = [
    "MAX_REPLY_BYTES",
    "Judge",
    "JudgeVerdict",
    "LLMJudge",
    "RuleBasedJudge",
    "parse_judge_reply",
]

MAX_REPLY_BYTES = 1 << 20
"""Largest LLM judge reply read (1 MiB); a longer one is refused without reading the rest."""

_SNIPPET = 200
"""Characters of a reply quoted in an error message."""


def _snippet(text: Any, limit: int = _SNIPPET) -> str:
    """``text`` on one line, cut to ``limit`` characters (with the full length when cut)."""
    flat = str(text).replace("\r", " ").replace("\n", " ")
    return flat if len(flat) <= limit else f"{flat[:limit]}... ({len(flat)} characters)"


@dataclass(frozen=True)
class JudgeVerdict:
    """A judge's score in [0, 1] (1 = sound financial logic) and its reasons."""

    score: float
    reasons: tuple[str, ...] = ()
    judge: str = ""


@runtime_checkable
class Judge(Protocol):
    """Anything with ``judge(formula) -> JudgeVerdict``; formula is a string or an Expr."""

    def judge(self, formula: Any) -> JudgeVerdict:
        """Score one formula."""
        ...


# ---------------------------------------------------------------------------- rule-based judge
#: Final units that are comparable across symbols (scale-free).
_SCALE_FREE = frozenset({"ratio", "count", "bool", "const", "unknown"})


class RuleBasedJudge:
    """Score a formula's financial logic in [0, 1] from its expression tree alone.

    The score starts at 1 and loses a penalty per distinct finding (clipped at 0), the node
    findings of ``node_findings`` first: ``unit_penalty`` per unit inconsistency (adding a
    price to a volume...), ``domain_penalty`` per Log of a quantity that is not always
    positive (``Log(Delta($close, 5))``, ``Log(Abs(x))`` of a signed x), ``degenerate_penalty``
    per construct that is trivially constant or redundant (``Sub(x, x)``, ``Div(x, x)``,
    ``Corr(x, x, w)``, ``If(c, x, x)``...), ``window_penalty`` per rolling window of 1
    (``Mean(x, 1)``, ``EMA(x, 1)``...), ``redundant_penalty`` per idempotent double application
    (``Abs(Abs(x))``) or Abs of a non-negative quantity (``Abs($volume)``) or redundant
    constant (also one outermost: ``Mul(Div($close, $open), -5)``); then
    ``depth_penalty`` per nesting level beyond ``max_depth``, ``size_penalty`` per 10 nodes
    beyond ``max_size`` and ``scale_penalty`` when the factor is a raw level (price, volume,
    ...) that is not comparable across symbols, and per raw level shifted by a constant
    (``Div($close, Add($open, 5))``; guards against 0 aside), and ``redundant_penalty`` per
    guard against 0 that nothing divides by or takes the log of (``Mean(Add($volume, 1),
    40)``, ``node_rules.idle_guards``), and ``degenerate_penalty`` per comparison that the
    ranges of its operands decide (``Greater(2, Med(Corr($close, $volume, 20), 20))``,
    ``formula_rules.decided_comparisons``), ``redundant_penalty`` per Abs and
    ``degenerate_penalty`` per Sign of a quantity whose range never changes sign
    (``Abs(Add(Corr($close, $open, 10), 30))``, ``formula_rules.decided_folds``), and
    ``redundant_penalty`` per sum, difference, quotient or comparison of two constant shifts or
    multiples of one operator expression (``Sub(Corr(x, y, 10), Mul(Corr(x, y, 10), 2))``),
    ``degenerate_penalty`` where its terms cancel or the expression's range decides it
    (``formula_rules.shared_cores``; the node rules report those of one field), and
    ``redundant_penalty`` per operator that ignores the sign a negative constant gives its
    operand (``Std(Mul($high, -1), 40)``, ``formula_rules.idle_signs``), per difference that
    subtracts such a negation (``Sub($open, Div($close, -5))``, ``formula_rules.double_negatives``)
    and for a formula that is one as a whole (``Div(Sub(Mul($high, -1), $low), $close)``,
    ``formula_rules.negated_formula``). A formula
    that does not parse (constants-only subtrees, Ref of a constant, bad windows), depends on
    no market data or reads future rows scores 0. The miner's grammar (``quantrl.mining.tokens``
    with units on) writes only formulas without any finding but seven that need more of the
    formula than a node's operands: a factor that cancels in a product or quotient, an idle
    guard, a comparison, Abs or Sign decided by ranges, two shifts or multiples of one
    operator expression, a sign an operator above it ignores, a subtracted negation and a
    negated formula, which the miner's pool refuses unevaluated
    (``formula_rules.formula_refusal``).
    """

    def __init__(
        self,
        *,
        max_depth: int = 6,
        max_size: int = 30,
        unit_penalty: float = 0.35,
        domain_penalty: float = 0.35,
        degenerate_penalty: float = 0.35,
        window_penalty: float = 0.25,
        redundant_penalty: float = 0.1,
        depth_penalty: float = 0.1,
        size_penalty: float = 0.1,
        scale_penalty: float = 0.15,
    ) -> None:
        if max_depth < 1 or max_size < 1:
            raise ConfigError(f"max_depth and max_size must be >= 1, got {max_depth}, {max_size}")
        penalties = {
            "unit_penalty": unit_penalty,
            "domain_penalty": domain_penalty,
            "degenerate_penalty": degenerate_penalty,
            "window_penalty": window_penalty,
            "redundant_penalty": redundant_penalty,
            "depth_penalty": depth_penalty,
            "size_penalty": size_penalty,
            "scale_penalty": scale_penalty,
        }
        for key, value in penalties.items():
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{key} must lie in [0, 1], got {value}")
        self.max_depth = int(max_depth)
        self.max_size = int(max_size)
        self.unit_penalty = float(unit_penalty)
        self.domain_penalty = float(domain_penalty)
        self.degenerate_penalty = float(degenerate_penalty)
        self.window_penalty = float(window_penalty)
        self.redundant_penalty = float(redundant_penalty)
        self.depth_penalty = float(depth_penalty)
        self.size_penalty = float(size_penalty)
        self.scale_penalty = float(scale_penalty)

    def __repr__(self) -> str:
        return f"RuleBasedJudge(max_depth={self.max_depth}, max_size={self.max_size})"

    def _nodes(self, expr: Any, names: dict[str, str]) -> list[tuple[float, str]]:
        penalty = {
            "unit": (self.unit_penalty, "unit mismatch"),
            "domain": (self.domain_penalty, "bad domain"),
            "degenerate": (self.degenerate_penalty, "degenerate"),
            "redundant": (self.redundant_penalty, "redundant"),
            "window": (self.window_penalty, "window of 1"),
            "scale": (self.scale_penalty, "scale-dependent"),
        }
        signs: dict[str, str] = {}
        units: list[tuple[float, str]] = []
        others: list[tuple[float, str]] = []
        seen: set[str] = set()
        for node in expr.walk():
            text = str(node)
            if node.kind != "op" or text in seen:
                continue
            seen.add(text)
            kids = [operand(c, names, signs) for c in node.children]
            for category, message in node_findings(node.spec, kids, node.params, text):
                value, label = penalty[category]
                (units if category == "unit" else others).append((value, f"{label}: {message}"))
        for text in decided_comparisons(expr):
            finding = f"degenerate: {text} is decided"
            if not any(message.startswith(finding) for _, message in others):
                others.append(
                    (
                        self.degenerate_penalty,
                        f"{finding} by the ranges of its operands: its outcome never changes",
                    )
                )
        for text, what in decided_folds(expr):
            category = "redundant" if text.startswith("Abs") else "degenerate"
            value, label = penalty[category]
            others.append(
                (value, f"{label}: {text} is {what}: the range of its operand never changes sign")
            )
        reported = {message.split(": ", 1)[1] for _, message in others}
        for text, core, what in shared_cores(expr):
            if any(message.startswith(text) for message in reported):
                continue
            both = f"both operands are constant shifts or multiples of {core}"
            if what == "function":
                message = f"redundant: {text}: {both}, so it is a function of {core} alone"
                others.append((self.redundant_penalty, message))
                continue
            if text.startswith(("Add(", "Sub(")):
                why = f"is a constant: {both}, and its terms in {core} cancel"
            else:
                outcome = "a constant" if what == "constant" else "always one of its operands"
                why = f"is {outcome}: {both}, and the range of {core} decides it"
            others.append((self.degenerate_penalty, f"degenerate: {text} {why}"))
        for guard in idle_guards(expr):
            others.append(
                (
                    self.redundant_penalty,
                    f"redundant: {guard} guards against 0, but nothing above it divides by it "
                    "or takes its log: the constant only blurs the level",
                )
            )
        return units + others

    def _negation_findings(
        self, expr: Any, names: dict[str, str], outer: str, findings: list[tuple[float, str]]
    ) -> list[tuple[float, str]]:
        """``redundant_penalty`` per node that ignores a negative constant's sign
        (``formula_rules.idle_signs``), per difference that subtracts a negation
        (``formula_rules.double_negatives``), unless a node rule already reported that node (or,
        for a difference, the negation it subtracts), and for a formula that is a negation as a
        whole (``formula_rules.negated_formula``) unless its outermost constant factor, the
        formula or the node holding its negative constant is reported; an idle sign is also left
        out where its constant factor passes up to the outermost factor or to an operator a
        constant factor changes at most in sign, which are reported alone."""
        reported = [message.split(": ", 1)[1] for _, message in findings]
        out: list[tuple[float, str]] = []
        memo: NegationMemo = {}  # the formula's negations, found once for the three rules
        for found in idle_signs(expr, memo):
            text = found.node
            if any(
                message.startswith(text) or (text in message and "constant factor" in message)
                for message in reported
            ):
                continue
            if outer == SCALE and names.get(text) == SCALE:
                continue
            message = (
                f"redundant: {text} ignores the sign of {found.operand}: it is {found.simpler}"
            )
            out.append((self.redundant_penalty, message))
        for found in double_negatives(expr, memo):
            if any(message.startswith((found.node, found.holder)) for message in reported):
                continue
            message = (
                f"redundant: {found.node} subtracts the negation {found.operand}: it is "
                f"{found.simpler}"
            )
            out.append((self.redundant_penalty, message))
        negated = negated_formula(expr, memo)
        if (
            negated is not None
            and outer != SCALE
            and not any(message.startswith((negated.node, negated.holder)) for message in reported)
        ):
            message = (
                f"redundant: the formula is minus {negated.simpler}, with the same per-date "
                "ranks and ICs up to sign"
            )
            out.append((self.redundant_penalty, message))
        return out

    def judge(self, formula: Any) -> JudgeVerdict:
        """Score ``formula`` (a string or an Expr) with the reasons for every deduction."""

        try:
            expr = parse(formula, allow_future=True)
        except FormulaError as exc:
            first = str(exc).splitlines()[0]
            return JudgeVerdict(0.0, (f"invalid formula: {first}",), "rules")
        if not expr.features:
            return JudgeVerdict(0.0, ("depends on no market data (a constant)",), "rules")
        if expr.future:
            return JudgeVerdict(
                0.0, (f"look-ahead: reads {expr.future} future row(s) (negative Ref)",), "rules"
            )
        names: dict[str, str] = {}  # rule_name by canonical text, shared with the node rules
        findings = self._nodes(expr, names)
        if expr.depth > self.max_depth:
            extra = expr.depth - self.max_depth
            findings.append(
                (
                    min(1.0, self.depth_penalty * extra),
                    f"deep nesting: depth {expr.depth} > {self.max_depth}",
                )
            )
        if expr.size > self.max_size:
            extra = math.ceil((expr.size - self.max_size) / 10)
            findings.append(
                (
                    min(1.0, self.size_penalty * extra),
                    f"large formula: {expr.size} nodes > {self.max_size}",
                )
            )
        outer = rule_name(expr, names)
        findings += self._negation_findings(expr, names, outer, findings)
        if outer in (SHIFT, SCALE):
            what = "shift" if outer == SHIFT else "factor"
            findings.append(
                (
                    self.redundant_penalty,
                    f"redundant: the outermost constant {what} changes the factor's per-date "
                    "ranks and ICs at most in sign",
                )
            )
        if expr.unit not in _SCALE_FREE:
            findings.append(
                (
                    self.scale_penalty,
                    f"raw level in unit {expr.unit!r}: not comparable across symbols",
                )
            )
        score = round(max(0.0, 1.0 - sum(p for p, _ in findings)), 12)
        return JudgeVerdict(score, tuple(reason for _, reason in findings), "rules")


# ---------------------------------------------------------------------------- LLM judge
_SYSTEM_PROMPT = (
    "You review formulaic alpha factors for quantitative equity trading. Judge whether the "
    "formula has sound financial logic: consistent units (no adding prices to volumes), a "
    "plausible economic rationale, no degenerate or redundant constructs, no look-ahead, "
    "reasonable complexity. Answer with JSON only, no prose: "
    '{"score": <number between 0 and 1, 1 = sound>, "reasons": [<short strings>]}'
)

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def _json_candidates(text: str) -> list[str]:
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    return candidates


def parse_judge_reply(text: str) -> JudgeVerdict:
    """Parse an LLM reply holding JSON {score, reasons} (bare, fenced or inside prose).

    ``score`` may be a number or a numeric string in [0, 1]; ``reasons`` a list of strings or
    one string. Anything else raises QuantRLError quoting the reply.
    """
    payload: Any = None
    for candidate in _json_candidates(text):
        try:
            payload = json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(payload, dict):
            break
        payload = None
    snippet = _snippet(text)
    if payload is None:
        raise QuantRLError(f"LLM judge reply is not a JSON object: {snippet!r}")
    raw = payload.get("score")
    try:
        score = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise QuantRLError(f"LLM judge reply has no numeric 'score': {snippet!r}") from None
    if not math.isfinite(score) or not -1e-9 <= score <= 1.0 + 1e-9:
        raise QuantRLError(
            f"LLM judge score {_snippet(repr(raw), 40)} is outside [0, 1]: {snippet!r}"
        )
    reasons = payload.get("reasons", ())
    if isinstance(reasons, str):
        reasons = (reasons,)
    elif isinstance(reasons, list | tuple):
        reasons = tuple(str(r) for r in reasons)
    else:
        reasons = (str(reasons),)
    return JudgeVerdict(score=min(max(score, 0.0), 1.0), reasons=tuple(reasons), judge="llm")


def _run_with_deadline(make: Callable[[], Coroutine[Any, Any, Any]], seconds: float) -> Any:
    """Run a coroutine to completion or cancel it after ``seconds`` (TimeoutError).

    The deadline covers everything the coroutine does (connect, send, headers, body). Called from
    inside a running event loop (a notebook), it runs the coroutine's own loop in a worker thread.
    """

    async def bounded() -> Any:
        return await asyncio.wait_for(make(), seconds)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(bounded())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, bounded()).result()


class LLMJudge:
    """Judge through an OpenAI-compatible ``/v1/chat/completions`` endpoint (over httpx).

    ``base_url`` is the server root (``http://host:port``) or its ``/v1`` prefix. The request
    asks for JSON {score, reasons}. Only the formula text and the prompt are sent (with the API
    key as a ``Bearer`` token when given). Redirects are not followed: a 3xx answer is an error
    naming the status and the host it points to, so the key never reaches another host.
    ``timeout`` (seconds) bounds the whole request, connect to last byte, so a server that
    drips its answer cannot hold the caller; replies over ``max_reply_bytes`` are refused
    without reading the rest. HTTP failures, unreachable servers, deadlines and replies that
    are not such JSON raise QuantRLError naming the endpoint and quoting at most a short
    snippet of the reply.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        *,
        temperature: float = 0.0,
        system_prompt: str = _SYSTEM_PROMPT,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"LLM judge base_url must start with http:// or https://: {base_url[:200]!r}"
            )
        if not model:
            raise ConfigError("LLM judge needs a model name")
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            raise ConfigError(f"LLM judge timeout must be a number of seconds > 0, got {timeout}")
        if max_reply_bytes < 1:
            raise ConfigError(f"max_reply_bytes must be >= 1, got {max_reply_bytes}")
        root = base_url.rstrip("/")
        if root.endswith("/v1"):
            root = root[:-3]
        self.url = root + "/v1/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = float(timeout)
        self.temperature = float(temperature)
        self.system_prompt = system_prompt
        self.max_reply_bytes = int(max_reply_bytes)

    def __repr__(self) -> str:
        return f"LLMJudge(url={self.url!r}, model={self.model!r})"

    async def _fetch(self, content: bytes) -> bytes:
        """POST ``content`` and return the reply body (no redirects, capped size)."""
        import httpx

        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        async with (
            httpx.AsyncClient(follow_redirects=False, timeout=self.timeout) as client,
            client.stream("POST", self.url, content=content, headers=headers) as response,
        ):
            status = response.status_code
            if 300 <= status < 400:
                location = response.headers.get("location", "")
                try:
                    host = response.url.join(location).host if location else "(none)"
                except httpx.InvalidURL:
                    host = "(invalid)"
                raise QuantRLError(
                    f"LLM judge endpoint {self.url} answered HTTP {status} redirecting to host "
                    f"{_snippet(host, 100)!r}: redirects are not followed (the API key goes to "
                    "the configured host only); configure the final URL"
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_reply_bytes:
                raise QuantRLError(
                    f"LLM judge endpoint {self.url} announced a {int(declared)}-byte reply, "
                    f"over the {self.max_reply_bytes}-byte limit: not read"
                )
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_reply_bytes:
                    raise QuantRLError(
                        f"LLM judge endpoint {self.url} sent more than "
                        f"{self.max_reply_bytes} bytes: the reply is refused, the rest not read"
                    )
                chunks.append(chunk)
            raw = b"".join(chunks)
            if status >= 400:
                detail = _snippet(raw.decode("utf-8", "replace"))
                raise QuantRLError(
                    f"LLM judge endpoint {self.url} returned HTTP {status} "
                    f"{_snippet(response.reason_phrase, 60)}: {detail}"
                )
            return raw

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        content = json.dumps(body).encode("utf-8")
        try:
            raw = _run_with_deadline(lambda: self._fetch(content), self.timeout)
        except TimeoutError:
            raise QuantRLError(
                f"LLM judge endpoint {self.url} did not answer within {self.timeout:g} s "
                "(the deadline of the whole request; see timeout / --judge-timeout)"
            ) from None
        except httpx.TimeoutException:
            raise QuantRLError(
                f"LLM judge endpoint {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise QuantRLError(
                f"cannot reach LLM judge endpoint {self.url}: {_snippet(exc)}"
            ) from None
        try:
            reply = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise QuantRLError(
                f"LLM judge endpoint {self.url} sent a body that is not JSON: "
                f"{_snippet(raw.decode('utf-8', 'replace'))!r}"
            ) from None
        if not isinstance(reply, dict):
            raise QuantRLError(
                f"LLM judge endpoint {self.url} sent unexpected JSON: {_snippet(reply)}"
            )
        return reply

    def judge(self, formula: Any) -> JudgeVerdict:
        """Ask the endpoint to score ``formula``."""
        body = {
            "model": self.model,
            "temperature": self.temperature,
            "messages": [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": f"Formula: {formula}"},
            ],
        }
        reply = self._post(body)
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise QuantRLError(
                f"LLM judge endpoint {self.url} sent no choices[0].message.content: "
                f"{_snippet(reply)}"
            ) from None
        if not isinstance(content, str):
            raise QuantRLError(
                f"LLM judge endpoint {self.url} sent non-text content: {_snippet(content)}"
            )
        return parse_judge_reply(content)
