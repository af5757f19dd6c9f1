"""Pair operators (Cov, Corr) need market data on both sides, however the tree is built."""

from __future__ import annotations

import pytest

from quantrl import FormulaError
from quantrl.alpha import Constant, Feature, Op, parse


@pytest.mark.parametrize("name", ["Cov", "Corr"])
def test_pair_operator_rejects_a_constant_operand(name):
    with pytest.raises(FormulaError, match="two market-data operands"):
        Op.make(name, [Feature("close"), Constant(2.0)], [10])
    with pytest.raises(FormulaError):
        parse(f"{name}(2, $close, 10)")
    assert str(Op.make(name, [Feature("close"), Feature("volume")], [10])) == (
        f"{name}($close,$volume,10)"
    )
