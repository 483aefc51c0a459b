"""AgentLLM's forecast channel: walk-forward folds that never train on a target inside their block, a
channel no future row can change, sign baselines, and forecasts.csv read back only for the same prices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from AgentLLM import evaluate, forecast, policies
from AgentLLM import train as agent_train
from AgentLLM.market import MarketSpec, prepare_market
from common.config import preset_config
from common.forecast.synthetic import lag_return_series
from common.forecast.windows import prepare_forecast_data

TINY = dict(d_model=8, heads=2, encoder_layers=1, decoder_layers=1, ff_dim=16, epochs=1, patience=1,
            warmup_epochs=0, threads=1)  # CodeLLM's tiny preset at one epoch: the plumbing, in seconds
N_DAYS = 420


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return lag_return_series(n_days=N_DAYS, lag=1, phi=0.5, seed=3)


@pytest.fixture(scope="module")
def channel(prices) -> forecast.ForecastChannel:
    return forecast.walk_forward_channel(prices, "transformer", folds=2, overrides=TINY)


def test_fold_borders_end_training_at_the_first_forecast_day():
    edges = forecast.fold_origins(1000, 3)
    assert edges[0] == 300 and edges[-1] == 999 and np.all(np.diff(edges) > 0)
    borders = forecast.fold_borders(300, 533)
    assert borders["train"][0] == 0 and borders["train"][1] == borders["validation"][0]
    assert borders["validation"][1] == 301  # the last target fitted on is the close of the first origin
    assert borders["test"] == (301, 534)  # targets of origins 300 .. 532


def test_each_fold_forecasts_its_block_from_windows_ending_that_day(prices):
    n_rows = N_DAYS - 33  # the forecast features' warm-up (common.forecast.windows.WARMUP_ROWS)
    edges = forecast.fold_origins(n_rows, 2)
    borders = forecast.fold_borders(edges[0], edges[1])
    data = prepare_forecast_data(prices, lookback=60, horizon=1, borders=borders)
    anchors = data.splits["test"].anchors
    assert anchors[0] == edges[0] and anchors[-1] == edges[1] - 1
    fitted = np.concatenate([data.splits[name].anchors for name in ("train", "validation")])
    assert fitted.max() + 1 <= edges[0]  # no target after the first origin's close


def test_channel_has_a_value_every_day_and_naive_before_the_first_fold(prices, channel):
    frame = channel.frame
    assert list(frame.columns) == ["forecast_transformer", "forecast_transformer_guarded"]
    assert frame.index.equals(prices.index) and np.isfinite(frame.to_numpy()).all()
    first = channel.info["naive_days"]
    assert (frame.iloc[:first] == 0).all().all() and (frame["forecast_transformer"].iloc[first:-1] != 0).all()
    for fold in channel.info["folds"]:  # guarded is the network where its guard kept it, else naive
        block = frame.loc[fold["first_origin"]:fold["last_origin"]]
        expected = block["forecast_transformer"] if fold["guard_kept"] else 0.0
        assert np.array_equal(block["forecast_transformer_guarded"], np.broadcast_to(expected, len(block)))


def with_another_future(prices: pd.DataFrame, t: int) -> pd.DataFrame:
    """Every row after day t moved by a random walk (a different future, still valid prices)."""
    rng = np.random.default_rng(7)
    perturbed = prices.copy()
    factor = np.exp(np.cumsum(rng.normal(0.0, 0.03, len(prices) - t - 1)))
    columns = [name for name in ("Open", "High", "Low", "Close") if name in prices.columns]
    perturbed.iloc[t + 1 :, [prices.columns.get_loc(name) for name in columns]] *= factor[:, None]
    return perturbed


def test_no_future_row_changes_a_forecast(prices, channel):
    t = 33 + forecast.fold_origins(N_DAYS - 33, 2)[1] + 20  # inside the second block
    perturbed = forecast.walk_forward_channel(with_another_future(prices, t), "transformer", folds=2,
                                              overrides=TINY)
    before, after = channel.frame.to_numpy(), perturbed.frame.to_numpy()
    assert np.array_equal(after[: t + 1], before[: t + 1])
    assert not np.array_equal(after[t + 1 :], before[t + 1 :])


def test_forecast_sign_holds_the_market_without_a_view(prices):
    market = prepare_market(prices, MarketSpec())
    values = np.zeros(len(prices))
    values[100], values[101] = 0.01, -0.01
    for mode, down in (("long_short", -1.0), ("long_flat", 0.0)):
        positions = policies.forecast_sign(market, values, mode)
        assert positions[100] == 1.0 and positions[101] == down and positions[102] == 1.0
        assert np.isnan(positions[: market.first_day]).all() and np.isnan(positions[-1])


def test_forecasts_csv_reads_back_only_for_the_same_prices(prices, channel, tmp_path):
    path = tmp_path / "forecasts.csv"
    forecast.save_channel(channel, path)
    again = forecast.load_channel(path, prices.index, ["transformer"])
    assert np.array_equal(again.frame.to_numpy(), channel.frame.to_numpy())
    with pytest.raises(ValueError, match="other days"):
        forecast.load_channel(path, prices.index[1:], ["transformer"])
    with pytest.raises(ValueError, match="no columns"):
        forecast.load_channel(path, prices.index, ["lstm"])
    with pytest.raises(ValueError, match="no such file"):
        forecast.load_channel(tmp_path / "missing.csv", prices.index, ["transformer"])


def test_a_tiny_run_with_the_forecast_channel(channel, prices, tmp_path):
    csv = tmp_path / "prices.csv"
    prices.rename_axis("Date").to_csv(csv)
    forecasts = tmp_path / "forecasts.csv"
    forecast.save_channel(channel, forecasts)
    config = preset_config(agent_train.AgentConfig, "tiny", out=str(tmp_path / "run"), csv=str(csv),
                           timesteps=256, eval_every=128, forecast_models="transformer",
                           forecast_csv=str(forecasts))
    metrics = agent_train.run(config)
    assert {"sign_transformer", "sign_transformer_guarded"} <= set(metrics["policies"])
    assert "forecast_transformer" in metrics["data"]["features"]
    assert "forecast_transformer_guarded" not in metrics["data"]["features"]  # a baseline's, not an input
    saved = pd.read_csv(tmp_path / "run" / "forecasts.csv")
    assert np.allclose(saved["forecast_transformer"], channel.frame["forecast_transformer"])
    frame = pd.read_csv(tmp_path / "run" / "positions.csv")
    assert {"sign_transformer", "sign_transformer_guarded"} <= set(frame.columns)
    rescored = evaluate.rescore(tmp_path / "run")  # the sign baselines too, from positions.csv alone
    for name in ("sign_transformer", "sign_transformer_guarded"):
        assert np.isclose(rescored["policies"][name]["test"]["sharpe"],
                          metrics["policies"][name]["test"]["sharpe"])
    # --no-forecast-input: the same sign baselines, and an agent that does not read the forecast
    blind = agent_train.run(preset_config(
        agent_train.AgentConfig, "tiny", out=str(tmp_path / "blind"), csv=str(csv), timesteps=256,
        eval_every=128, forecast_models="transformer", forecast_csv=str(forecasts), forecast_input=False))
    assert "forecast_transformer" not in blind["data"]["features"]
    assert blind["policies"]["sign_transformer"] == metrics["policies"]["sign_transformer"]


@pytest.mark.parametrize("options, message", [
    (dict(forecast_models="arima"), "forecast-models"),
    (dict(forecast_models="transformer,transformer"), "forecast-models"),
    (dict(forecast_csv="x.csv"), "needs --forecast-models"),
    (dict(forecast_folds=0), "--forecast-folds"),
])
def test_bad_forecast_options_get_one_line(options, message):
    config = preset_config(agent_train.AgentConfig, "tiny", **options)
    with pytest.raises(ValueError, match=message):
        config.validate()
