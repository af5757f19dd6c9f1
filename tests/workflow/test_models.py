"""Models: ridge against scikit-learn, penalty chosen on valid; LightGBM deterministic, early-stopped."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from quantrl import ConfigError
from quantrl.workflow import LightGBMModel, LinearModel


def _data(rng: np.random.Generator, n: int, f: int = 6) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, f)).astype(np.float32)
    beta = np.linspace(-1, 1, f)
    y = x @ beta + 0.3 * np.sin(3 * x[:, 0]) + rng.normal(0, 1.0, n)
    return x, y


def test_ridge_matches_sklearn_and_picks_alpha_on_valid(rng):
    x, y = _data(rng, 2000)
    xv, yv = _data(rng, 500)
    alphas = (0.0, 0.5, 50.0)
    m = LinearModel(alphas=alphas).fit(x, y, xv, yv)
    mses = {}
    for a in alphas:
        # mean loss + alpha |b|^2  ==  sum loss + (alpha n) |b|^2
        ref = Ridge(alpha=a * len(y), fit_intercept=True).fit(x.astype(np.float64), y)
        mses[a] = float(np.mean((yv - ref.predict(xv.astype(np.float64))) ** 2))
        assert m.valid_mse[a] == pytest.approx(mses[a], rel=1e-9)
    best = min(mses, key=mses.get)
    ref = Ridge(alpha=best * len(y)).fit(x.astype(np.float64), y)
    assert m.alpha == best
    np.testing.assert_allclose(m.coef, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(m.predict(xv), ref.predict(xv.astype(np.float64)), atol=1e-9)
    assert m.summary()["alpha"] == best
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError, match="fillna"):
        LinearModel().fit(bad, y, xv, yv)


@pytest.mark.slow
def test_lightgbm_is_deterministic_and_stops_on_valid(rng):
    x, y = _data(rng, 1500)
    xv, yv = _data(rng, 500)
    xv[rng.random(xv.shape) < 0.05] = np.nan  # LightGBM takes missing values
    params = {"loss": "mse", "learning_rate": 0.3, "num_leaves": 15, "colsample_bytree": 0.8}
    seen: list[int] = []
    kw = {"num_boost_round": 300, "early_stopping_rounds": 10, "num_threads": 1}
    a = LightGBMModel(params=params, seed=3, **kw)
    a.fit(x, y, xv, yv, progress=lambda done, total: seen.append(done))
    b = LightGBMModel(params=params, seed=3, **kw)
    b.fit(x, y, xv, yv)
    np.testing.assert_array_equal(a.predict(xv), b.predict(xv))
    # early stopping: training ended 10 rounds after the best valid loss, well before 300
    assert a.best_iteration < len(a.valid_loss) == a.best_iteration + 10 < 300
    assert a.valid_loss[a.best_iteration - 1] == min(a.valid_loss)
    assert seen == list(range(1, len(a.valid_loss) + 1))
    # the prediction is the best round's, not the last one's
    best = a.booster.predict(xv, num_iteration=a.best_iteration)
    np.testing.assert_array_equal(a.predict(xv), best)
    assert a.summary()["best_iteration"] == a.best_iteration
    # a different seed with column sampling gives a different model
    c = LightGBMModel(params=params, seed=4, **kw)
    assert not np.array_equal(c.fit(x, y, xv, yv).predict(xv), a.predict(xv))
    with pytest.raises(ConfigError, match="before predicting"):
        LightGBMModel().predict(xv)
