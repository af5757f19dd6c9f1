"""How one-sided comparisons are on a panel, against counts made with plain numpy."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.alpha import EvalCache, evaluate, parse
from quantrl.data import load_market
from quantrl.evaluation.comparison_shares import comparison_shares, one_sided_notes


@pytest.fixture(scope="module")
def panel():
    return load_market("dow30", start="2018-01-01", end="2019-12-31")


def _reference(text: str, panel) -> tuple[float, str, int]:
    """(share, outcome, cells) of a two-operand comparison counted with numpy."""
    node = parse(text)
    shape = (panel.n_dates, panel.n_symbols)
    a, b = (np.broadcast_to(evaluate(c, panel), shape) for c in node.children)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    outcomes = {
        "Greater": {"first operand": a >= b, "second operand": a <= b},
        "Less": {"first operand": a <= b, "second operand": a >= b},
        "Gt": {"1": a > b, "0": a <= b},
        "Ge": {"1": a >= b, "0": a < b},
        "Lt": {"1": a < b, "0": a >= b},
        "Le": {"1": a <= b, "0": a > b},
        "Eq": {"1": a == b, "0": a != b},
        "Ne": {"1": a != b, "0": a == b},
    }[node.name]
    outcome = max(outcomes, key=lambda k: outcomes[k].sum())
    return outcomes[outcome].sum() / a.size, outcome, int(a.size)


@pytest.mark.parametrize(
    "text",
    [
        "Greater(Mul(Mean($close, 20), 30), $high)",  # always its first operand
        "Less(Log($low), Log(WMA($low, 20)))",  # Qlib's WMA divides by w: always the WMA
        "Greater(Div($close, Ref($close, 5)), Div($open, Ref($open, 5)))",  # switches
        "Gt(Corr($close, $volume, 10), 0)",
        "Lt(0.5, Rank($close, 10))",  # a constant first
        "Ge($high, $close)",  # never below: 1 everywhere
        "Eq(Sign(Delta($close, 1)), 1)",
        "Ne(Max($close, 5), $close)",
    ],
)
def test_shares_match_numpy_counts(panel, text: str) -> None:
    """Share, most common outcome and defined cells of each comparison as numpy counts them."""
    (item,) = comparison_shares(text, panel)
    share, outcome, cells = _reference(text, panel)
    assert (item.text, item.outcome, item.cells) == (str(parse(text)), outcome, cells)
    assert item.share == pytest.approx(share, abs=1e-15)


def test_disguised_operands_never_switch_and_real_switches_do(panel) -> None:
    one_sided = comparison_shares("Greater(Mul(Mean($close, 20), 30), $high)", panel)[0]
    assert (one_sided.share, one_sided.outcome) == (1.0, "first operand")
    switching = comparison_shares("Greater(Div($close, $open), 1)", panel)[0]
    assert 0.5 <= switching.share < 0.7


def test_every_distinct_comparison_once_and_the_cache_is_shared(panel) -> None:
    text = "Mul(Greater($close, $open), Add(Greater($close, $open), Gt(Delta($close, 1), 0)))"
    cache = EvalCache()
    evaluate(text, panel, cache=cache)
    hits, misses = cache.hits, cache.misses
    items = comparison_shares(text, panel, cache=cache)
    assert [i.text for i in items] == ["Greater($close,$open)", "Gt(Delta($close,1),0)"]
    assert cache.hits > hits and cache.misses == misses  # nothing evaluated again
    assert items == comparison_shares(text, panel)  # the same without a cache
    assert comparison_shares("Div($close, $open)", panel) == []


def test_cells_where_an_operand_is_missing_are_left_out(panel) -> None:
    """The first 19 rows of a 20-day mean are NaN: they count for neither outcome."""
    (item,) = comparison_shares("Gt(Mean($close, 20), $close)", panel)
    finite = np.isfinite(evaluate("Mean($close, 20)", panel)) & np.isfinite(
        evaluate("$close", panel)
    )
    assert item.cells == int(finite.sum()) < panel.n_dates * panel.n_symbols


def test_rows_before_first_row_are_history_and_left_out(panel) -> None:
    """From ``first_row`` on only: the rows before count for neither outcome."""
    text = "Gt(Delta($close, 1), 0)"
    (whole,) = comparison_shares(text, panel)
    (later,) = comparison_shares(text, panel, first_row=100)
    delta = evaluate("Delta($close, 1)", panel)[100:]
    assert later.cells == int(np.isfinite(delta).sum()) < whole.cells
    ups = np.count_nonzero(delta[np.isfinite(delta)] > 0)
    assert later.share == pytest.approx(max(ups, later.cells - ups) / later.cells, abs=1e-15)


def test_one_sided_notes_name_the_disguised_comparisons_only(panel) -> None:
    formulas = [
        "Div(Greater(Mul(Mean($close, 20), 30), $high), $close)",  # always its first operand
        "Ge($high, $close)",  # a high is never below the close: always 1
        "Gt(Delta($close, 1), 0)",  # an up day: switches
    ]
    notes = one_sided_notes(formulas, panel)
    assert len(notes) == 2, notes
    assert notes[0].startswith("Div(Greater(Mul(Mean($close,20),30),$high),$close): ")
    assert "Greater(Mul(Mean($close,20),30),$high) is its first operand on 100.0% of" in notes[0]
    assert notes[1].startswith("Ge($high,$close): Ge($high,$close) is 1 on 100.0% of")
    assert one_sided_notes(formulas[2:], panel, share=0.5) != []  # any comparison at 0.5
