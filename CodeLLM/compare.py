"""Stage 3 vs Stage 4: the Keras LSTM (MemoryLLM) and the PyTorch Transformer (CodeLLM) side by side.

    python CodeLLM/compare.py                      # reads outputs/MemoryLLM and outputs/CodeLLM; ~80 s
    python CodeLLM/compare.py --folds 5            # more walk-forward folds (each trains both models)
    python CodeLLM/compare.py --lookback 120       # other data settings: both stages are retrained
    python CodeLLM/compare.py --speed-lookbacks 30,60,120 --folds 0   # quicker: a short speed sweep, no folds
    python CodeLLM/compare.py --dry-run --memory-out /tmp/m --code-out /tmp/c --out /tmp/cmp   # plumbing only

A stage whose results are missing, or were made with other data settings (ticker, CSV, dates,
lookback, horizon, split fractions...), is trained first with those settings, in its own folder
(--memory-out / --code-out, replacing what was there), so both models are
always scored on identical windows and identical test targets (checked, not assumed).

Writes to `--out` (default outputs/comparison): comparison.md and comparison.json (one table with
LSTM, Transformer, naive, moving average and linear; walk-forward folds; speed numbers; attention
and saliency per lag), predictions.png, interpretability.png and speed_vs_lookback.png.
"""

from __future__ import annotations

import os

# Let idle OpenMP threads sleep instead of spin: TensorFlow and PyTorch share 2 cores in this
# process, and spinning threads of one steal the cores the other needs (see CodeLLM/train.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from CodeLLM import comparison_report as report
from CodeLLM.train import CodeConfig, setup_threads
from common.config import option, parse_config, run_cli
from common.forecast_setup import ForecastDataConfig
from common.paths import output_dir
from common.runs import prepare_run_dir, read_json, write_json, write_text

# The settings that decide which windows and test targets a run saw: they must agree to compare.
DATA_KEYS = ("ticker", "csv", "start", "end", "source", "lookback", "horizon", "train_fraction",
             "validation_fraction", "ma_window", "dry_run")


@dataclass
class CompareConfig(ForecastDataConfig):
    memory_out: str = option(str(output_dir("MemoryLLM")), "MemoryLLM's run folder (trained there if missing or different)")
    code_out: str = option(str(output_dir("CodeLLM")), "CodeLLM's run folder (trained there if missing or different)")
    out: str = option(str(output_dir("comparison")), "folder for the comparison's table and plots")
    retrain: bool = option(False, "train both stages again even when their results match these settings")
    folds: int = option(3, "walk-forward folds, each training both models (0 = skip); 3 keeps make demo < 5 min")
    fold_epochs: int = option(8, "epoch cap per fold and model: early stopping often ends sooner; bounds the time")
    speed_lookbacks: str = option("30,60,120,250,500,1000", "lookbacks of the speed sweep, comma-separated ('' = skip)")
    speed_batch_size: int = option(16, "windows per timed batch: at lookback 1000 one attention step takes seconds")
    threads: int = option(2, "CPU threads for PyTorch and TensorFlow: this machine has 2 cores")


def parse_lookbacks(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise ValueError(f"--speed-lookbacks takes comma-separated whole numbers like 30,60,120, got {text!r}") from error
    if any(value < 1 for value in values):
        raise ValueError(f"--speed-lookbacks must all be at least 1, got {text!r}")
    return values


def stage_args(config: CompareConfig, out: str) -> list[str]:
    """Command-line flags that give a stage exactly the comparison's data settings."""
    args = ["--out", out, "--seed", str(config.seed)]
    for key in DATA_KEYS:
        value = getattr(config, key)
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        elif value is not None:
            args += [flag, str(value)]
    return args


def mismatch(run: Path, config: CompareConfig, needed: tuple[str, ...]) -> str | None:
    """Why the run in `run` cannot be compared under `config`, or None when it can."""
    missing = [name for name in ("metrics.json", "config.json", "predictions.csv", *needed) if not (run / name).exists()]
    if missing:
        return f"{run} has no {', '.join(missing)}"
    saved = read_json(run / "config.json")
    for key in DATA_KEYS:
        if saved.get(key) != getattr(config, key):
            return f"{run} was trained with {key}={saved.get(key)!r}, the comparison uses {getattr(config, key)!r}"
    return None


def ensure_runs(config: CompareConfig) -> dict[str, dict[str, Any]]:
    """metrics.json of both stages, training a stage first when it is missing or made differently."""
    from CodeLLM import train as code_train
    from MemoryLLM import train as memory_train

    stages = {
        "LSTM": (Path(config.memory_out), memory_train.main, (memory_train.WEIGHTS_FILE, memory_train.SCALERS_FILE)),
        "Transformer": (Path(config.code_out), code_train.main, ("model.pt",)),
    }
    metrics = {}
    for name, (run, train_main, needed) in stages.items():
        reason = "--retrain" if config.retrain else mismatch(run, config, needed)
        if reason:
            print(f"\n== training the {name} ({reason}) ==")
            train_main(stage_args(config, str(run)))
        metrics[name] = read_json(run / "metrics.json")
    return metrics


def check_same_targets(memory_run: Path, code_run: Path) -> tuple[Any, Any]:
    """Both runs' 1-day predictions, after checking that they forecast the same dates and prices."""
    lstm, transformer = report.first_step(memory_run / "predictions.csv"), report.first_step(code_run / "predictions.csv")
    if not (lstm["date"].equals(transformer["date"]) and np.allclose(lstm["actual"], transformer["actual"], rtol=1e-12)):
        raise ValueError(f"{memory_run} and {code_run} were scored on different test targets: rerun with --retrain")
    return lstm, transformer


def table_rows(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One row per forecaster: accuracy on the shared test split plus cost."""
    code = metrics["Transformer"]
    naive_rmse = code["baselines"]["naive"]["rmse"]
    rows = {}
    for name in ("LSTM", "Transformer"):
        run = metrics[name]
        rows[name] = {**run["test"], "rmse_vs_naive": run["test"]["rmse"] / naive_rmse,
                      **{key: run.get(key) for key in ("params", "train_seconds", "seconds_per_epoch",
                                                       "inference_ms_per_window", "framework", "epochs_run",
                                                       "best_epoch", "shrink_strength")}}
    n_inputs = code["lookback"] * len(code["features"])
    costs = {"naive": (0, "numpy"), "moving_average": (0, "numpy"),
             "linear": (n_inputs * code["horizon"] + code["horizon"], "scikit-learn (ridge)")}
    for name, (params, framework) in costs.items():
        rows[name] = {**code["baselines"][name], "rmse_vs_naive": code["baselines"][name]["rmse"] / naive_rmse,
                      "params": params, "framework": framework}
    return rows


def load_models(config: CompareConfig) -> dict[str, tuple[Any, Any]]:
    """{"LSTM": (keras model, data), "Transformer": (torch model, data)} reloaded from the run folders."""
    from CodeLLM.evaluate import load_run as load_transformer
    from MemoryLLM.evaluate import load_run as load_lstm

    transformer, code_data, *_ = load_transformer(config.code_out)
    lstm, memory_data, *_ = load_lstm(config.memory_out)
    return {"LSTM": (lstm, memory_data), "Transformer": (transformer, code_data)}


def lag_profiles(models: dict[str, tuple[Any, Any]]) -> dict[str, np.ndarray]:
    """Per lag day over the test windows: Transformer attention (two summaries), and input × gradient
    saliency of both networks."""
    from CodeLLM.attention import attention_per_lag, gradient_saliency
    from MemoryLLM.interpret import lag_saliency

    transformer, code_data = models["Transformer"]
    lstm, memory_data = models["LSTM"]
    return {
        "attention_cross": attention_per_lag(transformer, code_data.splits["test"].inputs, "cross"),
        "attention_rollout": attention_per_lag(transformer, code_data.splits["test"].inputs, "rollout"),
        "transformer_saliency": gradient_saliency(transformer, code_data.splits["test"].inputs),
        "lstm_saliency": lag_saliency(lstm, memory_data.splits["test"].inputs),
    }


def inference_ms(models: dict[str, tuple[Any, Any]], repeats: int = 3) -> dict[str, float]:
    """Milliseconds per test window of each network's forward pass, measured the same way for both
    (batches of 512, after a warm-up, best of `repeats`). Each run's own figure may time a shortcut:
    a model shrunk fully to naive skips its network when forecasting."""
    from CodeLLM.training import predict_scaled

    predictors = {
        "LSTM": lambda inputs: models["LSTM"][0].predict(inputs, batch_size=512, verbose=0),
        "Transformer": lambda inputs: predict_scaled(models["Transformer"][0], inputs, batch_size=512),
    }
    result = {}
    for name, predict in predictors.items():
        inputs = models[name][1].splits["test"].inputs
        predict(inputs)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            predict(inputs)
            times.append(time.perf_counter() - started)
        result[name] = 1000.0 * min(times) / len(inputs)
    return result


def fold_configs(config: CompareConfig) -> tuple[CodeConfig, Any]:
    """Each stage's default model settings with the comparison's data settings (tiny ones for --dry-run)."""
    from CodeLLM.train import dry_run_config as code_dry_run
    from MemoryLLM.train import MemoryConfig
    from MemoryLLM.train import dry_run_config as memory_dry_run

    data_settings = {field.name: getattr(config, field.name) for field in dataclasses.fields(ForecastDataConfig)}
    code_config = CodeConfig(**data_settings, threads=config.threads)
    memory_config = MemoryConfig(**data_settings)
    if config.dry_run:
        return code_dry_run(code_config), memory_dry_run(memory_config)
    return code_config, memory_config


def write_markdown(result: dict[str, Any], out: Path) -> None:
    settings = result["settings"]
    parts = [
        "# LSTM (MemoryLLM) vs Transformer (CodeLLM)",
        f"Series {result['data']['source']} ({result['data']['first_date']} .. {result['data']['last_date']}), "
        f"lookback {settings['lookback']}, horizon {settings['horizon']}; test split {result['split']['test'][0]} .. "
        f"{result['split']['test'][1]}, identical windows and targets for every row. Metrics in price space, pooled "
        "over horizon steps; 'RMSE / naive' below 1 beats tomorrow = today. Inference: each network's forward "
        "pass over the test windows, timed here the same way for both (batches of 512, best of 3).",
        "## Test split\n\n" + report.markdown_table(result["table"]),
        "Plots: [predictions.png](predictions.png), [interpretability.png](interpretability.png), "
        "[speed_vs_lookback.png](speed_vs_lookback.png).",
    ]
    if result.get("walk_forward"):
        parts.append(f"## Walk-forward ({len(result['walk_forward']['folds'])} expanding-window folds, at most "
                     f"{result['walk_forward']['epochs_per_fold']} epochs per model and fold)\n\n"
                     + report.walk_forward_markdown(result["walk_forward"]))
    if result.get("speed"):
        speed = result["speed"]
        parts.append(f"## Speed vs lookback (same framework: {speed['framework']}, {speed['threads']} threads; "
                     f"Transformer {speed['Transformer']['params']:,} params, LSTM {speed['LSTM']['params']:,} params, "
                     f"random windows)\n\n" + report.speed_markdown(speed))
    parts.append(f"Comparison written in {result['seconds']:.0f} s.")
    write_text(out / "comparison.md", "\n\n".join(parts) + "\n")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    config = parse_config(CompareConfig, argv, description=__doc__)
    started = time.perf_counter()
    lookbacks = parse_lookbacks(config.speed_lookbacks)
    if config.dry_run:
        config = dataclasses.replace(config, folds=min(config.folds, 2), fold_epochs=1)
        lookbacks = [lookback for lookback in lookbacks if lookback <= 60][:2] or [16]
    if config.folds < 0 or config.fold_epochs < 1:
        raise ValueError(f"--folds must be >= 0 and --fold-epochs >= 1, got {config.folds} and {config.fold_epochs}")
    setup_threads(config.threads)
    # isort: off
    import MemoryLLM.train  # noqa: F401  (first: it sets TensorFlow's logging and oneDNN options, then loads it)
    import tensorflow as tf
    # isort: on

    tf.config.threading.set_intra_op_parallelism_threads(config.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)  # small graphs: one op at a time is enough
    out = prepare_run_dir(config.out)

    metrics = ensure_runs(config)
    lstm_predictions, transformer_predictions = check_same_targets(Path(config.memory_out), Path(config.code_out))
    code = metrics["Transformer"]
    result: dict[str, Any] = {
        "settings": {key: getattr(config, key) for key in (*DATA_KEYS, "seed")},
        "data": code["data"], "split": code["split"], "table": table_rows(metrics),
        "runs": {"LSTM": config.memory_out, "Transformer": config.code_out},
    }
    title = f"{code['data']['source']}: test period, 1 day ahead"
    report.plot_predictions(lstm_predictions, transformer_predictions, out / "predictions.png", title)
    models = load_models(config)
    for name, milliseconds in inference_ms(models).items():
        result["table"][name]["inference_ms_per_window"] = milliseconds
    lags = lag_profiles(models)
    report.plot_interpretability(lags, code["lookback"], out / "interpretability.png")
    result["interpretability"] = {"lags": list(range(-code["lookback"] + 1, 1)), **lags}

    if lookbacks:
        from CodeLLM.speed import plot_speed, speed_vs_lookback

        print(f"\n== speed vs lookback {lookbacks} (PyTorch, both architectures) ==")
        result["speed"] = speed_vs_lookback(fold_configs(config)[0], lookbacks, batch_size=config.speed_batch_size)
        plot_speed(result["speed"], out / "speed_vs_lookback.png")
    if config.folds > 0:
        from CodeLLM.walk_forward import walk_forward

        print(f"\n== walk-forward: {config.folds} folds, at most {config.fold_epochs} epochs per model ==")
        result["walk_forward"] = walk_forward(*fold_configs(config), folds=config.folds, epochs=config.fold_epochs)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["threads"] = {"torch": torch.get_num_threads(), "tensorflow_intra_op": config.threads}
    write_json(out / "comparison.json", result)
    write_markdown(result, out)
    print("\n" + report.markdown_table(result["table"]))
    if result.get("walk_forward"):
        print("\n" + report.walk_forward_markdown(result["walk_forward"]))
    print(f"\ncomparison written to {out} in {result['seconds']:.0f} s")
    return result


if __name__ == "__main__":
    run_cli(main)
