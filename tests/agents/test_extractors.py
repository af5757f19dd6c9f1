"""WindowCNN reads Portfolio-v0's return window as an image and treats assets alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quantrl.agents.extractors import WindowCNN
from quantrl.data import load_market
from quantrl.envs.features import log_returns
from quantrl.envs.portfolio import PortfolioEnv
from quantrl.errors import ConfigError


@pytest.fixture(scope="module")
def env() -> PortfolioEnv:
    panel = load_market("dow30", symbols=["AAPL", "KO", "MSFT", "JPM", "AMGN"])
    return PortfolioEnv(panel, split="train", window=20)


def test_the_image_is_the_return_window(env: PortfolioEnv) -> None:
    obs, _ = env.reset(options={"start": env.first_row + 30})
    cnn = WindowCNN(env.observation_space, n_assets=5, window=20)
    image = cnn.image_of(torch.as_tensor(obs[None]))[0, 0].numpy()
    t = env.t
    ref = np.nan_to_num(log_returns(np.asarray(env.panel["close"], dtype=np.float64)))
    np.testing.assert_allclose(image, ref[t - 19 : t + 1], rtol=1e-5, atol=1e-7)
    assert cnn.features_dim == 8 * 5 + env.observation_space.shape[0] - 100


def test_assets_share_the_filters(env: PortfolioEnv) -> None:
    torch.manual_seed(0)
    cnn = WindowCNN(env.observation_space, n_assets=5, window=20, channels=4)
    obs = torch.randn(3, env.observation_space.shape[0]) * 0.02
    perm = [2, 0, 4, 1, 3]
    image = obs[:, :100].reshape(3, 20, 5)
    moved = obs.clone()
    moved[:, :100] = image[:, :, perm].reshape(3, 100)
    out, out_moved = cnn(obs), cnn(moved)
    per_asset = out[:, :20].reshape(3, 4, 5)
    np.testing.assert_allclose(
        out_moved[:, :20].reshape(3, 4, 5).detach().numpy(),
        per_asset[:, :, perm].detach().numpy(),
        rtol=1e-6,
    )
    # the rest of the observation passes through unchanged
    np.testing.assert_array_equal(out[:, 20:].detach().numpy(), obs[:, 100:].numpy())
    with pytest.raises(ConfigError, match="kernel"):
        WindowCNN(env.observation_space, n_assets=5, window=20, kernel=30)
