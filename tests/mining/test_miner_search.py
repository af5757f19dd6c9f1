"""Trainer and baselines: seeded determinism and exact resume from state dicts."""

from __future__ import annotations

import numpy as np
import pytest

import quantrl
from quantrl.alpha import parse
from quantrl.mining import MiningTask, Vocabulary
from quantrl.mining.baselines import GeneticSearch, RandomSearch, rpn_length
from quantrl.mining.pool import AlphaPool
from quantrl.mining.train import PPOConfig, PPOMiner

CFG = PPOConfig(n_steps=32, n_envs=2, batch_size=32, n_epochs=2, d_model=16, hidden=16, n_layers=1)


@pytest.fixture(scope="module")
def panel():
    """50 S&P 500 stocks x ~300 days."""
    p = quantrl.load_market("sp500", start="2015-01-01", end="2016-03-31")
    return p.select(list(p.symbols[:50]))


def _task(panel, capacity=4):
    return MiningTask(panel, panel.forward_returns(20), AlphaPool(capacity))


VOCAB = Vocabulary(max_len=10)


def _make(kind, panel, seed):
    task = _task(panel)
    if kind == "ppo":
        return PPOMiner(task, VOCAB, config=CFG, seed=seed)
    if kind == "gp":
        return GeneticSearch(task, VOCAB, seed=seed, population=12)
    return RandomSearch(task, VOCAB, seed=seed)


@pytest.mark.parametrize("kind", ["random", "gp", "ppo"])
def test_same_seed_same_pool_and_exact_resume(panel, kind):
    steps = 64
    # uninterrupted: three chunks
    a = _make(kind, panel, seed=11)
    for _ in range(3):
        a.run_chunk(steps)
    # interrupted after one chunk: state saved, a fresh searcher restored, two more chunks
    b = _make(kind, panel, seed=11)
    b.run_chunk(steps)
    state = b.state_dict()
    pool_state = (b.task.pool.formulas, list(b.task.pool.weights))
    c = _make(kind, panel, seed=999)  # a different seed: everything must come from the state
    c.task.pool.restore(*pool_state)
    c.load_state_dict(state)
    c.run_chunk(steps)
    c.run_chunk(steps)
    assert a.steps_done == c.steps_done
    assert len(a.task.pool) > 0
    assert a.task.pool.formulas == c.task.pool.formulas
    np.testing.assert_array_equal(a.task.pool.weights, c.task.pool.weights)
    # same seed twice gives the same pool
    d = _make(kind, panel, seed=11)
    for _ in range(3):
        d.run_chunk(steps)
    assert d.task.pool.formulas == a.task.pool.formulas


def test_different_seeds_differ(panel):
    a = _make("random", panel, seed=1)
    b = _make("random", panel, seed=2)
    a.run_chunk(200)
    b.run_chunk(200)
    assert a.task.n_offered > 3
    assert a.task.pool.formulas != b.task.pool.formulas


def test_gp_offspring_are_valid_and_within_length(panel):
    gp = _make("gp", panel, seed=3)
    gp.run_chunk(600)
    assert len(gp.fitness) > len(gp.population)  # offspring were produced after seeding
    for expr, fit in gp.population:
        assert rpn_length(expr) <= VOCAB.max_len
        assert parse(str(expr)) == expr and expr.is_featured
        assert 0.0 <= fit <= 1.0


def test_gp_variation_operators(panel):
    gp = _make("gp", panel, seed=4)
    parent = parse("Mean($close,20)/$close")
    other = parse("Corr($high,$volume,10)")
    rng_children = set()
    for _ in range(40):
        for op in (
            lambda: gp._point(parent),
            lambda: gp._crossover(parent, other),
            lambda: gp._mutate_subtree(parent),
        ):
            try:
                child = op()
            except quantrl.FormulaError:
                continue
            rng_children.add(str(child))
    assert len(rng_children) > 10
    # point mutation keeps the tree shape (same RPN length)
    for _ in range(20):
        try:
            assert rpn_length(gp._point(parent)) == rpn_length(parent)
        except quantrl.FormulaError:
            pass


def test_budget_counts_tokens(panel):
    rs = _make("random", panel, seed=5)
    rs.run_chunk(50)
    assert 50 <= rs.steps_done <= 50 + VOCAB.max_len + 1


def test_kind_prior_balances_token_kinds_at_start(panel):
    import torch

    from quantrl.mining import GrammarState

    cfg = PPOConfig(**{**CFG.to_dict(), "end_bias": 0.0})  # the kind prior alone
    miner = PPOMiner(_task(panel), VOCAB, config=cfg, seed=0)
    vocab = VOCAB
    st = GrammarState(vocab)
    prefix = [vocab.tokens.index(t) for t in ("$close", "$open", "Div")]  # a ratio
    for a in prefix:  # now ops, features, windows, constants and end are all allowed
        st.push(a)
    obs = np.zeros((1, vocab.max_len + 1), dtype=np.float32)
    obs[0, 0] = vocab.n_actions + 1
    obs[0, 1:4] = np.asarray(prefix) + 1
    pol = miner.model.policy
    with torch.no_grad():
        dist = pol.get_distribution(torch.as_tensor(obs), action_masks=st.mask()[None])
        probs = dist.distribution.probs[0].numpy()
    kinds = np.array([vocab.kind_of(a) for a in range(vocab.n_actions)])
    mass = {k: probs[kinds == k].sum() for k in ("feature", "window", "constant", "end")}
    # without the prior, the 14 constants would take ~14x the mass of the single end token
    assert max(mass.values()) / min(mass.values()) < 2.0


def test_end_bias_makes_the_untrained_policy_close_formulas_sooner(panel):
    import torch

    from quantrl.mining import GrammarState

    def end_probability(end_bias: float) -> float:
        cfg = PPOConfig(**{**CFG.to_dict(), "end_bias": end_bias})
        miner = PPOMiner(_task(panel), VOCAB, config=cfg, seed=0)
        st = GrammarState(VOCAB)
        prefix = [VOCAB.tokens.index(t) for t in ("$close", "$open", "Div")]
        for a in prefix:  # the end token is admissible now
            st.push(a)
        obs = np.zeros((1, VOCAB.max_len + 1), dtype=np.float32)
        obs[0, 0] = VOCAB.n_actions + 1
        obs[0, 1:4] = np.asarray(prefix) + 1
        with torch.no_grad():
            dist = miner.model.policy.get_distribution(
                torch.as_tensor(obs), action_masks=st.mask()[None]
            )
            return float(dist.distribution.probs[0, VOCAB.end_action])

    base, biased = end_probability(0.0), end_probability(1.5)
    # the end token's odds grow by e**1.5 against the same other logits
    odds = (biased / (1 - biased)) / (base / (1 - base))
    assert odds == pytest.approx(np.exp(1.5), rel=1e-4)


@pytest.mark.parametrize("kind", ["random", "gp", "ppo"])
def test_formula_budget_reproduces_exactly(panel, kind):
    """Stopping at a number of formulas (not at a clock) gives the same run twice."""
    runs = []
    for _ in range(2):
        miner = _make(kind, panel, seed=5)
        task = miner.task
        while task.n_offered < 40:
            miner.run_chunk(1 << 20, until=lambda t=task: t.n_offered >= 40)
        runs.append((task.n_offered, miner.steps_done, task.pool.formulas, task.pool.weights))
    (n1, s1, f1, w1), (n2, s2, f2, w2) = runs
    assert n1 == n2 and s1 == s2 and f1 == f2
    np.testing.assert_array_equal(w1, w2)
    assert n1 >= 40 if kind == "ppo" else n1 == 40
