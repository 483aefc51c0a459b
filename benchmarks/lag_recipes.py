"""Which training recipe lets Stage 3's LSTM and Stage 4's Transformer learn a planted lag-k signal?

    .venv/bin/python benchmarks/lag_recipes.py --net lstm --lags 1 20 50
    .venv/bin/python benchmarks/lag_recipes.py --net transformer --lags 1 5 20 50 --seeds 0 1 2 --phis 0.3 0.5
    .venv/bin/python benchmarks/lag_recipes.py --net transformer --set lr=1e-3 --set positions=sinusoidal

The series come from `common.forecast.synthetic.lag_return_series`: r_t = phi * r_{t-k} + noise, so the best
possible forecast (the oracle, phi * r_{t+1-k}) is known and every run is scored by

    skill = (1 - RMSE / naive RMSE) / (1 - oracle RMSE / naive RMSE),

0 for the naive forecast, 1 for the oracle. The validation windows are cut in two halves: the first
("select") picks the best epoch and is the skill recipes are compared by; the second ("val2", the
guard's half) is printed beside it. The test split is not scored unless --read-test asks (the earlier
log did; see lag_recipes.md): `bench_lag.py` reports the chosen recipes' test skill on seeds no
choice ever used. Each network gets its own small training loop here (a fixed epoch budget with
warm-up + cosine decay, the best epoch kept), independent of the stages' train.py.
"""
# ruff: noqa: E402

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import runtime

if __name__ == "__main__":  # read by OpenMP / TensorFlow as they load: before the loops import torch or keras
    runtime.prepare_environment()

from common.forecast.synthetic import lag_return_series, oracle_log_returns
from common.forecast.windows import ForecastData, prepare_forecast_data

LOOKBACK = 60
TRANSFORMER_THREADS = 2  # the PyTorch threads of every Transformer run in lag_recipes.md
STAGE_MODELS = False  # --stage-models: build the networks with MemoryLLM/model.py and CodeLLM/model.py


@dataclass
class Recipe:
    """Every knob of both loops; each network reads the ones it knows."""

    epochs: int = 40
    batch_size: int = 64
    lr: float = 3e-3
    warmup: float = 0.1  # fraction of all steps spent ramping the learning rate up from 0
    schedule: str = "cosine"  # cosine (after warm-up) | constant
    weight_decay: float = 0.0
    dropout: float = 0.0
    clip: float = 1.0  # gradient-norm clip (0 = none)
    loss: str = "mse"  # mse | huber
    head_init: float = 0.01  # std of the output layer's initial weights (0 = zeros: exactly naive)
    # LSTM
    units: int = 32
    layers: int = 1
    unit_forget_bias: bool = True
    # chrono init (Tallec & Ollivier 2018): forget bias log U(1, lookback - 1), input bias = -that
    chrono: bool = False
    clock: str = "none"  # none | ramp | onehot: position channels appended to each day's features
    clock_dropout: bool = True  # False: input dropout drops feature channels only, never the clock
    every_step: bool = False  # train the head on every day of the window (next-day return), not just the last
    # Transformer
    d_model: int = 32
    heads: int = 4
    encoder_layers: int = 1
    decoder_layers: int = 1
    ff_dim: int = 64
    label_len: int = 10
    positions: str = "learned"  # learned | sinusoidal
    scale_embedding: bool = False  # multiply the day embedding by sqrt(d_model) (drowns the position code)
    position_std: float = 1.0  # initial std of learned positions


def parse_set(recipe: Recipe, assignments: list[str]) -> Recipe:
    types = {f.name: f.type for f in fields(Recipe)}
    changes = {}
    for item in assignments:
        name, _, text = item.partition("=")
        if name not in types:
            raise SystemExit(f"error: unknown recipe field {name!r}")
        kind = types[name]
        if kind == "bool":
            changes[name] = text.lower() in ("1", "true", "yes")
        elif kind == "int":
            changes[name] = int(text)
        elif kind == "float":
            changes[name] = float(text)
        else:
            changes[name] = text
    return replace(recipe, **changes)


def learning_rate_at(step: int, total_steps: int, recipe: Recipe) -> float:
    """Linear warm-up over `recipe.warmup` of the steps, then cosine decay to 0 (or constant)."""
    warmup_steps = max(1, int(recipe.warmup * total_steps))
    if step < warmup_steps:
        return recipe.lr * (step + 1) / warmup_steps
    if recipe.schedule == "constant":
        return recipe.lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return recipe.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def validation_halves(data: ForecastData) -> tuple[slice, slice]:
    """The validation windows' earlier half ("select": the best epoch) and later half ("guard"), in time
    order, the earlier half getting the odd one, as `common.forecast.windows` cuts them."""
    n = len(data.splits["validation"].anchors)
    return slice(0, n - n // 2), slice(n - n // 2, n)


# ---------------------------------------------------------------- LSTM (Keras)


def with_clock(inputs: np.ndarray, clock: str) -> np.ndarray:
    """Append constant channels that tell the LSTM which day of the window it is reading:
    none, ramp (one channel, -1 ... 0) or onehot (one channel per day, as MemoryLLM's DayOfWindow)."""
    if clock == "none":
        return inputs
    days = inputs.shape[1]
    if clock == "ramp":
        channels = (np.arange(days, dtype=np.float32) - (days - 1))[:, None] / days
    else:
        channels = np.eye(days, dtype=np.float32)
    channels = np.broadcast_to(channels, (len(inputs), *channels.shape))
    return np.concatenate([inputs, channels], axis=2).astype(np.float32)


def build_local_lstm(data: ForecastData, recipe: Recipe, seed: int, naive_output: float):
    """The experiment's own LSTM with every knob (MemoryLLM's build_model knows a subset). It reads
    windows that already carry the clock channels. Returns (model to fit, model that forecasts)."""
    import keras

    def chrono_bias(shape, dtype=None):
        """Gates [input, forget, cell, output]: forget bias log U(1, T-1), so memories last up to T days."""
        units = shape[0] // 4
        forget = np.log(np.random.default_rng(seed).uniform(1.0, data.lookback - 1.0, units))
        return np.concatenate([-forget, forget, np.zeros(2 * units)]).astype("float32")

    clock_channels = {"none": 0, "ramp": 1, "onehot": data.lookback}[recipe.clock]
    window = keras.Input(shape=(data.lookback, data.n_features + clock_channels))
    hidden = window
    input_dropout = recipe.dropout
    if not recipe.clock_dropout and clock_channels and recipe.dropout > 0:
        # The LSTM's own input dropout keeps one mask per sample for the whole window; do the same to
        # the features only, so the clock is never dropped.
        features = keras.layers.Dropout(recipe.dropout, noise_shape=(None, 1, data.n_features))(
            window[:, :, :data.n_features])
        hidden = keras.layers.Concatenate(axis=-1)([features, window[:, :, data.n_features:]])
        input_dropout = 0.0
    for layer in range(recipe.layers):
        hidden = keras.layers.LSTM(
            recipe.units, return_sequences=recipe.every_step or layer < recipe.layers - 1,
            dropout=input_dropout, unit_forget_bias=recipe.unit_forget_bias and not recipe.chrono,
            bias_initializer=chrono_bias if recipe.chrono else "zeros",
        )(hidden)
    if recipe.dropout > 0:
        hidden = keras.layers.Dropout(recipe.dropout)(hidden)
    kernel_init = (
        keras.initializers.RandomNormal(stddev=recipe.head_init, seed=seed) if recipe.head_init > 0
        else "zeros"
    )
    output = keras.layers.Dense(1, kernel_initializer=kernel_init,
                                bias_initializer=keras.initializers.Constant(naive_output))(hidden)
    if not recipe.every_step:
        model = keras.Model(window, output)
        return model, model
    # (batch, lookback, 1) -> (batch, lookback): a forecast of the next day's return after every day;
    # the forecast is the last day's.
    sequence_output = keras.layers.Reshape((data.lookback,))(output)
    forecaster = keras.Model(window, keras.layers.Lambda(lambda x: x[:, -1:])(sequence_output))
    return keras.Model(window, sequence_output), forecaster


def sequence_targets(data: ForecastData, windows) -> np.ndarray:
    """every_step targets (windows, lookback): day s's target is day s+1's log return (feature 0 of the
    next step, moved to the target's scale); the last day's is the real target."""
    features, targets = data.feature_scaler, data.target_scaler
    raw = windows.inputs[:, 1:, 0] * features.std[0] + features.mean[0]
    scaled = (raw - targets.mean[0]) / targets.std[0]
    return np.concatenate([scaled, windows.targets], axis=1).astype(np.float32)


def train_lstm(data: ForecastData, recipe: Recipe, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Train and return (best epoch's scaled test forecast, its scaled validation forecast, info)."""
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    train, validation, test = (data.splits[name] for name in ("train", "validation", "test"))
    naive_output = float(data.target_scaler.transform(np.zeros((1, 1)))[0, 0])
    first_half, _ = validation_halves(data)
    train_targets = sequence_targets(data, train) if recipe.every_step else train.targets

    if STAGE_MODELS:  # the recipe through MemoryLLM/model.py, which appends the day clock itself
        from MemoryLLM.model import build_model

        if recipe.clock not in ("none", "onehot") or recipe.every_step or not recipe.unit_forget_bias:
            raise SystemExit("error: --stage-models knows clock none/onehot, no every_step, unit_forget_bias")
        model = forecaster = build_model(
            data.lookback, data.n_features, 1, np.array([naive_output]), units=recipe.units,
            layers=recipe.layers, dropout=recipe.dropout, day_clock=recipe.clock == "onehot",
            chrono_init=recipe.chrono, head_init_std=recipe.head_init,
        )
    else:
        model, forecaster = build_local_lstm(data, recipe, seed, naive_output)
        train, validation, test = (
            SimpleNamespace(inputs=with_clock(w.inputs, recipe.clock), targets=w.targets)
            for w in (train, validation, test)
        )

    steps_per_epoch = math.ceil(len(train.inputs) / recipe.batch_size)
    total_steps = recipe.epochs * steps_per_epoch

    class Schedule(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = keras.ops.cast(step, "float32")
            warmup_steps = float(max(1, int(recipe.warmup * total_steps)))
            warm = recipe.lr * (step + 1.0) / warmup_steps
            progress = (step - warmup_steps) / float(max(1, total_steps - warmup_steps))
            decay = recipe.lr * 0.5 * (1.0 + keras.ops.cos(math.pi * keras.ops.minimum(progress, 1.0)))
            if recipe.schedule == "constant":
                decay = recipe.lr + 0.0 * step
            return keras.ops.where(step < warmup_steps, warm, decay)

    optimizer = keras.optimizers.AdamW(
        learning_rate=Schedule(), weight_decay=recipe.weight_decay,
        global_clipnorm=recipe.clip if recipe.clip > 0 else None,
    )
    loss = keras.losses.Huber(delta=1.0) if recipe.loss == "huber" else "mse"
    model.compile(optimizer=optimizer, loss=loss)

    val_inputs = validation.inputs[first_half]
    val_targets = validation.targets[first_half]
    state = {"best": np.inf, "weights": None, "epoch": 0, "val": []}

    class KeepBest(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            predicted = forecaster.predict_on_batch(val_inputs)
            val_loss = float(np.mean((predicted - val_targets) ** 2))
            state["val"].append(val_loss)
            if val_loss < state["best"]:
                state.update(best=val_loss, weights=self.model.get_weights(), epoch=epoch + 1)

    start = time.perf_counter()
    model.fit(train.inputs, train_targets, batch_size=recipe.batch_size, epochs=recipe.epochs, shuffle=True,
              callbacks=[KeepBest()], verbose=0)
    seconds = time.perf_counter() - start
    model.set_weights(state["weights"])
    test_out = forecaster.predict(test.inputs, batch_size=1024, verbose=0)
    val_out = forecaster.predict(validation.inputs, batch_size=1024, verbose=0)
    return test_out, val_out, {"seconds": seconds, "best_epoch": state["epoch"], "val_curve": state["val"]}


# ---------------------------------------------------------------- Transformer (PyTorch)


def build_transformer(data: ForecastData, recipe: Recipe):
    """Stage 4's encoder-decoder (CodeLLM/model.py) with the recipe's sizes and embedding options."""
    import torch

    from CodeLLM.model import TransformerForecaster

    naive_output = data.target_scaler.transform(np.zeros((1, data.horizon)))[0].tolist()
    model = TransformerForecaster(
        n_features=data.n_features, horizon=data.horizon, d_model=recipe.d_model, heads=recipe.heads,
        encoder_layers=recipe.encoder_layers, decoder_layers=recipe.decoder_layers, ff_dim=recipe.ff_dim,
        dropout=recipe.dropout, label_len=recipe.label_len, naive_output=naive_output,
        positions=recipe.positions, max_lookback=data.lookback, head_init_std=recipe.head_init,
    )
    if recipe.positions == "learned" and recipe.position_std != 1.0:
        with torch.no_grad():
            model.position_table.mul_(recipe.position_std)
    if recipe.scale_embedding:  # the stage's former embedding · sqrt(d_model), kept to measure it
        model.embedding.register_forward_hook(lambda module, args, output: output * math.sqrt(recipe.d_model))
    return model


def train_transformer(data: ForecastData, recipe: Recipe, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    np.random.seed(seed)
    model = build_transformer(data, recipe)
    train, validation, test = (data.splits[name] for name in ("train", "validation", "test"))
    first_half, _ = validation_halves(data)
    inputs = torch.from_numpy(train.inputs)
    targets = torch.from_numpy(train.targets)
    val_inputs = torch.from_numpy(validation.inputs[first_half])
    val_targets = validation.targets[first_half]
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (decay if parameter.ndim >= 2 and "position" not in name else no_decay).append(parameter)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr)
    loss_fn = nn.HuberLoss(delta=1.0) if recipe.loss == "huber" else nn.MSELoss()
    steps_per_epoch = math.ceil(len(inputs) / recipe.batch_size)
    total_steps = recipe.epochs * steps_per_epoch
    generator = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch, curve, step = np.inf, None, 0, [], 0
    start = time.perf_counter()
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(inputs), generator=generator)
        for begin in range(0, len(order), recipe.batch_size):
            batch = order[begin:begin + recipe.batch_size]
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, total_steps, recipe)
            loss = loss_fn(model(inputs[batch]), targets[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), recipe.clip)
            optimizer.step()
            step += 1
        model.eval()
        with torch.no_grad():
            val_loss = float(np.mean((model(val_inputs).numpy() - val_targets) ** 2))
        curve.append(val_loss)
        if val_loss < best:
            best, best_epoch = val_loss, epoch + 1
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    seconds = time.perf_counter() - start
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        test_out = model(torch.from_numpy(test.inputs)).numpy()
        val_out = model(torch.from_numpy(validation.inputs)).numpy()
    return test_out, val_out, {"seconds": seconds, "best_epoch": best_epoch, "val_curve": curve}


# ---------------------------------------------------------------- scoring


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def score(prices: pd.DataFrame, data: ForecastData, lag: int, phi: float, test_out: np.ndarray | None,
          val_out: np.ndarray) -> dict:
    """RMSE ratios to naive and the skill vs the oracle on the validation's halves ("select", the
    criterion recipes are chosen by; "val2", the guard's half), and on test only when `test_out` is
    given (--read-test)."""
    oracle = pd.Series(oracle_log_returns(prices, lag, phi), index=prices.index)
    oracle = oracle.reindex(data.dates).to_numpy()
    select, guard = validation_halves(data)
    scored = [("select", val_out, select), ("val2", val_out, guard)]
    if test_out is not None:
        scored.append(("test", test_out, slice(None)))
    result = {}
    for split, out, rows in scored:
        name = "test" if split == "test" else "validation"
        actual = data.actual_prices(name)[rows, 0]
        naive = data.anchor_close(name)[rows]
        model_price = data.to_prices(name, out)[rows, 0]
        oracle_price = naive * np.exp(oracle[data.splits[name].anchors[rows]])
        naive_rmse = rmse(actual, naive)
        result[f"{split}_ratio"] = rmse(actual, model_price) / naive_rmse
        result[f"{split}_oracle_ratio"] = rmse(actual, oracle_price) / naive_rmse
        if phi != 0:
            result[f"{split}_skill"] = (1 - result[f"{split}_ratio"]) / (1 - result[f"{split}_oracle_ratio"])
    return result


def summarise(jsonl: Path, prefix: str) -> str:
    """Markdown: per logged tag starting with `prefix`, the select-half skill of each (lag, seed) run,
    their mean, and the mean on the guard's half ("val2"): the table lag_recipes.md shows."""
    runs = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    frame = pd.DataFrame([r for r in runs if r.get("tag", "").startswith(prefix) and "select_skill" in r])
    if frame.empty:
        return f"no logged run with select-half skill has a tag starting with {prefix!r}"
    keys = sorted({(int(lag), int(seed)) for lag, seed in zip(frame["lag"], frame["seed"], strict=True)})
    lines = ["| tag | net | " + " | ".join(f"k={lag} s{seed}" for lag, seed in keys)
             + " | select mean | val2 mean | runs |", "|" + "---|" * (len(keys) + 5)]
    for tag, group in frame.groupby("tag", sort=False):
        skill = {(int(r.lag), int(r.seed)): r.select_skill for r in group.itertuples()}
        cells = [f"{skill[key]:.2f}" if key in skill else "" for key in keys]
        means = f"{group['select_skill'].mean():.3f} | {group['val2_skill'].mean():.3f}"
        lines.append(f"| {tag} | {group['net'].iloc[0]} | " + " | ".join(cells)
                     + f" | {means} | {len(group)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", choices=("lstm", "transformer"))
    parser.add_argument("--summarise", metavar="TAG_PREFIX",
                        help="print the select-half table of the logged runs whose tag starts with this "
                             "(e.g. S-), instead of training")
    parser.add_argument("--lags", type=int, nargs="+", default=[1, 20, 50])
    parser.add_argument("--phis", type=float, nargs="+", default=[0.5])
    parser.add_argument("--noises", type=float, nargs="+", default=[0.01])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", action="append", default=[], help="override a recipe field, e.g. lr=1e-3")
    parser.add_argument("--jsonl", type=Path, default=Path(__file__).with_name("lag_recipes_runs.jsonl"))
    parser.add_argument("--tag", default="")
    parser.add_argument("--read-test", action="store_true",
                        help="also score the test split (never while choosing a recipe: bench_lag.py reports "
                             "test skill on fresh seeds)")
    parser.add_argument("--stage-models", action="store_true",
                        help="LSTM: MemoryLLM/model.py's build_model instead of this script's copy")
    args = parser.parse_args()
    if args.summarise is not None:
        print(summarise(args.jsonl, args.summarise))
        return
    if args.net is None:
        parser.error("--net is required to train (or --summarise to read the log)")
    if args.net == "transformer":
        with runtime.torch_settings(TRANSFORMER_THREADS):
            run(args)
    else:  # the Keras LSTM: TensorFlow's own thread pools, as in every run so far
        run(args)


def run(args: argparse.Namespace) -> None:
    global STAGE_MODELS
    STAGE_MODELS = args.stage_models
    recipe = parse_set(Recipe(), args.set)
    train = train_lstm if args.net == "lstm" else train_transformer
    rows = []
    for lag in args.lags:
        for phi in args.phis:
            for noise in args.noises:
                for seed in args.seeds:
                    prices = lag_return_series(lag=lag, phi=phi, noise=noise, seed=seed)
                    data = prepare_forecast_data(prices, lookback=LOOKBACK, horizon=1)
                    test_out, val_out, info = train(data, recipe, seed)
                    test_out = test_out if args.read_test else None  # never scored while choosing
                    result = {"net": args.net, "tag": args.tag, "lag": lag, "phi": phi, "noise": noise,
                              "seed": seed, **score(prices, data, lag, phi, test_out, val_out),
                              "seconds": round(info["seconds"], 1), "best_epoch": info["best_epoch"],
                              "overrides": args.set, "stage_models": args.stage_models}
                    rows.append(result)
                    shown = "  ".join(f"{name}_skill={result[name + '_skill']:6.3f}"
                                      for name in ("select", "val2", "test") if name + "_skill" in result)
                    print(f"k={lag:3d} phi={phi} noise={noise} seed={seed}: {shown} "
                          f"select ratio={result['select_ratio']:.4f} "
                          f"(oracle {result['select_oracle_ratio']:.4f}) "
                          f"best_epoch={info['best_epoch']} "
                          f"{info['seconds']:.1f}s", flush=True)
                    with args.jsonl.open("a") as handle:
                        handle.write(json.dumps({**result, "recipe": asdict(recipe)}) + "\n")
    frame = pd.DataFrame(rows)
    columns = [c for c in ("select_skill", "select_ratio", "val2_skill", "test_skill", "seconds")
               if c in frame]
    print(frame.groupby("lag")[columns].agg(["mean", "std"]).round(3).to_string())


if __name__ == "__main__":
    main()
