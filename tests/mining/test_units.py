"""Units in the grammar: masked rollouts are dimensionally sound and the logic judge agrees."""

from __future__ import annotations

import numpy as np
import pytest

import quantrl
from quantrl.alpha import Constant, evaluate, parse, parse_rpn, to_rpn, unit_issues
from quantrl.alpha.dimensions import scale_free
from quantrl.evaluation.formula_rules import formula_refusal
from quantrl.evaluation.logic import RuleBasedJudge
from quantrl.evaluation.node_rules import expr_sign
from quantrl.mining import GrammarState, MiningTask, Vocabulary
from quantrl.mining.baselines import GeneticSearch, RandomSearch, sample_formula
from quantrl.mining.pool import AlphaPool

VOCAB = Vocabulary(features=("open", "high", "low", "close", "volume"))
JUDGE = RuleBasedJudge()


def _rollout(state: GrammarState, rng: np.random.Generator) -> list[str]:
    """A uniformly random policy over the admissible tokens."""
    state.reset()
    while not state.done:
        mask = state.mask()
        assert mask.any(), f"dead end after {state.rpn()}"
        state.push(int(rng.choice(np.flatnonzero(mask))))
    return state.rpn()


def _sound(expr) -> list[str]:
    """Independent checks: unit consistency, scale-free result, Log of positive things only."""
    problems = [f"unit: {issue}" for issue in unit_issues(expr)]
    if not scale_free(expr.unit_info):
        problems.append(f"result unit {expr.unit}")
    signs: dict[str, str] = {}
    for node in expr.walk():
        if node.kind == "op" and node.name == "Log" and expr_sign(node.children[0], signs) != "pos":
            problems.append(f"log of a signed quantity: {node}")
        if node.kind == "op" and node.name in ("Greater", "Less", "Gt", "Ge", "Lt", "Le"):
            consts = [c.value for c in node.children if isinstance(c, Constant)]
            others = [expr_sign(c, signs) for c in node.children if not isinstance(c, Constant)]
            if (
                consts
                and others
                and (
                    (consts[0] < 0 and others[0] in ("pos", "nonneg"))
                    or (consts[0] == 0 and others[0] == "pos")
                )
            ):
                problems.append(f"comparison decided by signs: {node}")
            levels = [c for c in node.children if not isinstance(c, Constant)]
            if consts and levels and not scale_free(levels[0].unit_info):
                problems.append(f"a raw level against a fixed threshold: {node}")
            if consts and others and _beyond_range(node, consts[0]):
                problems.append(f"comparison decided by ranges: {node}")
        if node.kind == "op" and node.name in ("Abs", "Sign"):
            inner = node.children[0]
            if _carries_shift(inner) and not scale_free(inner.unit_info):
                problems.append(f"a raw level folded at a fixed threshold: {node}")
        if node.kind == "op" and node.name in _SHIFT_INVARIANT:
            if any(_carries_shift(c) for c in node.children):
                problems.append(f"a constant shift inside a shift-invariant operator: {node}")
        if node.kind == "op" and node.name in ("Corr", "Rank", "CSRank", "CSZScore", "Sign"):
            if any(_carries_factor(c) for c in node.children):
                problems.append(f"a constant factor inside a scale-invariant operator: {node}")
        if node.kind == "op" and node.name in ("Mul", "Div"):
            ones = [isinstance(c, Constant) and c.value == 1 for c in node.children]
            if ones[-1] or (node.name == "Mul" and ones[0]):
                problems.append(f"a product with 1: {node}")
        if node.kind == "op" and node.name in ("Add", "Sub"):
            if all(isinstance(c, Constant) or _carries_shift(c) for c in node.children):
                problems.append(f"two constant shifts where one would do: {node}")
        if node.kind == "op" and node.name in ("Mul", "Div"):
            if all(isinstance(c, Constant) or _carries_factor(c) for c in node.children):
                problems.append(f"two constant factors where one would do: {node}")
        if node.kind == "op" and node.name in ("Greater", "Less", "Ge", "Lt", "Le", "Gt"):
            if _bar_decided(node):
                problems.append(f"a comparison the bar's definition decides: {node}")
    if _carries_shift(expr) or _carries_factor(expr):
        problems.append(f"an outermost constant shift or factor: {expr}")
    if expr.depth > VOCAB.max_depth:
        problems.append(f"depth {expr.depth}")
    return problems


_SHIFT_INVARIANT = ("Corr", "Cov", "Std", "Var", "Mad", "Delta", "Skew", "Kurt", "Rank")


def _constant_shift(node) -> bool:
    """x + c, x - c or c - x: one literal operand of an Add or Sub (q - 1 with q a quotient of
    market data, a return, aside)."""
    if node.kind != "op" or node.name not in ("Add", "Sub"):
        return False
    a, b = node.children
    if isinstance(a, Constant) == isinstance(b, Constant):
        return False
    other = b if isinstance(a, Constant) else a
    quotient = other.kind == "op" and other.name == "Div" and not _carries_factor(other)
    if quotient and node.name == "Sub" and isinstance(b, Constant) and b.value == 1:
        return False
    return not (
        quotient and node.name == "Add" and (a if isinstance(a, Constant) else b).value == -1
    )


def _constant_factor(node) -> bool:
    """c * x, x * c, x / c or c / x (c other than 1)."""
    if node.kind != "op" or node.name not in ("Mul", "Div"):
        return False
    a, b = node.children
    if node.name == "Div" and isinstance(a, Constant):
        return not isinstance(b, Constant) and a.value != 1
    return isinstance(a, Constant) != isinstance(b, Constant)


_BAR = {("high", "low"), ("high", "open"), ("high", "close"), ("open", "low"), ("close", "low")}


def _bar_decided(node) -> bool:
    """A comparison of two bare fields of one bar whose outcome their definition fixes."""
    a, b = node.children
    if a.kind != "feature" or b.kind != "feature":
        return False
    if (a.name, b.name) in _BAR:  # a >= b
        return node.name in ("Greater", "Less", "Ge", "Lt")
    if (b.name, a.name) in _BAR:  # a <= b
        return node.name in ("Greater", "Less", "Le", "Gt")
    return False


def _market(node) -> list:
    return [c for c in node.children if not isinstance(c, Constant)]


def _carries_shift(node) -> bool:
    """Whether node equals a market-data expression plus a constant, read from the tree:
    x + c itself, or a lag, mean, sum, median, extreme or moving average of one, a sum or
    difference with one, or the log of a scaled expression."""
    if node.kind != "op":
        return False
    if _constant_shift(node):
        return True
    if any(isinstance(c, Constant) for c in node.children):
        return False
    if node.name in ("Add", "Sub"):
        return any(_carries_shift(c) for c in node.children)
    passes = ("Ref", "Mean", "Sum", "Med", "Max", "Min", "EMA", "WMA", "Quantile")
    if node.name in passes:
        return _carries_shift(node.children[0])
    return node.name == "Log" and _carries_factor(node.children[0])


def _carries_factor(node) -> bool:
    """Whether node equals a constant times a market-data expression: c * x, x / c, or a lag,
    mean, sum, median, extreme, moving average, std, variance, Mad, covariance, change, Abs,
    product or quotient of one."""
    if node.kind != "op":
        return False
    if _constant_factor(node):
        return True
    if any(isinstance(c, Constant) for c in node.children):
        return False
    passes = ("Ref", "Mean", "Sum", "Med", "Max", "Min", "EMA", "WMA", "Std", "Var", "Mad")
    if node.name in (*passes, "Cov", "Delta", "Abs", "Mul", "Div"):
        return any(_carries_factor(c) for c in _market(node))
    return False


def _beyond_range(node, value: float) -> bool:
    """A literal compared with a correlation (in [-1, 1]) that the correlation cannot cross."""
    other = next(c for c in node.children if not isinstance(c, Constant))
    if other.kind != "op" or other.name != "Corr":
        return False
    if node.name in ("Greater", "Less"):
        return abs(value) >= 1
    return abs(value) > 1


def test_masked_rollouts_are_unit_consistent() -> None:
    state = GrammarState(VOCAB)
    rng = np.random.default_rng(7)
    for _ in range(2000):
        body = _rollout(state, rng)
        assert 2 <= len(body) <= VOCAB.max_len
        expr = parse_rpn(body)
        assert _sound(expr) == [], (str(expr), _sound(expr))


def _findings(expr) -> list[str]:
    """The judge's findings on a formula but those the grammar leaves to the pool (a factor
    that cancels in a product or quotient, an idle guard, a comparison, Abs or Sign decided by
    its operands' ranges, a negative constant's sign that an operator above it ignores, a
    subtracted negation, a negated formula:
    ``AlphaPool.try_add`` refuses them unevaluated)."""
    left = (
        "cancels",
        "guards against 0, but nothing above it",
        "by the ranges of its operands",
        "the range of its operand never changes sign",
        "ignores the sign of",
        "subtracts the negation",
        "the formula is minus",
    )
    return [r for r in JUDGE.judge(expr).reasons if not any(s in r for s in left)]


def test_rule_based_judge_agrees_on_1000_masked_formulas() -> None:
    rng = np.random.default_rng(11)
    state = GrammarState(VOCAB)
    refused = 0
    for _ in range(1000):
        expr = sample_formula(VOCAB, rng, state)
        verdict = JUDGE.judge(expr)
        assert _findings(expr) == [], (str(expr), verdict.reasons)
        if formula_refusal(expr) is not None:
            refused += 1
        else:
            assert verdict.score == 1.0, (str(expr), verdict.reasons)
        assert state.admits(expr)
    assert refused <= 180  # about 17 %: the pool refuses them


def _rescaled(panel, rng: np.random.Generator):
    """The panel with each symbol's prices and volumes in other units (a split, a currency).

    Powers of two: scaling by one commutes exactly with every rounding of +, -, *, / and sqrt,
    so an invariant formula without logs gives the same bits, however ill-conditioned."""
    price = 2.0 ** rng.integers(-2, 3, panel.n_symbols)
    volume = 2.0 ** rng.integers(-2, 3, panel.n_symbols)
    units = {"open": price, "high": price, "low": price, "close": price, "volume": volume}
    fields = {k: v * units[k] if k in units else v for k, v in panel.fields.items()}
    return panel.replace(fields=fields)


def _same_values(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the cells finite in both evaluations where they agree up to rounding (Corr's
    absolute epsilon, Qlib's, leaves near-flat windows missing in one unit and not another)."""
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return 1.0
    x, y = a[both], b[both]
    scale = np.percentile(np.abs(x), 99)
    return float(np.mean(np.abs(x - y) <= 1e-6 * np.maximum(np.abs(x), np.abs(y)) + 1e-8 * scale))


def test_sound_formulas_ignore_each_symbols_units() -> None:
    """Without constants (which take their partner's unit), a formula the grammar writes is
    a ratio, count or flag: changing the unit of each symbol's prices and volumes leaves its
    values alone. Raw levels and log-levels move, so the check can fail."""
    panel = quantrl.load_market("dow30", start="2016-01-01", end="2019-12-31")
    rng = np.random.default_rng(5)
    other = _rescaled(panel, rng)
    for text in ("$close", "Log($volume)", "Mean(Log($close), 5)", "Abs(Log($low))"):
        assert _same_values(evaluate(text, panel), evaluate(text, other)) < 0.5, text
    no_log = tuple(op for op in VOCAB.operators if op != "Log")
    vocab = Vocabulary(features=VOCAB.features, operators=no_log, constants=())
    state = GrammarState(vocab)
    for _ in range(200):  # exact: power-of-two units commute with every rounding
        expr = sample_formula(vocab, rng, state)
        assert _same_values(evaluate(expr, panel), evaluate(expr, other)) == 1.0, str(expr)
    vocab = Vocabulary(features=VOCAB.features, constants=())
    state = GrammarState(vocab)
    shares = []
    for _ in range(200):  # log(2^k x) rounds apart from k log 2 + log x: near-flat windows
        expr = sample_formula(vocab, rng, state)  # (a spread of ~0) amplify the difference
        shares.append(_same_values(evaluate(expr, panel), evaluate(expr, other)))
        assert shares[-1] > 0.8, (str(expr), shares[-1])
    assert np.mean(shares) > 0.99


def test_constants_leave_each_symbols_units_alone() -> None:
    """Constants scale any quantity but shift or bound only scale-free ones, so a formula the
    grammar writes with them ignores each symbol's units as well (to rounding) when no positive
    constant up to 1 can guard a volume against 0 (a shifted price, ``Sub($open, 0.01)``,
    would move with the share price)."""
    panel = quantrl.load_market("dow30", start="2016-01-01", end="2019-12-31")
    rng = np.random.default_rng(6)
    other = _rescaled(panel, rng)
    no_log = tuple(op for op in VOCAB.operators if op != "Log")
    constants = tuple(c for c in VOCAB.constants if not 0 < c <= 1)
    vocab = Vocabulary(features=VOCAB.features, operators=no_log, constants=constants)
    state = GrammarState(vocab)
    for _ in range(200):
        expr = sample_formula(vocab, rng, state)
        assert _same_values(evaluate(expr, panel), evaluate(expr, other)) == 1.0, str(expr)


def test_units_off_writes_unsound_formulas() -> None:
    """The checks above can fail: without units, rollouts mix prices and volumes."""
    vocab = Vocabulary(features=VOCAB.features, units="off")
    rng = np.random.default_rng(3)
    exprs = [sample_formula(vocab, rng) for _ in range(300)]
    assert sum(bool(_sound(e)) for e in exprs) > 100
    assert min(JUDGE.judge(e).score for e in exprs) < 0.9
    assert not GrammarState(VOCAB).admits(parse("Add($close,$volume)/$open"))


def _allowed(state: GrammarState) -> set[str]:
    return {state.vocab.tokens[i] for i in np.flatnonzero(state.mask())}


def _write(state: GrammarState, tokens: list[str]) -> None:
    state.reset()
    for t in tokens:
        assert t in _allowed(state), (t, state.rpn())
        state.push(state.vocab.tokens.index(t))


def test_mask_rules_by_hand() -> None:
    st = GrammarState(VOCAB)
    _write(st, ["$close"])
    allowed = _allowed(st)
    assert "Log" in allowed  # a price is positive
    assert "Abs" not in allowed  # ... so Abs is redundant
    assert "SEP" not in allowed  # and a bare price is a raw level, not a scale-free factor
    _write(st, ["$close", "$volume"])
    allowed = _allowed(st)
    assert {"Div", "Mul"} <= allowed
    assert not {"Add", "Sub", "Greater", "Less"} & allowed  # price and volume do not mix
    _write(st, ["$close", "$volume", "10"])
    assert {"Corr", "Cov"} <= _allowed(st)
    _write(st, ["$close", "$close"])
    allowed = _allowed(st)
    assert not {"Sub", "Div", "Greater", "Less"} & allowed  # identical operands
    assert "Mul" in allowed and "Add" not in allowed  # a square stays, 2 x is x
    _write(st, ["$volume", "1", "Add", "$volume"])  # shifts and multiples of one expression
    assert _allowed(st) & {"Add", "Sub", "Div", "Greater", "Less", "Mul"} == {"Mul"}
    _write(st, ["$close", "$open", "Div", "0.01", "Add", "$close", "$open", "Div"])
    assert {"Add", "Sub", "Div", "Greater", "Less"} <= _allowed(st)  # fields only (see judge)
    _write(st, ["$volume", "$volume", "-0.01", "Mul"])  # the volume and a multiple of it:
    assert not {"Add", "Sub", "Div", "Greater", "Less"} & _allowed(st)  # the volume's alone
    _write(st, ["$close", "$open", "Div", "$close", "$open", "Div", "1", "Sub"])
    assert "Sub" in _allowed(st)  # a ratio and its return: a return is not a shift here
    _write(st, ["$volume", "$volume", "10", "Ref", "1", "Add"])  # shifts of different ones
    assert {"Add", "Sub", "Div", "Greater", "Less"} <= _allowed(st)
    _write(st, ["$high", "0.01"])  # a price is scaled by a constant, never shifted by one:
    assert not {"Add", "Sub"} & _allowed(st)  # the shift would weigh with the share price
    _write(st, ["$close", "$open", "2", "Mul", "Sub", "$high", "Div"])  # a weighted difference
    _write(st, ["$volume", "1"])  # ... but one share may guard a volume against 0
    assert "Add" in _allowed(st) and "Sub" not in _allowed(st)
    _write(st, ["$volume", "2"])
    assert "Add" not in _allowed(st)
    _write(st, ["$close", "$open", "Div", "0.01"])  # a ratio may be shifted
    assert {"Add", "Sub"} <= _allowed(st)
    _write(st, ["$close", "-1", "Mul"])  # a negative quantity
    assert "Abs" not in _allowed(st)  # its Abs is its negation
    _write(st, ["$close", "-1", "Mul", "$open"])
    assert not {"Greater", "Less"} & _allowed(st)  # always below a price
    _write(st, ["$close", "$close", "10"])
    assert not {"Corr", "Cov"} & _allowed(st)
    _write(st, ["$close", "10", "Delta"])  # a signed price change
    allowed = _allowed(st)
    assert "Log" not in allowed and "Abs" in allowed
    _write(st, ["$close", "10", "Delta", "Abs"])
    assert "Log" not in _allowed(st)  # Log(Abs(x)) of a signed x is not offered
    _write(st, ["$close", "10", "Delta", "$close", "10", "Delta", "Mul"])  # a square...
    assert "Abs" not in _allowed(st)  # ... is never negative
    _write(st, ["$close", "10", "Delta", "$close", "20", "Delta", "Mul"])  # two changes
    assert "Abs" in _allowed(st)
    _write(st, ["$close", "$open", "Div"])
    assert "SEP" in _allowed(st)
    _write(st, ["$close", "10"])  # constants take the unit of their partner
    _write(st, ["$close", "$open", "Div", "1"])
    allowed = _allowed(st)
    assert {"Add", "Sub", "Greater"} <= allowed
    assert not {"Mul", "Div"} & allowed  # a product or quotient with 1 changes nothing
    _write(st, ["$high", "$low", "Div", "$close", "$open", "Div", "5", "Mul", "10"])
    assert "Corr" not in _allowed(st)  # a scaled ratio inside Corr: the factor changes a sign
    _write(st, ["$high", "$low", "Div", "$close", "$open", "Div", "5", "Mul"])
    assert "Sub" in _allowed(st)  # a weighted difference of two ratios
    _write(st, ["$close", "$open", "Div", "-1"])  # a negation is a Mul by -1, not a Div
    assert "Mul" in _allowed(st) and "Div" not in _allowed(st)
    _write(st, ["$close", "$open", "Div", "-10", "Mul"])
    assert "SEP" not in _allowed(st)  # alone, a multiple of a ratio has the ratio's ranks
    _write(st, ["$close", "$open", "Div", "-10", "Mul", "$close", "Mul", "$open", "Sub", "$high"])
    assert "Div" in _allowed(st)  # ... in a weighted difference it counts
    _write(st, ["$close", "$open", "Div", "1", "Sub"])
    assert "SEP" in _allowed(st)  # a ratio minus 1 is a return...
    _write(st, ["$close", "$open"])
    assert "1" not in _allowed(st)  # ... a price minus 1 a shifted price, 1 times it itself
    _write(st, ["$high", "$low"])
    assert not {"Greater", "Less"} & _allowed(st)  # a high is never below its low
    _write(st, ["$close", "$open"])
    assert {"Greater", "Less"} <= _allowed(st)
    _write(st, ["$high", "5", "$low", "Div"])  # the high times 5 / low: a ratio
    assert "Mul" in _allowed(st)
    _write(st, ["$high", "5", "$high", "Div"])  # 5 / high times the high is 5: the pool's to
    assert {"Mul", "Div"} <= _allowed(st)  # refuse, as any factor that cancels
    _write(st, ["$close", "$close", "10", "Max"])
    assert not {"Greater", "Less"} & _allowed(st)  # Max(x, 10) already takes x; Less gives x
    _write(st, ["$close", "10", "Min", "$close"])
    assert not {"Greater", "Less"} & _allowed(st)
    _write(st, ["$close", "$open", "$close", "Greater"])
    assert not {"Greater", "Less"} & _allowed(st)
    _write(st, ["$open", "$close", "10", "Max"])  # another operand's maximum: informative
    assert {"Greater", "Less"} <= _allowed(st)
    _write(st, ["$close", "$close", "$open", "Sub", "Greater"])  # not an extremum: no relation
    _write(st, ["$close", "$open", "Div", "-10"])  # a negative constant is added, not subtracted
    allowed = _allowed(st)
    assert "Add" in allowed and "Sub" not in allowed
    _write(st, ["$high", "$low", "Div", "-10", "$close", "$open", "Div"])  # -10 - x is no sum
    assert "Sub" in _allowed(st)
    _write(st, ["$close", "10", "Ref", "20"])  # two lags are one lag
    allowed = _allowed(st)
    assert "Ref" not in allowed and {"Mean", "Max"} <= allowed
    _write(st, ["$close", "10", "Max", "20"])  # the maximum of maxima is one maximum
    allowed = _allowed(st)
    assert "Max" not in allowed and {"Min", "Ref"} <= allowed
    _write(st, ["$close", "$open", "Div", "1", "Add", "10", "Ref", "10"])  # a shift passes
    # through Ref
    allowed = _allowed(st)
    assert "Std" not in allowed and "Mean" in allowed


@pytest.mark.parametrize("max_len", [2, 3, 4, 5, 6, 8, 12])
@pytest.mark.parametrize(
    "operators",
    [
        ("Log", "Div", "Mean", "Corr"),
        ("Add", "Sub", "Mul", "Div", "Abs", "Log"),
        ("Mul", "Std", "Delta", "Cov", "Corr", "Greater"),
        ("Greater", "Less", "Max", "Min", "Div", "Sub"),
        ("Add", "Sub", "Mul", "Div", "Greater", "Less"),
        ("Ref", "Max", "Min", "Div", "Sub", "Log"),
    ],
)
def test_no_dead_ends_for_small_vocabularies(max_len: int, operators: tuple[str, ...]) -> None:
    vocab = Vocabulary(
        operators=operators, windows=(5, 10), constants=(-1.0, 0.5, 2.0), max_len=max_len
    )
    try:
        state = GrammarState(vocab)
    except quantrl.ConfigError:
        pytest.skip("no sound formula fits this budget")
    rng = np.random.default_rng(max_len)
    for _ in range(200):
        body = _rollout(state, rng)
        assert len(body) <= max_len
        expr = parse_rpn(body)
        assert unit_issues(expr) == [] and scale_free(expr.unit_info)
        assert _findings(expr) == [], str(expr)


def test_too_short_for_any_sound_formula() -> None:
    with pytest.raises(quantrl.ConfigError, match="max_len=1"):
        GrammarState(Vocabulary(max_len=1))
    with pytest.raises(quantrl.ConfigError, match="units"):
        Vocabulary(units="maybe")


def test_one_window_stands_for_all_in_completion_costs() -> None:
    """Completion costs try one window per rolling operator (``rolling_reps``, ``pair_reps``):
    the node and unit rules give every window but 1 the same node, except Sum and WMA."""
    from quantrl.mining.units import UNKNOWN, WINDOW_UNITS, UnitGrammar

    vocab = Vocabulary(windows=(1, 5, 10, 20, 40), max_depth=5)
    state = GrammarState(vocab)
    rng = np.random.default_rng(5)
    for _ in range(150):
        _rollout(state, rng)
    grammar = state._units
    assert isinstance(grammar, UnitGrammar)
    specs = [grammar.vocab.spec(i) for i in range(grammar.n_ops)]
    windowed = [sp for sp in specs if sp.params]
    aids = [i for i, a in enumerate(grammar._abs) if a[0] == 0 and a[4] < vocab.max_depth]
    assert len(aids) > 100
    logs = 0
    for spec in windowed:
        windows = [w for w in vocab.windows if w > 1 and vocab.window_ok(spec, w)]
        for i, aid in enumerate(aids):
            operands = (aid,) if spec.n_inputs == 1 else (aids[i - 1], aid)
            nodes = {grammar.step(spec, (w,), operands, UNKNOWN) for w in windows}
            if spec.name in WINDOW_UNITS:
                logs += len(nodes) > 1  # a sum of w log-levels: the unit reads w
            else:
                assert len(nodes) == 1, (spec.name, [grammar._abs[a] for a in operands])
    assert logs > 0
    reps = {sp.name for sp, _ in grammar.rolling_reps}
    assert reps == {sp.name for sp, _ in grammar.rolling}
    assert len(grammar.rolling_reps) < len(grammar.rolling) / 2


#: Products and quotients of fields: 29 % of its masked samples hold a factor that cancels.
PRODUCTS = Vocabulary(operators=("Mul", "Div", "Mean"), max_len=12)
#: With guarded sums too: of its masked samples 21 % hold a factor that cancels and 8 % an
#: idle guard (``Div(Mean(Add($volume, 1), 5), $volume)``).
GUARDED = Vocabulary(operators=("Add", "Mul", "Div", "Mean"), constants=(0.5, 1.0, 2.0), max_len=12)


def _small_task() -> MiningTask:
    """A mining task on 30 S&P 500 stocks over 15 months, a pool of 4."""
    panel = quantrl.load_market("sp500", start="2015-01-01", end="2016-03-31")
    panel = panel.select(list(panel.symbols[:30]))
    return MiningTask(panel, panel.forward_returns(20), AlphaPool(4))


def test_gp_offers_only_grammar_formulas() -> None:
    task = _small_task()
    vocab = Vocabulary(max_len=12)
    gp = GeneticSearch(task, vocab, seed=1, population=10)
    gp.run_chunk(1500)
    assert len(gp.fitness) > gp.population_size  # offspring were bred
    state = GrammarState(vocab)
    for formula in gp.fitness:
        expr = parse(formula)
        assert state.admits(expr), formula
        assert JUDGE.judge(expr).score == 1.0, formula  # no factor cancels: the pool would
        # refuse such a formula unevaluated, so GP retries it
    gp = GeneticSearch(task, PRODUCTS, seed=2, population=10)
    gp.run_chunk(1500)
    assert len(gp.fitness) > gp.population_size
    assert all(formula_refusal(parse(f)) is None for f in gp.fitness)


def test_random_search_draws_again_what_the_pool_would_refuse() -> None:
    """A sample the pool would refuse unevaluated is drawn again, and costs no tokens."""
    task = _small_task()
    offered: list = []
    offer = task.offer
    task.offer = lambda expr: (offered.append(expr), offer(expr))[1]  # type: ignore[method-assign]
    search = RandomSearch(task, GUARDED, seed=3)
    spent = search.run_chunk(600)
    assert len(offered) > 20 and all(formula_refusal(e) is None for e in offered)
    assert spent == sum(len(to_rpn(e)) + 1 for e in offered)
