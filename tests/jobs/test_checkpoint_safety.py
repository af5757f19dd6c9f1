"""Checkpoints without pickle: exact round trips of RNG, weights and optimiser state through JSON
plus safetensors, searchers resumed from files, crafted pickles refused without running."""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch

import quantrl
from quantrl.errors import JobError
from quantrl.jobs.checkpoint import (
    decode_state,
    encode_state,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from quantrl.mining import MiningTask, Vocabulary
from quantrl.mining.baselines import GeneticSearch, RandomSearch
from quantrl.mining.pool import AlphaPool
from quantrl.mining.train import PPOConfig, PPOMiner, capture_rng, restore_rng

CFG = PPOConfig(n_steps=32, n_envs=2, batch_size=32, n_epochs=2, d_model=16, hidden=16, n_layers=1)
VOCAB = Vocabulary(max_len=10)


def _frame(magic: bytes, payload: bytes) -> bytes:
    """A checkpoint file around ``payload`` with a valid header (length and sha256)."""
    digest = hashlib.sha256(payload).hexdigest().encode()
    return magic + b" " + digest + b" " + str(len(payload)).encode() + b"\n" + payload


def _draws() -> tuple:
    return (
        [random.random() for _ in range(5)],
        np.random.random(5).tolist(),  # noqa: NPY002 - the global generator SB3 uses
        torch.rand(5).tolist(),
    )


def test_rng_states_round_trip_exactly(tmp_path):
    random.seed(3)
    np.random.seed(3)  # noqa: NPY002
    torch.manual_seed(3)
    _draws()
    gen = np.random.default_rng(11)
    gen.random(7)
    path = tmp_path / "rng.ckpt"
    save_checkpoint(path, {"rng": capture_rng(), "generator": gen.bit_generator.state})
    expected, expected_gen = _draws(), gen.random(5).tolist()
    random.seed(99)
    np.random.seed(99)  # noqa: NPY002
    torch.manual_seed(99)
    state = read_checkpoint(path)
    restore_rng(state["rng"])
    other = np.random.default_rng(0)
    other.bit_generator.state = state["generator"]
    assert _draws() == expected
    assert other.random(5).tolist() == expected_gen
    # the file is a JSON line and a safetensors blob: no pickle anywhere
    payload = path.read_bytes().partition(b"\n")[2]
    head, _, blob = payload.partition(b"\n")
    document = json.loads(head)
    assert document["rng"]["python"]["__tuple__"][0] == 3
    assert set(safetensors.numpy.load(blob)) == {"a0", "a1"}  # numpy key, torch state


def test_values_keep_their_types():
    param = torch.nn.Parameter(torch.randn(4))
    opt = torch.optim.Adam([param])
    param.grad = torch.ones(4)
    opt.step()
    state = {
        "opt": opt.state_dict(),
        "floats": [float("nan"), float("inf"), -0.0, 1e-300],
        "tuple": (1, ("a", None)),
        "int_keys": {0: "x", 7: "y"},
        "tag_like": {"__tuple__": 1},
        "big": 2**127 + 1,
        "array": np.arange(6, dtype=np.uint32).reshape(2, 3),
        "scalar": torch.tensor(2.5, dtype=torch.float64),
    }
    back = decode_state(encode_state(state))
    assert back["opt"]["param_groups"] == opt.state_dict()["param_groups"]
    assert torch.equal(back["opt"]["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert np.isnan(back["floats"][0]) and back["floats"][1:] == state["floats"][1:]
    assert str(back["floats"][2]) == "-0.0"
    assert back["tuple"] == (1, ("a", None)) and back["int_keys"] == {0: "x", 7: "y"}
    assert back["tag_like"] == {"__tuple__": 1} and back["big"] == 2**127 + 1
    assert back["array"].dtype == np.uint32 and np.array_equal(back["array"], state["array"])
    assert back["scalar"].dtype == torch.float64 and back["scalar"].item() == 2.5
    with pytest.raises(JobError, match="set"):
        encode_state({"bad": {1, 2}})
    with pytest.raises(JobError, match="object"):
        encode_state({"bad": object()})


@pytest.fixture(scope="module")
def panel():
    """30 S&P 500 stocks x ~300 days."""
    p = quantrl.load_market("sp500", start="2015-01-01", end="2016-03-31")
    return p.select(list(p.symbols[:30]))


def _make(kind, panel, seed):
    task = MiningTask(panel, panel.forward_returns(20), AlphaPool(4))
    if kind == "ppo":
        return PPOMiner(task, VOCAB, config=CFG, seed=seed)
    if kind == "gp":
        return GeneticSearch(task, VOCAB, seed=seed, population=12)
    return RandomSearch(task, VOCAB, seed=seed)


@pytest.mark.parametrize("kind", ["random", "gp", "ppo"])
def test_searcher_resumes_exactly_from_a_checkpoint_file(panel, kind, tmp_path):
    steps = 64
    a = _make(kind, panel, seed=4)
    for _ in range(3):
        a.run_chunk(steps)
    b = _make(kind, panel, seed=4)
    b.run_chunk(steps)
    pool = b.task.pool
    path = tmp_path / "s.ckpt"
    save_checkpoint(
        path,
        {"searcher": b.state_dict(), "pool": {"formulas": pool.formulas, "w": list(pool.weights)}},
    )
    state = read_checkpoint(path)
    c = _make(kind, panel, seed=77)
    c.task.pool.restore(state["pool"]["formulas"], state["pool"]["w"])
    c.load_state_dict(state["searcher"])
    c.run_chunk(steps)
    c.run_chunk(steps)
    assert c.steps_done == a.steps_done and len(a.task.pool) > 0
    assert c.task.pool.formulas == a.task.pool.formulas
    np.testing.assert_array_equal(c.task.pool.weights, a.task.pool.weights)
    # a damaged state is a clear JobError, not a traceback
    broken = dict(state["searcher"])
    broken.pop("rng")
    with pytest.raises(JobError):
        _make(kind, panel, seed=1).load_state_dict(broken)


class _TouchOnUnpickle:
    """Unpickling this object creates ``path`` (stands for arbitrary code)."""

    def __init__(self, path: Path) -> None:
        self.path = pathlib.Path(path)

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def test_crafted_pickles_are_refused_without_running(tmp_path):
    marker = tmp_path / "code-was-executed"
    path = tmp_path / "evil.ckpt"
    # the former layout (a torch.save pickle) with a valid checksum
    buffer = io.BytesIO()
    torch.save({"step": 1, "payload": _TouchOnUnpickle(marker)}, buffer)
    path.write_bytes(_frame(b"QRLCKPT1", buffer.getvalue()))
    with pytest.raises(JobError, match="cannot be read safely"):
        read_checkpoint(path)
    # a plain pickle in either layout
    for magic in (b"QRLCKPT1", b"QRLCKPT2"):
        path.write_bytes(_frame(magic, pickle.dumps({"x": _TouchOnUnpickle(marker)})))
        with pytest.raises(JobError):
            read_checkpoint(path)
    # ... and as the previous checkpoint, behind a damaged current one
    save_checkpoint(path, {"step": 1})
    previous = tmp_path / "evil.prev.ckpt"
    previous.write_bytes(_frame(b"QRLCKPT1", buffer.getvalue()))
    path.write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning), pytest.raises(JobError, match="no usable checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()
    # the test can fail: unpickling that payload does create the file
    pickle.loads(pickle.dumps(_TouchOnUnpickle(marker)))
    assert marker.exists()


def test_former_layout_with_plain_data_still_reads(tmp_path):
    state = {
        "step": 3,
        "rng": capture_rng(),
        "generator": np.random.default_rng(5).bit_generator.state,
        "policy": {"w": torch.arange(4.0)},
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = tmp_path / "old.ckpt"
    path.write_bytes(_frame(b"QRLCKPT1", buffer.getvalue()))
    back = read_checkpoint(path)
    assert back["step"] == 3 and torch.equal(back["policy"]["w"], torch.arange(4.0))
    assert back["generator"] == state["generator"]
    assert np.array_equal(back["rng"]["numpy"][1], state["rng"]["numpy"][1])


@pytest.mark.parametrize(
    "payload",
    [
        b'{"x":{"__tensor__":"a9"}}\n' + safetensors.numpy.save({}),
        b'{"x":1}\n' + safetensors.numpy.save({"a0": np.zeros(2)}),
        b'{"x":{"__tuple__":1}}\n' + safetensors.numpy.save({}),
        b'{"x":{"__float__":"1e400"}}\n' + safetensors.numpy.save({}),
        b'{"x":{"__dict__":[[[1],2]]}}\n' + safetensors.numpy.save({}),
        b'{"x":' * 100_000 + b"\n",
        b"[1, 2]\n" + safetensors.numpy.save({}),
        b'{"x":1}\nnot safetensors',
        b"\xff\xfe\n",
    ],
)
def test_malformed_payloads_give_job_errors(tmp_path, payload):
    path = tmp_path / "m.ckpt"
    path.write_bytes(_frame(b"QRLCKPT2", payload))
    with pytest.raises(JobError):
        read_checkpoint(path)
