"""Reward functions of the trading environments (computed in ``quantrl.kernels.envs.reward_nb``).

With ``V_t`` the equity at the close of step t, ``R_t = V_t / V_{t-1} - 1`` the simple return and
``r_t = log(V_t / V_{t-1})`` the log return (both net of costs, and of the ESG grant/tax in the
ESG environment):

* ``"log_return"``: ``r_t``. Summed over an episode it is the log growth of wealth.
* ``"dsr"``: the differential Sharpe ratio of Moody & Saffell (1998), with exponential moments
  ``A_t = A_{t-1} + eta (R_t - A_{t-1})`` and ``B_t = B_{t-1} + eta (R_t^2 - B_{t-1})`` (both
  start at 0 each episode): ``D_t = (B_{t-1} dA_t - A_{t-1} dB_t / 2) / (B_{t-1} - A_{t-1}^2)^{3/2}``
  with ``dA_t = R_t - A_{t-1}``, ``dB_t = R_t^2 - B_{t-1}``; ``D_t = 0`` while the variance
  ``B_{t-1} - A_{t-1}^2`` is at most 1e-12 (the first steps of an episode).
* ``"sharpe"``: the Sharpe ratio of the last ``k = reward_window`` simple returns of the episode,
  ``mean / std`` (sample std, ddof 1, not annualised); 0 with fewer than 2 returns or zero std.
* ``"risk_penalty"``: ``r_t - lam * var_k``, where ``var_k`` is the sample variance (ddof 1) of
  the last ``k`` simple returns of the episode (0 with fewer than 2).

A non-finite reward (equity wiped out) is replaced by -1.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from quantrl.errors import ConfigError
from quantrl.kernels.env_state import REWARD_DSR, REWARD_LOG, REWARD_RISK, REWARD_SHARPE

REWARDS: dict[str, int] = {
    "log_return": REWARD_LOG,
    "dsr": REWARD_DSR,
    "sharpe": REWARD_SHARPE,
    "risk_penalty": REWARD_RISK,
}
"""Reward names and their kernel codes."""


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)


@dataclass(frozen=True)
class RewardConfig:
    """A validated reward choice: ``name``, EMA rate ``eta``, penalty ``lam``, window ``window``."""

    name: str = "log_return"
    eta: float = 0.01
    lam: float = 1.0
    window: int = 20

    FLAT: ClassVar[dict[str, str]] = {
        "reward": "name",
        "reward_eta": "eta",
        "reward_lambda": "lam",
        "reward_window": "window",
    }

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or self.name not in REWARDS:
            raise ConfigError(f"unknown reward {self.name!r}; choose from {', '.join(REWARDS)}")
        if not _real(self.eta) or not 0.0 < self.eta <= 1.0:
            raise ConfigError(f"reward_eta must be in (0, 1], got {self.eta!r}")
        if not _real(self.lam) or self.lam < 0.0:
            raise ConfigError(f"reward_lambda must be a finite number >= 0, got {self.lam!r}")
        window = self.window
        if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 2:
            raise ConfigError(f"reward_window must be an integer >= 2, got {window!r}")
        object.__setattr__(self, "eta", float(self.eta))
        object.__setattr__(self, "lam", float(self.lam))
        object.__setattr__(self, "window", int(window))

    @property
    def code(self) -> int:
        """Kernel code of the reward."""
        return REWARDS[self.name]

    def write(self, params: np.ndarray) -> None:
        """Write the reward fields of a ``PARAMS_DTYPE`` record array."""
        p = params[0]
        p["reward"] = self.code
        p["eta"] = self.eta
        p["lam"] = self.lam


def make_reward(
    name: str, *, eta: float = 0.01, lam: float = 1.0, window: int = 20
) -> RewardConfig:
    """Validate a reward name and its parameters; raises ConfigError naming the problem."""
    return RewardConfig(name, eta, lam, window)
