"""One way to build agents and one episode loop: no stable-baselines3 / sb3-contrib constructor
and no hand-written env stepping outside ``quantrl.agents`` (the miner, a lower layer, keeps its
own MaskablePPO), in the library, benchmarks, gallery, tests and notebooks."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CONSTRUCTOR = re.compile(r"\b(PPO|A2C|DQN|SAC|TD3|DDPG|MaskablePPO|RecurrentPPO)\(")
"""A call of an SB3 / sb3-contrib algorithm class."""

ENV_STEP = re.compile(r"\b\w*env\w*\.step\(")
"""A call of an environment's ``step`` (``env.step(``, ``test_env.step(``, ``self.env.step(``)."""

AGENTS_ONLY = ("quantrl/agents/", "quantrl/mining/train.py")
"""Where algorithm classes may be constructed."""

STEPPING_ALLOWED = ("quantrl/envs/", "quantrl/kernels/", "quantrl/agents/evaluate.py")
"""Library code that may step environments (the envs themselves and the one rollout)."""

SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()


def _code(path: Path) -> list[str]:
    """Source lines of a Python file or of a notebook's code cells."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return [
            line
            for cell in cells
            if cell["cell_type"] == "code"
            for line in "".join(cell["source"]).splitlines()
        ]
    return path.read_text().splitlines()


def _hits(pattern: re.Pattern[str], roots: tuple[str, ...], allowed: tuple[str, ...]) -> list[str]:
    found = []
    for root in roots:
        for path in sorted((ROOT / root).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if path.suffix not in (".py", ".ipynb") or rel == SELF or rel.startswith(allowed):
                continue
            for k, line in enumerate(_code(path), 1):
                if pattern.search(line.split("#")[0]):
                    found.append(f"{rel}:{k}: {line.strip()}")
    return found


def test_no_algorithm_is_constructed_outside_agents() -> None:
    roots = ("quantrl", "benchmarks", "strategies", "examples", "tests", "notebooks")
    assert _hits(CONSTRUCTOR, roots, AGENTS_ONLY) == []


def test_the_library_steps_envs_only_in_the_one_rollout() -> None:
    # the miner's trainer (a lower layer than agents) steps its own env
    assert _hits(ENV_STEP, ("quantrl",), (*STEPPING_ALLOWED, "quantrl/mining/")) == []


def test_the_patterns_find_what_they_look_for(tmp_path) -> None:
    assert CONSTRUCTOR.search('model = PPO("MlpPolicy", env, seed=0)')
    assert CONSTRUCTOR.search("m = sb3_contrib.MaskablePPO(policy, env)")
    assert not CONSTRUCTOR.search('make_agent("ppo", env)')
    assert ENV_STEP.search("obs, r, te, tr, info = test_env.step(action)")
    assert not ENV_STEP.search("opt.step()")
    nb = tmp_path / "x.ipynb"
    cell = {"cell_type": "code", "source": ["m = DQN('MlpPolicy', env)\n"]}
    nb.write_text(json.dumps({"cells": [cell]}))
    assert CONSTRUCTOR.search(_code(nb)[0])
