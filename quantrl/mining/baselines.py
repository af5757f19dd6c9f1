"""Search baselines in the miner's harness: masked random search and genetic programming.

Both offer every formula they produce to the same ``MiningTask`` (same pool, same cache, same
reward) and count their budget in tokens, like the RL env (a formula of L tokens costs L + 1
steps, the end token included), so runs with equal step or time budgets compare directly.

* ``RandomSearch`` samples formulas from the token grammar of ``quantrl.mining.tokens``:
  at each step it picks a token kind (operator, feature, window, constant, end) uniformly among
  the kinds the mask admits, then a token of that kind uniformly. Every sample is valid; one
  the pool would refuse unevaluated (``formula_refusal``: a factor that cancels, an idle
  guard, a comparison or Abs its ranges decide, two shifts or multiples of one expression, a
  sign an operator above it ignores, a subtracted negation, a negated formula) is drawn again
  without spending tokens.
* ``GeneticSearch`` is a steady-state genetic program on the same expression trees (no gplearn):
  a population seeded by the random sampler; each offspring comes from tournament-selected
  parents by subtree crossover, subtree mutation (a node replaced by a fresh random subtree),
  point mutation (a feature, constant, window or operator swapped for one of the same kind) or
  reproduction; offspring longer than ``max_len`` tokens, invalid, or that the token grammar
  would not write (``GrammarState.admits``: with units on, dimensionally unsound ones) or that
  the pool refuses unevaluated (``formula_refusal``) are retried, so GP offers only formulas
  random search could sample (its seeds and its fallback after 8 failed tries are such samples).
  Fitness is the absolute training IC of the formula alone; the offspring replaces the loser of
  an inverse tournament. All randomness comes from one seeded ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from quantrl.alpha.expr import Constant, Expr, Feature, Op, replace_node
from quantrl.alpha.parser import parse, parse_rpn, to_rpn
from quantrl.errors import ConfigError, FormulaError, JobError
from quantrl.evaluation.formula_rules import formula_refusal
from quantrl.mining.env import MiningTask
from quantrl.mining.tokens import GrammarState, Vocabulary

__all__ = ["GeneticSearch", "RandomSearch", "sample_formula"]


def sample_formula(
    vocab: Vocabulary, rng: np.random.Generator, state: GrammarState | None = None
) -> Expr:
    """Sample one valid formula from the masked grammar (token kind first, then token)."""
    st = state if state is not None and state.vocab is vocab else GrammarState(vocab)
    st.reset()
    while not st.done:
        by_kind = st.kind_choices()
        choices = by_kind[int(rng.integers(len(by_kind)))]
        st.push(int(choices[int(rng.integers(choices.size))]))
    return parse_rpn(st.rpn())


def rpn_length(expr: Expr) -> int:
    """Number of RPN tokens of a formula (windows count as tokens)."""
    return len(to_rpn(expr))


class _Searcher:
    """Shared bookkeeping: budget in tokens, a seeded generator, state for checkpoints."""

    method = "base"
    chunk_multiple = 1

    def __init__(self, task: MiningTask, vocab: Vocabulary, *, seed: int = 0) -> None:
        self.task = task
        self.vocab = vocab
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self._steps = 0
        self._grammar = GrammarState(vocab)

    @property
    def steps_done(self) -> int:
        """Tokens spent so far (formula length + 1 per formula)."""
        return self._steps

    def _sample(self) -> Expr:
        """A formula of the masked sampler that the pool evaluates: one it refuses unevaluated
        (``formula_refusal``) is drawn again, at no cost in tokens, up to 100
        draws (the last is kept)."""
        for _ in range(100):
            expr = sample_formula(self.vocab, self.rng, self._grammar)
            if formula_refusal(expr) is None:
                break
        return expr

    def _offer(self, expr: Expr) -> float:
        self._steps += rpn_length(expr) + 1
        _, result = self.task.offer(expr)
        return abs(result.single_ic) if math.isfinite(result.single_ic) else 0.0

    def _next(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def run_chunk(
        self,
        steps: int,
        *,
        deadline: float | None = None,
        on_step: Callable[[], None] | None = None,
        until: Callable[[], bool] | None = None,
    ) -> int:
        """Search until ``steps`` more tokens are spent, ``deadline`` (monotonic) passes or
        ``until()`` (checked before each formula) is true."""
        start = self._steps
        while self._steps - start < steps:
            if deadline is not None and time.monotonic() >= deadline:
                break
            if until is not None and until():
                break
            self._next()
            if on_step is not None:
                on_step()
        return self._steps - start

    def _base_state(self) -> dict[str, Any]:
        return {"method": self.method, "steps": self._steps, "rng": self.rng.bit_generator.state}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (the pool is saved by the caller)."""
        return self._base_state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()`` output (JobError when it is malformed)."""
        if not isinstance(state, dict) or state.get("method") != self.method:
            method = state.get("method") if isinstance(state, dict) else None
            raise ConfigError(f"checkpoint is for {method!r}, not {self.method!r}")
        try:
            steps = int(state["steps"])
            self.rng.bit_generator.state = state["rng"]
        except (KeyError, TypeError, ValueError) as exc:
            raise JobError(f"checkpoint search state is unusable: {str(exc)[:300]}") from None
        self._steps = steps


class RandomSearch(_Searcher):
    """Masked random search over the token grammar."""

    method = "random"

    def _next(self) -> None:
        self._offer(self._sample())


def _nodes(expr: Expr) -> list[Expr]:
    return list(expr.walk())


class GeneticSearch(_Searcher):
    """Steady-state genetic programming on expression trees (see the module docstring)."""

    method = "gp"

    def __init__(
        self,
        task: MiningTask,
        vocab: Vocabulary,
        *,
        seed: int = 0,
        population: int = 100,
        tournament: int = 5,
        p_crossover: float = 0.6,
        p_subtree: float = 0.15,
        p_point: float = 0.15,
    ) -> None:
        super().__init__(task, vocab, seed=seed)
        if population < 2 or tournament < 1:
            raise ConfigError(
                f"population >= 2 and tournament >= 1 required, got {population}, {tournament}"
            )
        if p_crossover + p_subtree + p_point > 1.0:
            raise ConfigError("p_crossover + p_subtree + p_point must not exceed 1")
        self.population_size = int(population)
        self.tournament = int(tournament)
        self.p = (float(p_crossover), float(p_subtree), float(p_point))
        self.population: list[tuple[Expr, float]] = []
        self.fitness: dict[str, float] = {}
        self._small: dict[int, GrammarState] = {}
        self._ops_by_sig: dict[tuple[str, int, tuple[str, ...]], list[str]] = {}
        for name in vocab.operators:
            spec = vocab.spec(vocab.operators.index(name))
            key = (spec.category, spec.n_inputs, spec.params)
            self._ops_by_sig.setdefault(key, []).append(name)

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, expr: Expr) -> float:
        key = str(expr)
        if key in self.fitness:
            return self.fitness[key]
        fit = self._offer(expr)
        self.fitness[key] = fit
        return fit

    def _pick(self, best: bool) -> int:
        idx = self.rng.integers(
            len(self.population), size=min(self.tournament, len(self.population))
        )
        fits = [self.population[int(i)][1] for i in idx]
        j = int(np.argmax(fits)) if best else int(np.argmin(fits))
        return int(idx[j])

    # ------------------------------------------------------------------ variation
    def _fits_budget(self, expr: Expr) -> bool:
        return rpn_length(expr) <= self.vocab.max_len

    def _random_node(self, expr: Expr) -> int:
        return int(self.rng.integers(expr.size))

    def _subtree(self, budget: int) -> Expr | None:
        if budget < 1:
            return None
        if budget not in self._small:
            small = replace(self.vocab, max_len=int(budget))
            # a sub-formula need not be scale-free: the whole offspring is checked afterwards
            self._small[budget] = GrammarState(small, scale_free_end=False)
        grammar = self._small[budget]
        return sample_formula(grammar.vocab, self.rng, grammar)

    def _point(self, expr: Expr) -> Expr:
        i = self._random_node(expr)
        node = _nodes(expr)[i]
        v = self.vocab
        if isinstance(node, Feature):
            new: Expr = Feature(v.features[int(self.rng.integers(len(v.features)))])
        elif isinstance(node, Constant):
            new = Constant(v.constants[int(self.rng.integers(len(v.constants)))])
        else:
            assert isinstance(node, Op)
            spec = node.spec
            if spec.params and self.rng.random() < 0.5:
                windows = [w for w in v.windows if v.window_ok(spec, w)]
                w = windows[int(self.rng.integers(len(windows)))]
                new = Op(spec, node.children, (w,))
            else:
                names = self._ops_by_sig.get((spec.category, spec.n_inputs, spec.params), [])
                name = names[int(self.rng.integers(len(names)))] if names else spec.name
                new = Op.make(name, node.children, node.params)
        return replace_node(expr, i, new)

    def _crossover(self, a: Expr, b: Expr) -> Expr:
        donor = _nodes(b)[self._random_node(b)]
        return replace_node(a, self._random_node(a), donor)

    def _mutate_subtree(self, expr: Expr) -> Expr:
        i = self._random_node(expr)
        node = _nodes(expr)[i]
        budget = self.vocab.max_len - (rpn_length(expr) - rpn_length(node))
        sub = self._subtree(budget)
        if sub is None:
            return expr
        return replace_node(expr, i, sub)

    def _offspring(self) -> Expr:
        pc, ps, pp = self.p
        for _ in range(8):
            parent = self.population[self._pick(True)][0]
            r = self.rng.random()
            try:
                if r < pc:
                    other = self.population[self._pick(True)][0]
                    child = self._crossover(parent, other)
                elif r < pc + ps:
                    child = self._mutate_subtree(parent)
                elif r < pc + ps + pp:
                    child = self._point(parent)
                else:
                    child = parent
                child = parse(str(child))  # the parser re-checks every operand rule
            except FormulaError:
                continue
            if (
                child.is_featured
                and self._fits_budget(child)
                and str(child) not in self.fitness
                and self._grammar.admits(child)
                and formula_refusal(child) is None  # the pool would refuse it unevaluated
            ):
                return child
        return self._sample()

    def _next(self) -> None:
        if len(self.population) < self.population_size:
            expr = self._sample()
            self.population.append((expr, self._evaluate(expr)))
            return
        child = self._offspring()
        fit = self._evaluate(child)
        self.population[self._pick(False)] = (child, fit)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Steps, generator state, population and the fitness memo."""
        state = self._base_state()
        state["population"] = [(str(e), f) for e, f in self.population]
        state["fitness"] = dict(self.fitness)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()`` output (JobError when it is malformed)."""
        super().load_state_dict(state)
        try:
            population = [(parse(f), float(fit)) for f, fit in state["population"]]
            fitness = {str(k): float(v) for k, v in state["fitness"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise JobError(f"checkpoint GP population is unusable: {str(exc)[:300]}") from None
        self.population, self.fitness = population, fitness
