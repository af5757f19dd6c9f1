"""The sampler benchmark's timing helper: each call starts from a fresh grammar and a seed
draws the same formulas."""

from __future__ import annotations

from benchmarks.bench_grammar import _draws
from quantrl.mining.tokens import Vocabulary, _unit_grammar


def test_each_timing_starts_cold_and_a_seed_draws_the_same_formulas() -> None:
    vocab = Vocabulary(max_len=12)
    cold, warm, digest = _draws(vocab, 11, 30, 10)
    grammar = _unit_grammar(vocab, True)
    steps = len(grammar._steps)
    assert cold > 0.0 and warm > 0.0 and steps > 0
    again = _draws(vocab, 11, 30, 10)
    assert again[2] == digest
    assert _unit_grammar(vocab, True) is not grammar  # a fresh grammar, its memo refilled
    assert len(_unit_grammar(vocab, True)._steps) == steps
    assert _draws(vocab, 12, 30, 10)[2] != digest
