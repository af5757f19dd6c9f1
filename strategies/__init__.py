"""Gallery of classic strategies: each turns a panel into target weights using only past data."""

from __future__ import annotations

from strategies.alpha_factor import AlphaFactor
from strategies.base import REGISTRY, Strategy, get_strategy, register
from strategies.bollinger import BollingerReversion
from strategies.buy_and_hold import BuyAndHold
from strategies.equal_weight import EqualWeight
from strategies.ma_crossover import MACrossover
from strategies.max_sharpe import MaxSharpe
from strategies.min_variance import MinVariance
from strategies.momentum import Momentum
from strategies.risk_parity import RiskParity

__all__ = [
    "REGISTRY",
    "AlphaFactor",
    "BollingerReversion",
    "BuyAndHold",
    "EqualWeight",
    "MACrossover",
    "MaxSharpe",
    "MinVariance",
    "Momentum",
    "RiskParity",
    "Strategy",
    "get_strategy",
    "register",
]
