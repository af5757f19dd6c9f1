"""Token grammar and env: every masked rollout is a valid formula; the env follows gymnasium."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import quantrl
from quantrl.alpha import evaluate, parse, parse_rpn
from quantrl.errors import ConfigError
from quantrl.mining import ENV_ID, AlphaMinerEnv, GrammarState, MiningTask, Vocabulary
from quantrl.mining.baselines import sample_formula
from quantrl.mining.pool import AlphaPool


@pytest.fixture(scope="module")
def small_panel():
    """50 S&P 500 stocks x ~300 days."""
    panel = quantrl.load_market("sp500", start="2015-01-01", end="2016-03-31")
    return panel.select(list(panel.symbols[:50]))


def _rollout(state: GrammarState, rng: np.random.Generator) -> list[int]:
    state.reset()
    while not state.done:
        mask = state.mask()
        assert mask.any(), f"dead end after {state.rpn()}"
        state.push(int(rng.choice(np.flatnonzero(mask))))
    return state.actions


@pytest.mark.parametrize("units", ["on", "off"])
@pytest.mark.parametrize("max_len", [1, 2, 3, 5, 8, 20])
def test_masked_rollouts_always_parse_and_evaluate(small_panel, max_len, units):
    vocab = Vocabulary(max_len=max_len, units=units)
    if units == "on" and max_len <= 2:  # the shortest sound formula is $close/$open
        with pytest.raises(ConfigError, match=f"max_len={max_len}"):
            GrammarState(vocab)
        return
    state = GrammarState(vocab)
    rng = np.random.default_rng(max_len)
    sub = small_panel.slice(None, "2015-06-30")
    n_eval = 0
    for i in range(300):
        actions = _rollout(state, rng)
        tokens = [vocab.text(a) for a in actions]
        assert tokens[-1] == "SEP" and tokens.count("SEP") == 1
        body = tokens[:-1]
        assert 1 <= len(body) <= max_len
        # windows appear only right before an operator that takes one
        for k, a in enumerate(actions[:-1]):
            if vocab.kind_of(a) == "window":
                nxt = actions[k + 1]
                assert vocab.kind_of(nxt) == "op" and vocab.spec(nxt).params
        expr = parse_rpn(body)  # raises on any invalid formula
        assert expr.is_featured, f"bare constant {expr}"
        assert parse(str(expr)) == expr
        if i % 10 == 0:
            out = evaluate(expr, sub)
            assert out.shape == (sub.n_dates, sub.n_symbols)
            n_eval += 1
    assert n_eval == 30


def test_kind_balanced_sampler_is_valid_and_seeded():
    vocab = Vocabulary(max_len=10)
    a = [str(sample_formula(vocab, np.random.default_rng(5))) for _ in range(3)]
    b = [str(sample_formula(vocab, np.random.default_rng(5))) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(1)
    for _ in range(300):
        expr = sample_formula(vocab, rng)
        assert expr.is_featured


def test_mask_rules_by_hand():
    vocab = Vocabulary(
        operators=("Abs", "Add", "Mean", "Corr"),
        features=("close", "volume"),
        windows=(5,),
        constants=(2.0,),
        max_len=20,
        units="off",
    )
    st = GrammarState(vocab)
    names = vocab.tokens
    allowed = lambda: {names[i] for i in np.flatnonzero(st.mask())}  # noqa: E731
    assert allowed() == {"$close", "$volume"}  # empty stack: only features
    st.push(names.index("$close"))
    assert allowed() == {"Abs", "$close", "$volume", "5", "2", "SEP"}
    st.push(names.index("2"))  # [F, C]: no unary on a constant, no window, no second constant
    assert allowed() == {"Add", "$close", "$volume"}
    st.push(names.index("Add"))
    st.push(names.index("$volume"))
    st.push(names.index("5"))  # window pending: Mean (1 operand) or Corr (2 featured)
    assert allowed() == {"Mean", "Corr"}
    st.push(names.index("Corr"))
    assert allowed() >= {"SEP", "Abs"}
    assert str(parse_rpn(st.rpn())) == "Corr(Add($close,2),$volume,5)"


def test_length_budget_forces_completion():
    vocab = Vocabulary(
        operators=("Add", "Abs"),
        features=("close",),
        windows=(),
        constants=(),
        max_len=3,
        units="off",
    )
    st = GrammarState(vocab)
    names = vocab.tokens
    st.push(names.index("$close"))
    st.push(names.index("$close"))
    # two on the stack, one token left: it must be the binary operator
    assert {names[i] for i in np.flatnonzero(st.mask())} == {"Add"}


def test_env_checker_and_registration(small_panel):
    task = MiningTask(small_panel, small_panel.forward_returns(20), AlphaPool(3))
    env = AlphaMinerEnv(task, vocab=Vocabulary(max_len=8))
    check_env(env, skip_render_check=True)
    made = gym.make(ENV_ID, task=task, vocab=Vocabulary(max_len=8))
    obs, _ = made.reset(seed=0)
    assert obs.shape == (9,)
    assert made.unwrapped.action_masks().any()


def test_env_reward_is_pool_gain_and_masked_actions_raise(small_panel):
    vocab = Vocabulary(max_len=8)
    task = MiningTask(small_panel, small_panel.forward_returns(20), AlphaPool(3))
    env = AlphaMinerEnv(task, vocab=vocab, invalid_action="raise")
    env.reset()
    with pytest.raises(ConfigError, match="masked"):
        env.step(vocab.end_action)  # cannot end an empty formula
    names = vocab.tokens

    def write(tokens):
        env.reset()
        total = 0.0
        for t in [*tokens, "SEP"]:
            obs, r, term, trunc, info = env.step(names.index(t))
            total += r
        assert term
        return total, info

    r1, info1 = write(["$close", "20", "Mean", "$close", "Div"])
    assert info1["accepted"] and r1 == pytest.approx(task.pool.objective)
    before = task.pool.objective
    r2, info2 = write(["$close", "20", "Mean", "$close", "Div"])  # identical: nothing
    assert r2 == 0.0 and info2["reason"] == "duplicate"
    r3, info3 = write(["$close", "20", "Mean", "$close", "Div", "Log"])  # same ranks
    assert r3 == 0.0 and info3["reason"] == "near-duplicate"
    r4, info4 = write(["$volume", "10", "Std", "$volume", "Div"])
    assert r4 == pytest.approx(task.pool.objective - before if info4["accepted"] else r4)
    assert r4 == pytest.approx(info4["gain"])


def test_masked_action_penalized_by_default(small_panel):
    task = MiningTask(small_panel, small_panel.forward_returns(20), AlphaPool(3))
    env = AlphaMinerEnv(task, vocab=Vocabulary(max_len=8))
    env.reset()
    _, reward, terminated, _, info = env.step(env.vocab.end_action)
    assert reward == -1.0 and terminated and info["reason"] == "masked action"
    assert len(task.pool) == 0


def test_frequent_subtree_penalty(small_panel):
    label = small_panel.forward_returns(20)
    task = MiningTask(small_panel, label, AlphaPool(5), subtree_penalty=1.0, subtree_limit=0)
    task.offer(parse("Mean($close,20)/$close"))
    cand = parse("Mean($close,20)/$volume")  # root subtree Mean($close,20) is in the pool
    assert task.penalty(cand) == pytest.approx(1.0 / 5)
    assert task.penalty(parse("Std($close,20)/$volume")) == 0.0
