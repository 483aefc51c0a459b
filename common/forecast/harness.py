"""One forecasting harness for every network: MemoryLLM's Keras LSTM and CodeLLM's PyTorch
Transformer supply a model behind the small `Forecaster` interface; everything else — the training
budget and learning-rate schedule, the choice of the best epoch, the guard, the forecasts, scoring
against the baselines, the run folder, reloading a run, and walk-forward — is written once, here, so
the two stages are judged by exactly the same rules (as Time-Series-Library gives every model one
`Model(configs)` interface and minGPT's trainer "has nothing to do with GPT").

The recipe, and why:
1. Train for a fixed epoch budget with a short linear warm-up and a cosine decay of the learning
   rate (a run ends at a small rate, where the last improvements come from). Early stopping with
   generous patience only cuts the budget short when validation has long stopped improving.
2. The *as-trained* network is the epoch (≥ 1) with the lowest loss on the validation split's
   first half ("select"). Nothing else is done to it: no shrinkage, no fallback.
3. The *guard* decides what you would deploy: keep the network only if a Diebold-Mariano test
   (with a variance that allows for the windows' overlap, common.forecast.stats) says it beats naive
   at 5 % on the validation split's second half ("guard"), which nothing was chosen on and which
   shares no target day with "select"; otherwise deploy naive. (`--select-on train-tail` chooses the
   epoch on the last 15 % of the training windows instead, and the guard tests on all of validation.)
   The same rule judges the AR and ridge baselines. Both forecasts are always reported.
4. The test split is read once, at the end.

`--target` picks what is forecast (common.forecast.windows.TARGETS): price (the above), volatility (the
realised volatility of the next week: MSE on its scaled value; the guard and the fallback are HAR-RV)
or direction (the probability of an up day: the network outputs a logit trained with binary
cross-entropy; the guard and the fallback are the training base rate). Their baselines, metrics and
plots are in common.forecast.target_baselines and common.forecast.target_report; the recipe above is the same.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from common import distributed
from common.config import (
    config_from_dict,
    finite,
    option,
    require,
    require_at_least,
    require_learning_rate,
    require_types,
)
from common.forecast.baselines import FittedBaselines, fit_baselines, naive_forecast
from common.forecast.inputs import ForecastDataConfig, load_forecast_data
from common.forecast.report import comparison_table, squared_errors, write_forecast_run
from common.forecast.stats import diebold_mariano
from common.forecast.windows import TARGETS, ForecastData, Standardizer, Windows, check_target
from common.paths import output_dir
from common.runs import atomic_path, read_json, run_transaction, write_json
from common.seed import set_seed

SCALERS_FILE = "scalers.json"
GUARD_RULE = ("keep the model only if a one-sided Diebold-Mariano test (squared price errors; horizon 1: "
              "Newey-West variance, Harvey-Leybourne-Newbold correction; horizon > 1: equal-weighted "
              "cosine variance and Student's t, for the windows' overlap) rejects 'no better than naive' at "
              "level alpha on {guard_windows}; otherwise forecast naive")


@dataclass
class ForecastConfig(ForecastDataConfig):
    """The data options plus the training recipe both networks share. A stage subclasses it, adds its
    model's options and may re-declare a field to give it its own default."""

    epochs: int = option(60, "epoch budget; the learning rate follows a cosine to the last one")
    batch_size: int = option(32, "windows per step: ~50 steps per epoch on 1,700 windows")
    learning_rate: float = option(2e-3, "peak AdamW step, reached after the warm-up")
    min_lr_ratio: float = option(0.05, "the cosine ends at this fraction of the peak rate")
    warmup_epochs: int = option(2, "epochs of linear warm-up: the first steps see random features")
    weight_decay: float = option(0.0, "AdamW decay; the guard, not a penalty, protects against noise")
    patience: int = option(20, "epochs without a better 'select' loss before stopping (0 = never stop early)")
    max_seconds: float = option(0.0, "stop training after this many seconds (0 = the epoch budget only)")
    guard_alpha: float = option(0.05, "level of the guard's Diebold-Mariano test against naive (one-sided)")
    target: str = option("price", "what to forecast: price (the next closes), volatility (realised "
                         "volatility of the next --volatility-days days) or direction (the probability of an "
                         "up day)",
                         choices=TARGETS)
    volatility_days: int = option(5, "days of the volatility target's realised volatility: one trading week")
    out: str = option(str(output_dir("forecast")), "run folder for results, weights and plots")

    def validate(self) -> None:
        """Raise a ValueError naming the option that cannot work."""
        require_types(self)
        require_at_least(self, 1, "epochs", "batch_size", "lookback", "horizon", "ma_window")
        require(self, self.ma_window <= self.lookback, "ma_window",
                f"at most --lookback {self.lookback} (no baseline may see more days than the network)")
        require_at_least(self, 0, "warmup_epochs", "patience")
        require_learning_rate(self, "learning_rate")
        require(self, 0 < finite(self.min_lr_ratio) <= 1, "min_lr_ratio", "in (0, 1]")
        require(self, finite(self.weight_decay) >= 0, "weight_decay", "0 or more")
        require(self, finite(self.max_seconds) >= 0, "max_seconds", "0 or more (0: the epoch budget only)")
        require(self, 0 < finite(self.guard_alpha) < 1, "guard_alpha", "a test level in (0, 1), e.g. 0.05")
        require(self, 0 < finite(self.train_fraction) < 1, "train_fraction", "in (0, 1), e.g. 0.7")
        before_test = self.train_fraction + self.validation_fraction
        require(self, 0 < finite(self.validation_fraction) < 1 and before_test < 1, "validation_fraction",
                f"in (0, 1) and leave a test split after --train-fraction {self.train_fraction}")
        check_target(self.target, self.horizon, self.volatility_days, self.lookback)


class Forecaster(Protocol):
    """What a stage supplies: a network from scaled windows to scaled log returns, and its upkeep.

    Shapes: inputs (windows, lookback, features) float32; outputs (windows, horizon) scaled returns.
    """

    label: str  # "LSTM", "Transformer": the name in tables and plots
    weights_file: str  # file name of the trained weights in a run folder

    def train_epoch(self, train: Windows, learning_rate: float, epoch: int) -> float:
        """One pass over the shuffled training windows at this rate; returns the mean training loss."""

    def predict(self, inputs: np.ndarray) -> np.ndarray: ...
    def get_state(self) -> Any: ...  # an in-memory copy of the weights (the best epoch so far)
    def set_state(self, state: Any) -> None: ...
    def save(self, path: Path) -> None: ...  # weights only, written atomically
    def load(self, path: Path) -> None: ...  # weights only; a clear ValueError for a bad file
    def params(self) -> int: ...

    def lag_profiles(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """{name: (lookback,) share per day of the window}: where the network looks (saliency, attention)."""

    def describe(self) -> dict[str, Any]: ...  # {"framework": ..., "device": ...}


@dataclass
class Stage:
    """How the harness builds and names one stage's network."""

    name: str  # "MemoryLLM": run folders, metrics.json
    model: str  # "lstm": metrics.json
    label: str  # "LSTM": tables and plots
    config_cls: type
    make: Callable[[Any, ForecastData], Forecaster]  # (config, data) -> an untrained forecaster
    extra_plots: Callable[[Forecaster, ForecastData, Path], None] | None = None  # e.g. attention maps
    # (config, data) -> None, or a ValueError when training the network cannot fit in memory
    check_memory: Callable[[Any, ForecastData], None] | None = None


@dataclass
class FitResult:
    history: dict[str, list[float]]  # per epoch: loss, val_loss (the "select" half), learning_rate, seconds
    epochs_run: int
    best_epoch: int  # ≥ 1: the as-trained network is this epoch
    train_seconds: float
    interrupted: bool = False


def learning_rate_at(config: ForecastConfig, epoch: int) -> float:
    """Linear warm-up over `warmup_epochs`, then a cosine from the peak to min_lr_ratio x peak at the
    last epoch of the budget (epochs count from 1)."""
    if epoch <= config.warmup_epochs:
        return config.learning_rate * epoch / (config.warmup_epochs + 1)
    span = max(config.epochs - config.warmup_epochs, 1)
    progress = min((epoch - config.warmup_epochs - 1) / max(span - 1, 1), 1.0)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return config.learning_rate * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


def scaled_loss(forecaster: Forecaster, windows: Windows, target: str = "price") -> float:
    """The training loss, on held-out windows: mean squared error on the scaled targets (log returns or
    volatility), or for direction the binary cross-entropy of the logits."""
    outputs = forecaster.predict(windows.inputs)
    if target == "direction":
        # log(1 + e^z) - y z, written so a large |z| does not overflow
        return float(np.mean(np.logaddexp(0.0, outputs) - windows.targets * outputs))
    return float(np.mean((outputs - windows.targets) ** 2))


def fit(
    forecaster: Forecaster, data: ForecastData, config: ForecastConfig, verbose: bool = True
) -> FitResult:
    """Train on data.splits["train"] and leave `forecaster` at the epoch with the lowest loss on the
    "select" half of validation. Ctrl-C stops training and keeps the best epoch so far."""
    train, select = data.splits["train"], data.splits["select"]
    history: dict[str, list[float]] = {"loss": [], "val_loss": [], "learning_rate": [], "seconds": []}
    best_loss, best_epoch, best_state, stale = math.inf, 0, None, 0
    started = time.perf_counter()
    interrupted = False
    bar = tqdm(range(1, config.epochs + 1), desc=forecaster.label, unit="epoch", disable=not verbose)
    try:
        for epoch in bar:
            epoch_started = time.perf_counter()
            rate = learning_rate_at(config, epoch)
            loss = forecaster.train_epoch(train, rate, epoch)
            val_loss = scaled_loss(forecaster, select, data.target)
            if not math.isfinite(loss) or not math.isfinite(val_loss):
                raise ValueError(f"training diverged at epoch {epoch} (loss {loss}): lower --learning-rate")
            for key, value in (("loss", loss), ("val_loss", val_loss), ("learning_rate", rate),
                               ("seconds", time.perf_counter() - epoch_started)):
                history[key].append(value)
            if val_loss < best_loss:
                best_loss, best_epoch, best_state, stale = val_loss, epoch, forecaster.get_state(), 0
            else:
                stale += 1
            bar.set_postfix(loss=f"{loss:.4f}", val=f"{val_loss:.4f}", best=best_epoch)
            if config.patience and stale >= config.patience:
                break
            # a time budget may run out on one rank of a parallel run before another: all stop together
            over_time = bool(config.max_seconds) and time.perf_counter() - started > config.max_seconds
            if distributed.any_rank(over_time):
                break
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted: keeping the best epoch so far ({best_epoch})")
    finally:
        bar.close()
    if best_state is None:
        raise ValueError("training was interrupted before the first epoch ended: nothing to evaluate")
    forecaster.set_state(best_state)
    return FitResult(history, len(history["loss"]), best_epoch, time.perf_counter() - started, interrupted)


def network_prices(forecaster: Forecaster, data: ForecastData, split: str) -> np.ndarray:
    """(windows, horizon) price forecasts of the network for `split`."""
    return data.to_prices(split, forecaster.predict(data.splits[split].inputs))


def guard_decision(data: ForecastData, predicted_guard: np.ndarray, alpha: float) -> dict[str, Any]:
    """The guard's verdict for a forecast of the "guard" half: kept, and the evidence."""
    actual = data.actual_prices("guard")
    statistic, p_value = diebold_mariano(squared_errors(actual, naive_forecast(data, "guard")),
                                         squared_errors(actual, predicted_guard), data.horizon)
    p_value = 1.0 if p_value is None else p_value
    return {"kept": bool(p_value < alpha), "rule": GUARD_RULE.format(guard_windows=data.guard_windows()),
            "alpha": alpha,
            "dm_stat_validation": statistic, "dm_pvalue_validation": p_value, "windows": int(len(actual))}


def all_forecasts(
    forecaster: Forecaster, data: ForecastData, config: ForecastConfig, split: str = "test",
    baselines: FittedBaselines | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]], dict[str, Any]]:
    """(forecasts, guards, baseline info) for `split`: the network as trained and guarded, then every
    baseline (fitted here unless `baselines` already holds them for `data`). `guards` holds the
    guard's verdict on the network ("model"), AR and ridge."""
    if data.target != "price":
        return target_forecasts(forecaster, data, config, split)
    baselines = baselines or fit_baselines(data, config.ma_window)
    on_guard = baselines.forecasts("guard")
    guards = {"model": guard_decision(data, network_prices(forecaster, data, "guard"), config.guard_alpha)}
    for name in ("ar", "linear"):
        guards[name] = guard_decision(data, on_guard[name], config.guard_alpha)
    as_trained = network_prices(forecaster, data, split)
    naive = naive_forecast(data, split)
    forecasts = {"as_trained": as_trained, "guarded": as_trained if guards["model"]["kept"] else naive,
                 **baselines.forecasts(split)}
    return forecasts, guards, baselines.info


def target_forecasts(
    forecaster: Forecaster, data: ForecastData, config: ForecastConfig, split: str = "test"
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]], dict[str, Any]]:
    """`all_forecasts` for a volatility or direction target: (windows,) forecasts of the network as
    trained and as guarded (against HAR-RV or the base rate), then the target's baselines."""
    from common.forecast.target_baselines import fit_target_baselines
    from common.forecast.target_report import target_guard

    baselines = fit_target_baselines(data)
    fallback = baselines.fallback
    network = {name: data.to_target(forecaster.predict(data.splits[name].inputs))
               for name in ("guard", split)}
    guard = target_guard(data, network["guard"], baselines.forecasts("guard")[fallback], config.guard_alpha)
    on_split = baselines.forecasts(split)
    forecasts = {"as_trained": network[split],
                 "guarded": network[split] if guard["kept"] else on_split[fallback], **on_split}
    return forecasts, {"model": guard}, baselines.info


def save_scalers(out: Path, data: ForecastData) -> None:
    write_json(out / SCALERS_FILE, {"feature_names": data.feature_names,
                                    "feature_scaler": data.feature_scaler.to_dict(),
                                    "target_scaler": data.target_scaler.to_dict()})


def load_scalers(path: Path) -> tuple[list[str], Standardizer, Standardizer]:
    """(feature names, feature scaler, target scaler) as `save_scalers` wrote them; a file of another
    shape raises one ValueError naming it and what is wrong."""
    payload = read_json(path)

    def damaged(what: str) -> ValueError:
        return ValueError(f"{path} is damaged: {what}; re-train to recreate it")

    if not isinstance(payload, dict):
        raise damaged(f"it holds a {type(payload).__name__}, not an object")
    missing = [key for key in ("feature_names", "feature_scaler", "target_scaler") if key not in payload]
    if missing:
        raise damaged(f"it has no {', '.join(map(repr, missing))}")
    names = payload["feature_names"]
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        raise damaged("'feature_names' must be a non-empty list of names")
    scalers = []
    for key, size in (("feature_scaler", len(names)), ("target_scaler", None)):
        scaler = payload[key]
        try:
            mean, std = (np.asarray(scaler[part], dtype=np.float64) for part in ("mean", "std"))
        except (KeyError, TypeError, ValueError):
            raise damaged(f"{key!r} must hold 'mean' and 'std', lists of numbers") from None
        if mean.ndim != 1 or mean.shape != std.shape or (size is not None and len(mean) != size):
            raise damaged(f"{key!r} must hold one mean and one std per "
                          + ("feature" if size is not None else "target step"))
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise damaged(f"{key!r} must hold finite means and positive standard deviations")
        scalers.append(Standardizer(mean=mean, std=std))
    return names, scalers[0], scalers[1]


def write_history(out: Path, history: dict[str, list[float]]) -> None:
    frame = pd.DataFrame({"epoch": range(1, len(history["loss"]) + 1), **history})
    with atomic_path(out / "history.csv") as tmp:
        frame.to_csv(tmp, index=False)


def time_inference(forecaster: Forecaster, inputs: np.ndarray, repeats: int = 3) -> float:
    """Milliseconds per window of the network's batched forward pass, best of `repeats` after a warm-up."""
    forecaster.predict(inputs)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        forecaster.predict(inputs)
        times.append(time.perf_counter() - started)
    return 1000.0 * min(times) / len(inputs)


def report_run(
    stage: Stage, forecaster: Forecaster, data: ForecastData, config: ForecastConfig, info: dict[str, Any],
    out: Path, fit_result: FitResult | None = None, extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Forecast, guard, score and plot a trained network into `out`; returns metrics.json's content."""
    from common.forecast.plots import plot_lag_profiles

    forecasts, guards, baseline_info = all_forecasts(forecaster, data, config)
    guard = guards["model"]
    extra = {**(extra or {}), **forecaster.describe(), "params": forecaster.params(),
             "inference_ms_per_window": time_inference(forecaster, data.splits["test"].inputs),
             **({"baseline_guards": {name: guards[name] for name in ("ar", "linear")}}
                if data.target == "price" else {}),
             "baseline_settings": baseline_info, "seed": config.seed}
    history = None
    if fit_result is not None:
        extra.update(train_seconds=fit_result.train_seconds, epochs_run=fit_result.epochs_run,
                     best_epoch=fit_result.best_epoch, interrupted=fit_result.interrupted,
                     seconds_per_epoch=fit_result.train_seconds / max(fit_result.epochs_run, 1))
        history = {"loss": fit_result.history["loss"],
                   "val_loss (select half)": fit_result.history["val_loss"]}
    header = {"stage": stage.name, "model": stage.model}
    if data.target == "price":
        metrics = write_forecast_run(out, data, forecasts, header=header, data_info=info, guard=guard,
                                     history=history, extra=extra, model_label=stage.label)
    else:
        from common.forecast.target_report import write_target_run

        metrics = write_target_run(out, data, forecasts, header=header, data_info=info, guard=guard,
                                   history=history, extra=extra, model_label=stage.label)
    fallback = {"price": "naive", "volatility": "HAR-RV", "direction": "the base rate"}[data.target]
    note = ("the guard kept this network: it is the deployed forecast" if guard["kept"] else
            f"the guard fell back to {fallback}: this as-trained network is NOT the deployed forecast")
    profiles = forecaster.lag_profiles(data.splits["test"].inputs)
    plot_lag_profiles(profiles, out / "interpretability.png",
                      title=f"{metrics['series']} — {stage.label} as trained: where it looks (test windows)",
                      note=note)
    write_json(out / "lag_profiles.json", profiles)
    if stage.extra_plots is not None:
        stage.extra_plots(forecaster, data, out)
    return metrics


def run(stage: Stage, config: ForecastConfig, verbose: bool = True) -> dict[str, Any]:
    """Train a stage's network as `config` says, write its run folder, and return its metrics."""
    config.validate()
    # first: a bad input fails before any file is touched
    data, info = load_forecast_data(config, target=config.target, volatility_days=config.volatility_days)
    if verbose:
        windows = {name: len(split.anchors) for name, split in data.splits.items()}
        print(f"{info['source']}: {info['rows']} rows {info['first_date']} -> {info['last_date']}, "
              f"{data.n_features} features, windows {windows}")
    if stage.check_memory is not None:  # before anything is built: a network too big is refused here
        stage.check_memory(config, data)
    if not distributed.world().is_main:  # a parallel run: train in step with rank 0, which writes the run
        set_seed(config.seed)
        fit(stage.make(config, data), data, config, verbose=False)
        return {}
    # The run is a transaction: everything goes into a staging folder that becomes `out` only when
    # complete, so a failed, killed or interrupted run leaves the previous run exactly as it was.
    with run_transaction(config.out, stage=stage.name) as staging:
        set_seed(config.seed)
        forecaster = stage.make(config, data)
        result = fit(forecaster, data, config, verbose)
        write_json(staging / "config.json", config)
        save_scalers(staging, data)
        forecaster.save(staging / forecaster.weights_file)
        write_history(staging, result.history)
        metrics = report_run(stage, forecaster, data, config, info, staging, result)
    out = Path(config.out)
    if verbose:
        print_summary(stage, metrics, out)
    return metrics


def print_summary(stage: Stage, metrics: dict[str, Any], out: Path) -> None:
    guard, scored = metrics["guard"], metrics["scored"]
    labels = {"as_trained": f"{stage.label} trained", "guarded": f"{stage.label} guarded"}
    rows = {labels.get(name, name): values for name, values in metrics["forecasts"].items()}
    if "best_epoch" in metrics:
        print(f"\nbest epoch {metrics['best_epoch']} of {metrics['epochs_run']} ('select' half), "
              f"trained in {metrics['train_seconds']:.1f} s")
    fallback = guard.get("against", "naive")
    print(f"guard: {'kept' if guard['kept'] else f'fell back to {fallback}'} "
          f"(DM p = {guard['dm_pvalue_validation']:.3f} on {guard['windows']} 'guard' windows, "
          f"alpha {guard['alpha']})")
    print(f"test {scored['first']} .. {scored['last']}, {scored['windows']} windows\n")
    if metrics.get("target", "price") != "price":
        from common.forecast.target_report import target_table

        print(target_table(metrics["target"], rows))
        print(f"\nresults in {out}")
        return
    print(comparison_table(rows))
    ridge = metrics.get("baseline_settings", {}).get("linear", {})
    if ridge.get("edge") == "top":
        print(f"note: ridge's penalty ({ridge['alpha']:g}) is at the top of its grid: it has shrunk to its "
              "intercept, so 'linear' is the drift forecast in disguise")
    print(f"\nresults in {out}")


def load_run(
    stage: Stage, out: str | Path, overrides: dict[str, Any] | None = None
) -> tuple[Forecaster, ForecastData, dict[str, Any], ForecastConfig]:
    """(forecaster, data, data_info, config) of a trained run, its windows rebuilt with the run's own
    scalers and feature list; `overrides` swaps data options (ticker, csv, start, end, source)."""
    out = Path(out)
    config_path = out / "config.json"
    config = config_from_dict(stage.config_cls, read_json(config_path), source=str(config_path))
    try:  # as resolved at training: a hand-edited value out of range is the file's fault
        config.validate()
    except ValueError as error:
        raise ValueError(f"{config_path}: {error}; fix the file or re-train to recreate it") from None
    config = dataclasses.replace(config, **(overrides or {}))
    feature_names, feature_scaler, target_scaler = load_scalers(out / SCALERS_FILE)
    data, info = load_forecast_data(config, scalers=(feature_scaler, target_scaler),
                                    feature_names=feature_names, target=config.target,
                                    volatility_days=config.volatility_days)
    set_seed(config.seed)
    forecaster = stage.make(config, data)
    weights = out / forecaster.weights_file
    if not weights.exists():
        raise FileNotFoundError(
            f"{weights} does not exist: train first with python {stage.name}/train.py --out {out}"
        )
    forecaster.load(weights)
    return forecaster, data, info, config
