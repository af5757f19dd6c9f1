"""Formula alphas: parse Qlib/AlphaGen formulas into trees and evaluate them on a Panel."""

from __future__ import annotations

from quantrl.alpha.engine import EvalCache, evaluate, evaluate_many
from quantrl.alpha.expr import Constant, Expr, Feature, Op, unit_issues
from quantrl.alpha.feature_matrix import feature_array, features
from quantrl.alpha.ops import ALPHAGEN_OPERATORS, OPERATORS, OpSpec
from quantrl.alpha.parser import parse, parse_rpn, to_rpn

__all__ = [
    "ALPHAGEN_OPERATORS",
    "OPERATORS",
    "Constant",
    "EvalCache",
    "Expr",
    "Feature",
    "Op",
    "OpSpec",
    "evaluate",
    "evaluate_many",
    "feature_array",
    "features",
    "parse",
    "parse_rpn",
    "to_rpn",
    "unit_issues",
]
