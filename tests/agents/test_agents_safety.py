"""Run folders that cannot carry code: safetensors round trips act identically, legacy
stable-baselines3 zips need trust=True (they execute code), meta.json is checked field by field."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import pathlib
import pickle
import random
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from quantrl.agents import evaluate_agent, load, make_agent, read_meta, save
from quantrl.agents.persist import RunMeta, check_panel, upgrade_run
from quantrl.cli.train import eval_command
from quantrl.envs import HFTEnv, PortfolioEnv
from quantrl.errors import ConfigError, DataError, QuantRLError

KW = {"window": 5, "vol_window": 5, "episode_length": 40}
SPLIT = ("2015-08-01", "2015-10-01")
HFT_KW = {"window": 10, "vol_window": 10, "impact_window": 10, "episode_length": 100}


class MaskedHFT(gym.Wrapper):
    """HFT-v0 with an action mask that forbids the two most extreme short levels."""

    def action_masks(self) -> np.ndarray:
        mask = np.ones(self.env.action_space.n, dtype=bool)
        mask[:2] = False
        return mask


def _portfolio(panel):
    return PortfolioEnv(panel, split="all", seed=0, **KW)


def _hft_panel(make_synth):
    return make_synth(1200, 1, seed=3, minute=True)


def _observations(space, n: int = 300, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, (n, *space.shape)).astype(np.float32)


def _trained(algo, synth, make_synth, tmp_path):
    """A briefly trained model of ``algo``, saved; returns (model, run folder, env)."""
    if algo in ("dqn", "maskable_ppo"):
        panel = _hft_panel(make_synth)
        env = HFTEnv(panel, split="all", seed=0, **HFT_KW)
        if algo == "maskable_ppo":
            env = MaskedHFT(env)
        save_kw = {"env_kwargs": HFT_KW, "market": panel, "env_id": "quantrl/HFT-v0"}
    else:
        env = _portfolio(synth)
        save_kw = {"env_kwargs": KW, "market": synth, "split_dates": SPLIT}
    extra = {"n_steps": 64} if algo in ("ppo", "recurrent_ppo", "maskable_ppo") else {}
    if algo == "dqn":
        extra = {"learning_starts": 50, "target_update_interval": 50}
    model = make_agent(algo, env, seed=0, **extra)
    model.learn(256)
    folder = save(model, tmp_path / algo, **save_kw)
    return model, folder, env


def _actions(model, obs, masks=None):
    kw = {"action_masks": masks} if masks is not None else {}
    action, _ = model.predict(obs, deterministic=True, **kw)
    return np.asarray(action)


def _recurrent_actions(model, obs):
    """Actions of a recurrent policy stepped through ``obs`` one at a time (state carried)."""
    state, start, out = None, np.ones((1,), dtype=bool), []
    for o in obs:
        a, state = model.predict(o, state=state, episode_start=start, deterministic=True)
        start = np.zeros((1,), dtype=bool)
        out.append(np.asarray(a))
    return np.array(out)


@pytest.mark.parametrize(
    "algo", ["ppo", "a2c", "sac", "td3", "ddpg", "dqn", "maskable_ppo", "recurrent_ppo"]
)
def test_loaded_model_acts_like_the_saved_one(algo, synth, make_synth, tmp_path):
    model, folder, env = _trained(algo, synth, make_synth, tmp_path)
    assert not (folder / "model.zip").exists()
    loaded = load(folder).model
    assert type(loaded) is type(model)
    assert loaded.num_timesteps == model.num_timesteps
    obs = _observations(env.observation_space)
    masks = None
    if algo == "maskable_ppo":
        masks = np.ones((len(obs), env.action_space.n), dtype=bool)
        masks[:, :2] = False
    if algo == "recurrent_ppo":
        ref, got = _recurrent_actions(model, obs[:120]), _recurrent_actions(loaded, obs[:120])
    else:
        ref, got = _actions(model, obs, masks), _actions(loaded, obs, masks)
    np.testing.assert_array_equal(got, ref)
    # the weights matter: an untrained model of the same kind acts differently
    other = make_agent(algo, env, seed=123, **({"n_steps": 64} if "ppo" in algo else {}))
    if algo == "recurrent_ppo":
        assert not np.array_equal(_recurrent_actions(other, obs[:120]), ref)
    else:
        assert not np.array_equal(_actions(other, obs, masks), ref)
    # every tensor of every policy module and optimiser came back
    for name, state in model.get_parameters().items():
        again = loaded.get_parameters()[name]
        if "optimizer" in name:
            assert again["param_groups"] == state["param_groups"]
            for idx, values in state["state"].items():
                for key, value in values.items():
                    assert torch.equal(again["state"][idx][key], value), (name, idx, key)
        else:
            assert state.keys() == again.keys()
            for key, value in state.items():
                assert torch.equal(again[key], value), (name, key)


def test_loaded_model_with_env_trains_further(synth, make_synth, tmp_path):
    model, folder, env = _trained("sac", synth, make_synth, tmp_path)
    run = load(folder, env=_portfolio(synth))
    assert torch.equal(run.model.log_ent_coef.detach(), model.log_ent_coef.detach())
    run.model.learn(64, reset_num_timesteps=False)
    assert run.model.num_timesteps == model.num_timesteps + 64
    # without an env the model acts but cannot be trained: a clear error
    bare = load(folder).model
    with pytest.raises(ConfigError, match="without an env"):
        bare.learn(10)


def test_loading_leaves_global_generators_alone(synth, make_synth, tmp_path):
    _, folder, _ = _trained("ppo", synth, make_synth, tmp_path)
    random.seed(1)
    np.random.seed(1)  # noqa: NPY002 - the global generator is what must stay untouched
    torch.manual_seed(1)
    before = (random.random(), np.random.random(), torch.rand(1).item())  # noqa: NPY002
    random.seed(1)
    np.random.seed(1)  # noqa: NPY002
    torch.manual_seed(1)
    load(folder)
    after = (random.random(), np.random.random(), torch.rand(1).item())  # noqa: NPY002
    assert before == after


# ------------------------------------------------------------------ legacy zips and trust
class _TouchOnUnpickle:
    """Unpickling this object creates ``path`` (stands for arbitrary code)."""

    def __init__(self, path: Path) -> None:
        self.path = pathlib.Path(path)

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def _legacy_folder(model, folder: Path, source_meta: Path, marker: Path | None = None) -> Path:
    """A run folder as older versions wrote it: SB3 model.zip + version-1 meta.json.

    With ``marker`` the zip's data carries a pickled object whose unpickling creates the marker.
    """
    folder.mkdir(parents=True)
    model.save(folder / "model.zip")
    if marker is not None:
        raw = folder / "model.zip"
        with zipfile.ZipFile(raw) as zin:
            entries = {name: zin.read(name) for name in zin.namelist()}
        data = json.loads(entries["data"])
        payload = base64.b64encode(pickle.dumps(_TouchOnUnpickle(marker))).decode()
        data["innocent_looking"] = {":type:": "<class 'int'>", ":serialized:": payload}
        entries["data"] = json.dumps(data).encode()
        with zipfile.ZipFile(raw, "w") as zout:
            for name, content in entries.items():
                zout.writestr(name, content)
    meta = json.loads(source_meta.read_text())
    meta.pop("model")
    meta["version"] = 1
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_crafted_zip_is_refused_without_trust_and_runs_only_with_it(synth, make_synth, tmp_path):
    model, folder, _ = _trained("ppo", synth, make_synth, tmp_path)
    marker = tmp_path / "code-was-executed"
    legacy = _legacy_folder(model, tmp_path / "legacy", folder / "meta.json", marker)
    with pytest.raises(ConfigError, match="execute arbitrary code") as err:
        load(legacy)
    assert "trust=True" in str(err.value)
    with pytest.raises(ConfigError, match="execute arbitrary code"):
        evaluate_agent(None, legacy, market=synth, check_hash=False)
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("other")(lambda: None)
    cli = CliRunner().invoke(app, ["eval", str(legacy)])
    assert cli.exit_code != 0 and "execute arbitrary code" in str(cli.exception)
    assert not marker.exists()
    # with trust=True (documented as executing the file's code) the zip loads, and runs it
    run = load(legacy, trust=True)
    assert marker.exists()
    obs = _observations(model.observation_space)
    np.testing.assert_array_equal(_actions(run.model, obs), _actions(model, obs))


def test_a_dropped_zip_is_ignored_by_a_safetensors_folder(synth, make_synth, tmp_path):
    model, folder, _ = _trained("ppo", synth, make_synth, tmp_path)
    marker = tmp_path / "code-was-executed"
    crafted = _legacy_folder(model, tmp_path / "crafted", folder / "meta.json", marker)
    (folder / "model.zip").write_bytes((crafted / "model.zip").read_bytes())
    load(folder, trust=True)  # the folder's meta names safetensors weights: the zip is not read
    assert not marker.exists()


def test_legacy_folder_upgrades_once_with_trust(synth, make_synth, tmp_path):
    model, folder, _ = _trained("a2c", synth, make_synth, tmp_path)
    legacy = _legacy_folder(model, tmp_path / "old", folder / "meta.json")
    old_meta = read_meta(legacy)
    with pytest.raises(ConfigError, match="trust"):
        upgrade_run(legacy)
    upgrade_run(legacy, trust=True)
    assert not (legacy / "model.zip").exists() and (legacy / "model.safetensors").exists()
    new_meta = read_meta(legacy)
    assert new_meta.model is not None
    assert new_meta.data_hash == old_meta.data_hash and new_meta.symbols == old_meta.symbols
    obs = _observations(model.observation_space)
    np.testing.assert_array_equal(_actions(load(legacy).model, obs), _actions(model, obs))


def test_weights_file_is_checked(synth, make_synth, tmp_path):
    model, folder, _ = _trained("ppo", synth, make_synth, tmp_path)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="sha256"):
        load(folder)
    # weights of another shape, with a matching sha256 in meta.json: still refused clearly
    other = make_agent("ppo", _portfolio(synth), seed=0, policy_kwargs={"net_arch": [8]})
    save(other, tmp_path / "small", env_kwargs=KW, market=synth)
    weights.write_bytes((tmp_path / "small" / "model.safetensors").read_bytes())
    meta = json.loads((folder / "meta.json").read_text())
    meta["model"]["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="do not fit"):
        load(folder)


def test_unstorable_policy_kwargs_are_refused_at_save(synth, tmp_path):
    class CustomActivation(torch.nn.ReLU):
        pass

    model = make_agent(
        "ppo", _portfolio(synth), seed=0, policy_kwargs={"activation_fn": CustomActivation}
    )
    with pytest.raises(ConfigError, match="activation_fn"):
        save(model, tmp_path / "x", env_kwargs=KW, market=synth)
    tanh = make_agent(
        "ppo", _portfolio(synth), seed=0, policy_kwargs={"activation_fn": torch.nn.Tanh}
    )
    folder = save(tanh, tmp_path / "tanh", env_kwargs=KW, market=synth)
    assert load(folder).model.policy_kwargs["activation_fn"] is torch.nn.Tanh


# ------------------------------------------------------------------ meta.json checks
@pytest.fixture(scope="module")
def saved_meta(tmp_path_factory, synth):
    """Text of a valid meta.json and the weights of its run (a SAC model with optimisers)."""
    folder = tmp_path_factory.mktemp("meta") / "sac"
    model = make_agent("sac", _portfolio(synth), seed=0)
    model.learn(120)
    save(model, folder, env_kwargs=KW, market=synth, split_dates=SPLIT)
    return (folder / "meta.json").read_text(), (folder / "model.safetensors").read_bytes()


def _folder_with(tmp_path, meta_text, weights) -> Path:
    folder = tmp_path / "run"
    folder.mkdir(exist_ok=True)
    (folder / "meta.json").write_text(meta_text)
    (folder / "model.safetensors").write_bytes(weights)
    return folder


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["algo"], "ppo2", "algo"),
        (["algo"], 3, "algo"),
        (["env_id"], "os:system", "env_id"),
        (["env_kwargs"], {"window": 5, "evil": 1}, "env_kwargs.evil"),
        (["env_kwargs"], [1, 2], "env_kwargs"),
        (["symbols"], [], "symbols"),
        (["symbols"], ["S0", "S0", "S1", "S2"], "symbols"),
        (["symbols"], "S0", "symbols"),
        (["n_dates"], "300", "n_dates"),
        (["n_dates"], True, "n_dates"),
        (["n_dates"], 0, "n_dates"),
        (["data_hash"], "abc", "data_hash"),
        (["split_dates"], ["2015-08-01"], "split_dates"),
        (["split_dates"], ["2015-08-01", "not a date"], "split_dates[1]"),
        (["obs_shape"], [-1], "obs_shape"),
        (["obs_shape"], [30], "obs_shape"),
        (["action_shape"], [4], "action_shape"),
        (["version"], 9, "version"),
        (["extra"], None, "extra"),
        (["unexpected"], 1, "unexpected"),
        (["model", "format"], "pickle", "model.format"),
        (["model", "policy"], "MlpLstmPolicy", "model.policy"),
        (["model", "policy_kwargs", "net_arch"], [10**9], "model.policy_kwargs.net_arch"),
        (
            ["model", "policy_kwargs", "activation_fn"],
            {"__class__": "os.system"},
            "model.policy_kwargs.activation_fn",
        ),
        (["model", "hyperparams", "evil"], 1, "model.hyperparams.evil"),
        (["model", "hyperparams", "tau"], {"__float__": "1e9"}, "model.hyperparams.tau"),
        (["model", "observation_space", "type"], "Dict", "model.observation_space.type"),
        (["model", "observation_space", "shape"], [29, 2], "obs_shape"),
        (["model", "action_space", "low"], [0.0, 1.0], "model.action_space.low"),
        (["model", "action_space", "dtype"], "object", "model.action_space.dtype"),
        (["model", "num_timesteps"], -1, "model.num_timesteps"),
        (["model", "weights_sha256"], "0" * 63, "model.weights_sha256"),
        (["model", "optimizers"], {}, "model.optimizers"),
        (["model", "variables"], [], "model.variables"),
        (["model", "optimizers", "actor.optimizer", "state"], {"x": {}}, "actor.optimizer"),
    ],
)
def test_tampered_meta_names_the_field(tmp_path, saved_meta, path, value, field):
    meta = json.loads(saved_meta[0])
    node = meta
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    folder = _folder_with(tmp_path, json.dumps(meta), saved_meta[1])
    with pytest.raises(ConfigError) as err:
        load(folder)
    assert field in str(err.value), str(err.value)
    assert len(str(err.value)) < 600


def test_truncated_or_garbled_meta_gives_config_error(tmp_path, saved_meta):
    text, weights = saved_meta
    cuts = sorted({*range(0, len(text), max(1, len(text) // 60)), len(text) - 1})
    for cut in cuts:
        folder = _folder_with(tmp_path, text[:cut], weights)
        with pytest.raises(ConfigError, match="meta.json"):
            load(folder)
    (folder / "meta.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="meta.json"):
        load(folder)
    (folder / "meta.json").write_text("[1, 2, 3]")
    with pytest.raises(ConfigError, match="meta.json"):
        read_meta(folder)


def _leaves(node, path=()):
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list) and node and len(node) < 8:
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, i))
    yield path


def test_any_tampered_field_fails_cleanly(tmp_path, saved_meta, synth):
    """Fields replaced by values of other types: a quantrl error or a valid load, never a
    traceback from deeper code (numpy, torch, stable-baselines3, gymnasium)."""
    original = json.loads(saved_meta[0])
    bad_values = [None, "x", -1, 2.5, True, [], {}, {"__class__": "builtins.eval"}]
    cases = [(p, v) for p in _leaves(original) if p for v in bad_values]
    rng = np.random.default_rng(0)
    outside = [c for c in cases if c[0][0] != "model"]
    inside = [c for c in cases if c[0][0] == "model"]
    picked = outside + [inside[i] for i in rng.choice(len(inside), 150, replace=False)]
    refused = 0
    for path, value in picked:
        meta = copy.deepcopy(original)
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        folder = _folder_with(tmp_path, json.dumps(meta), saved_meta[1])
        try:
            run = load(folder)
            evaluate_agent(None, run, market=synth, check_hash=False)
        except QuantRLError:
            refused += 1
    assert len(picked) > 300 and refused > 0.8 * len(picked)


def test_from_json_round_trip(saved_meta, make_synth):
    meta = RunMeta.from_json(saved_meta[0])
    assert RunMeta.from_json(meta.to_json()) == meta
    assert meta.model["hyperparams"]["train_freq"] == {"__tuple__": [1, "step"]}
    with pytest.raises(DataError, match="asset universe"):
        check_panel(meta, make_synth(n_assets=3))
