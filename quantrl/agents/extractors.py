"""``WindowCNN``: a convolutional features extractor over Portfolio-v0's return window.

The first ``window * n_assets`` values of a ``Portfolio-v0`` observation are the log returns of
the last ``window`` rows, time-major (``quantrl.envs.portfolio``). ``WindowCNN`` views them as a
one-channel (window x assets) image and applies two convolutions along time that are shared by
all assets (kernels ``(kernel, 1)`` then ``(window - kernel + 1, 1)``, as in the EIIE networks of
Jiang et al., 2017): each asset gets ``channels`` features of its own history. These are
concatenated with the rest of the observation (point features and current weights) and go to
the policy's MLP head.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from quantrl.errors import ConfigError


class WindowCNN(BaseFeaturesExtractor):
    """Time convolutions over the (window x assets) return image, plus the flat remainder."""

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        n_assets: int,
        window: int = 20,
        kernel: int = 5,
        hidden: int = 4,
        channels: int = 8,
    ) -> None:
        dim = int(observation_space.shape[0])
        image = window * n_assets
        if not 1 <= kernel <= window or image > dim:
            raise ConfigError(
                f"WindowCNN: kernel {kernel} must be in [1, window={window}] and "
                f"window * n_assets = {image} at most the observation size {dim}"
            )
        super().__init__(observation_space, channels * n_assets + dim - image)
        self.n_assets, self.window, self.image = n_assets, window, image
        self.conv = nn.Sequential(
            nn.Conv2d(1, hidden, (kernel, 1)),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, (window - kernel + 1, 1)),
            nn.ReLU(),
        )

    def image_of(self, obs: torch.Tensor) -> torch.Tensor:
        """The (batch, 1, window, assets) return image of a batch of observations."""
        return obs[:, : self.image].reshape(-1, 1, self.window, self.n_assets)

    def conv_features(self, image: torch.Tensor) -> torch.Tensor:
        """(batch, channels, assets) features of a (batch, 1, window, assets) image."""
        return self.conv(image)[:, :, 0, :]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Per-asset convolution features, then the observation's remaining values."""
        feats = self.conv_features(self.image_of(obs)).flatten(1)
        return torch.cat([feats, obs[:, self.image :]], dim=1)


__all__ = ["WindowCNN"]
