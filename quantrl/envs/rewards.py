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

from dataclasses import dataclass

from quantrl.errors import ConfigError
from quantrl.kernels.envs import REWARD_DSR, REWARD_LOG, REWARD_RISK, REWARD_SHARPE

REWARDS: dict[str, int] = {
    "log_return": REWARD_LOG,
    "dsr": REWARD_DSR,
    "sharpe": REWARD_SHARPE,
    "risk_penalty": REWARD_RISK,
}
"""Reward names and their kernel codes."""


@dataclass(frozen=True)
class RewardSpec:
    """A validated reward choice: name, EMA rate ``eta``, penalty ``lam``, window ``k``."""

    name: str = "log_return"
    eta: float = 0.01
    lam: float = 1.0
    window: int = 20

    @property
    def code(self) -> int:
        """Kernel code of the reward."""
        return REWARDS[self.name]


def make_reward(name: str, *, eta: float = 0.01, lam: float = 1.0, window: int = 20) -> RewardSpec:
    """Validate a reward name and its parameters; raises ConfigError naming the problem."""
    if name not in REWARDS:
        raise ConfigError(f"unknown reward {name!r}; choose from {', '.join(REWARDS)}")
    if not (0.0 < eta <= 1.0):
        raise ConfigError(f"reward_eta must be in (0, 1], got {eta}")
    if not (lam >= 0.0) or lam == float("inf"):
        raise ConfigError(f"reward_lambda must be a finite number >= 0, got {lam}")
    if int(window) != window or window < 2:
        raise ConfigError(f"reward_window must be an integer >= 2, got {window}")
    return RewardSpec(name, float(eta), float(lam), int(window))
