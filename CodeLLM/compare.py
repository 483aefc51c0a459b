"""Stage 3 vs Stage 4: the Keras LSTM (MemoryLLM) and the PyTorch Transformer (CodeLLM) side by side.

    python CodeLLM/compare.py                      # reads outputs/MemoryLLM and outputs/CodeLLM
    python CodeLLM/compare.py --folds 6            # plus walk-forward: 6 folds, each refitting both models
    python CodeLLM/compare.py --lookback 120       # other data settings: both stages are retrained
    python CodeLLM/compare.py --speed-lookbacks 30,60,120   # a shorter speed sweep
    python CodeLLM/compare.py --targets price,volatility,direction   # also next-week volatility and P(up)
    python CodeLLM/compare.py --preset tiny --memory-out /tmp/m --code-out /tmp/c --out /tmp/cmp  # plumbing

A stage whose results are missing, or were made with other data settings (ticker, CSV, dates,
lookback, horizon, split fractions...), is trained first by calling its `run(config)` with those
settings, in its own folder (--memory-out / --code-out), so both models are always scored on
identical windows and identical test targets (checked, not assumed).

Writes to `--out` (default outputs/comparison): comparison.md and comparison.json (one table with
both networks as trained and as guarded beside naive, drift, AR, moving average and ridge; walk-
forward folds; speed numbers; attention and saliency per lag), predictions.png,
cumulative_error.png, interpretability.png and speed_vs_lookback.png. `--targets` adds a table per
extra target (volatility: both networks beside last, EWMA and HAR-RV, with volatility.png; direction:
beside the base rate and a logistic regression, with reliability.png); each trains both stages into
'<memory-out>-<target>' and '<code-out>-<target>', so they are opt-in (four more trainings).
"""

# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    # Read by OpenMP and TensorFlow as they load: idle threads sleep (TensorFlow and PyTorch share the
    # cores in this process), TensorFlow stays quiet and deterministic. Before importing either.
    runtime.prepare_environment()

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from CodeLLM import comparison_report as report
from CodeLLM.stages import forecast_stage, stage_runner, weights_file
from CodeLLM.train import CodeConfig
from common.config import option, parse_config, preset_config, require_at_least, run_cli
from common.forecast.harness import load_run, time_inference
from common.forecast.inputs import ForecastDataConfig
from common.forecast.plots import plot_lag_profiles
from common.forecast.walk_forward import walk_forward
from common.forecast.windows import TARGETS
from common.paths import output_dir
from common.runs import read_json, run_transaction, write_json, write_text

# The settings that decide which windows and test targets a run saw: they must agree to compare.
DATA_KEYS = ("ticker", "csv", "start", "end", "source", "lookback", "horizon", "train_fraction",
             "validation_fraction", "ma_window", "preset")


@dataclass
class CompareConfig(ForecastDataConfig):
    # tiny: both stages' tiny presets and a two-point speed sweep: checks the plumbing in seconds
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"tiny": dict(speed_lookbacks="30,60")}
    memory_out: str = option(str(output_dir("MemoryLLM")),
                             "MemoryLLM's run folder (trained there if missing or different)")
    code_out: str = option(str(output_dir("CodeLLM")),
                           "CodeLLM's run folder (trained there if missing or different)")
    out: str = option(str(output_dir("comparison")), "folder for the comparison's table and plots")
    retrain: bool = option(False, "train both stages again even when their results match these settings")
    folds: int = option(0, "walk-forward folds, each refitting both models at their full budget (0 = skip; "
                        "measured times in CodeLLM/README.md)")
    speed_lookbacks: str = option("30,60,120,250,500,1000",
                                  "lookbacks of the speed sweep, comma-separated ('' = skip)")
    speed_batch_size: int = option(16, "windows per timed batch: at lookback 1000 one attention step "
                                       "takes seconds")
    threads: int = option(0, "CPU threads for PyTorch and TensorFlow (0 = one per core)")
    targets: str = option("price", "targets compared, comma-separated from price, volatility, direction; "
                          "price always is (it is the headline), each other one trains both stages into "
                          "'<memory-out>-<target>' and '<code-out>-<target>'")


def parse_lookbacks(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise ValueError(f"--speed-lookbacks takes comma-separated whole numbers like 30,60,120, "
                         f"got {text!r}") from error
    if any(value < 1 for value in values):
        raise ValueError(f"--speed-lookbacks must all be at least 1, got {text!r}")
    return values


def parse_targets(text: str) -> list[str]:
    """The targets of `--targets`, price first (it is always compared)."""
    targets = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [target for target in targets if target not in TARGETS]
    if unknown:
        raise ValueError(f"--targets takes comma-separated names from {', '.join(TARGETS)}, got {text!r}")
    return ["price", *dict.fromkeys(target for target in targets if target != "price")]


def target_folder(out: str, target: str) -> str:
    """A stage's run folder for `target`: its own folder for price, a sibling '<out>-<target>' otherwise
    (not a subfolder: a price run replaces its whole folder)."""
    return out if target == "price" else f"{str(out).rstrip('/')}-{target}"


def stage_configs(config: CompareConfig, target: str = "price") -> tuple[Any, CodeConfig]:
    """(MemoryConfig, CodeConfig): each stage's own model defaults with the comparison's data
    settings, seed, threads, preset and run folder, forecasting `target`."""
    memory_cls, code_cls = stage_runner("lstm")[0], stage_runner("transformer")[0]
    data_settings = {field.name: getattr(config, field.name)
                     for field in dataclasses.fields(ForecastDataConfig) if field.name != "preset"}
    if target != "price":
        data_settings["target"] = target
    memory = preset_config(memory_cls, config.preset, **data_settings,
                           out=target_folder(config.memory_out, target))
    code = preset_config(code_cls, config.preset, **data_settings,
                         out=target_folder(config.code_out, target))
    if not config.preset:
        code.threads = config.threads  # a preset's threads (tiny: 1) win, as they did before
    return memory, code


def mismatch(run: Path, config: CompareConfig, needed: tuple[str, ...], target: str = "price") -> str | None:
    """Why the run in `run` cannot be compared under `config` for `target`, or None when it can."""
    missing = [name for name in ("metrics.json", "config.json", "predictions.csv", *needed)
               if not (run / name).exists()]
    if missing:
        return f"{run} has no {', '.join(missing)}"
    saved = read_json(run / "config.json")
    if not isinstance(saved, dict):
        return f"{run}/config.json holds a {type(saved).__name__}, not a run's options"
    for key in DATA_KEYS:
        if saved.get(key) != getattr(config, key):
            return (f"{run} was trained with {key}={saved.get(key)!r}, "
                    f"the comparison uses {getattr(config, key)!r}")
    if saved.get("target", "price") != target:
        return f"{run} forecasts {saved.get('target', 'price')}, the comparison wants {target}"
    if "forecasts" not in read_json(run / "metrics.json"):
        return f"{run}/metrics.json has no as-trained / guarded forecasts"
    return None


def run_metrics(path: Path, target: str = "price") -> dict[str, Any]:
    """A stage's metrics.json, checked to hold what the comparison reads: a damaged file raises one
    ValueError naming it and what is wrong, instead of a KeyError deep in the table."""
    metrics = read_json(path)
    problem = _metrics_problem(metrics, target)
    if problem:
        raise ValueError(f"{path} is damaged: {problem}; re-run the comparison with --retrain")
    return metrics


def _metrics_problem(metrics: Any, target: str) -> str | None:
    if not isinstance(metrics, dict):
        return f"it holds a {type(metrics).__name__}, not the object a run writes"
    kinds = {"forecasts": dict, "guard": dict, "scored": dict, "baselines": dict, "features": list,
             "lookback": int, "horizon": int, "series": str}
    for key, kind in kinds.items():
        if not isinstance(metrics.get(key), kind):
            return f"{key!r} must be a {kind.__name__}, got {metrics.get(key)!r:.60}"
    forecasts = ("as_trained", "guarded", *(("naive", "drift", "ar", "moving_average", "linear")
                                            if target == "price" else ()))
    for name in forecasts:
        if not isinstance(metrics["forecasts"].get(name), dict):
            return f"'forecasts' has no scores for {name!r}"
    if not all(isinstance(scores, dict) for scores in metrics["baselines"].values()):
        return "'baselines' must map each baseline to its scores"
    if not isinstance(metrics["guard"].get("kept"), bool):
        return "'guard' has no verdict ('kept': true or false)"
    return None


def ensure_runs(config: CompareConfig, target: str = "price") -> dict[str, dict[str, Any]]:
    """metrics.json of both stages for `target`, training a stage first (its `run(config)`) when it is
    missing or was made differently."""
    memory_config, code_config = stage_configs(config, target)
    stages = {label: (stage_config, stage_runner(model)[1], (weights_file(model), "scalers.json"))
              for label, model, stage_config in (("LSTM", "lstm", memory_config),
                                                 ("Transformer", "transformer", code_config))}
    metrics = {}
    for name, (stage_config, run_stage, needed) in stages.items():
        run = Path(stage_config.out)
        reason = "--retrain" if config.retrain else mismatch(run, config, needed, target)
        if reason:
            print(f"\n== training the {name}{'' if target == 'price' else f' for {target}'} ({reason}) ==")
            run_stage(stage_config)
        metrics[name] = run_metrics(run / "metrics.json", target)
    return metrics


def check_same_targets(memory_run: Path, code_run: Path, columns: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """Both runs' 1-day predictions (each with the forecasts `columns` besides the network's), after
    checking that they forecast the same dates and prices."""
    lstm, transformer = (report.first_step(memory_run / "predictions.csv", columns),
                         report.first_step(code_run / "predictions.csv", columns))
    if not (lstm["date"].equals(transformer["date"])
            and np.allclose(lstm["actual"], transformer["actual"], rtol=1e-12)):
        raise ValueError(f"{memory_run} and {code_run} were scored on different test targets: "
                         "rerun with --retrain")
    return lstm, transformer


COST_KEYS = ("params", "train_seconds", "seconds_per_epoch", "inference_ms_per_window", "framework",
             "epochs_run", "best_epoch")


def network_rows(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each network as trained (with its cost) and as guarded (with the guard's verdict)."""
    rows = {}
    for name in ("LSTM", "Transformer"):
        run = metrics[name]
        cost = {key: run.get(key) for key in COST_KEYS}
        rows[f"{name} as trained"] = {**run["forecasts"]["as_trained"], **cost}
        rows[f"{name} guarded"] = {**run["forecasts"]["guarded"], "guard_kept": run["guard"]["kept"],
                                   "guard_pvalue": run["guard"]["dm_pvalue_validation"]}
    return rows


def table_rows(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One row per forecast on the shared test split: each network as trained and as guarded (with
    its cost and the guard's verdict), then the baselines."""
    rows = network_rows(metrics)
    code = metrics["Transformer"]
    n_inputs = code["lookback"] * len(code["features"])
    costs = {"naive": 0, "drift": code["horizon"], "ar": None, "moving_average": 0,
             "linear": n_inputs * code["horizon"] + code["horizon"]}
    for name, params in costs.items():
        rows[name] = {**code["forecasts"][name], "params": params,
                      "framework": "scikit-learn (ridge)" if name == "linear" else "numpy"}
    return rows


def target_rows(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`table_rows` for a volatility or direction target: both networks as trained and guarded, then
    that target's baselines (common.forecast.target_baselines)."""
    rows = network_rows(metrics)
    code = metrics["Transformer"]
    n_inputs = code["lookback"] * len(code["features"])
    costs = {"last": 0, "ewma": 1, "har": 4, "base_rate": 1, "logistic": n_inputs + 1}
    for name, values in code["baselines"].items():
        rows[name] = {**values, "params": costs.get(name),
                      "framework": "scikit-learn (logistic)" if name == "logistic" else "numpy"}
    return rows


def compare_target(config: CompareConfig, target: str, out: Path) -> dict[str, Any]:
    """Train what is missing for a volatility or direction target, check both stages forecast the same
    windows, and return its part of comparison.json (plus volatility.png or reliability.png)."""
    from common.forecast.plots import plot_reliability, plot_volatility_forecasts

    metrics = ensure_runs(config, target)
    memory_config, code_config = stage_configs(config, target)
    lstm, transformer = check_same_targets(Path(memory_config.out), Path(code_config.out),
                                           tuple(metrics["Transformer"]["baselines"]))
    guards = {name: metrics[name]["guard"] for name in ("LSTM", "Transformer")}
    code = metrics["Transformer"]
    actual = lstm["actual"].to_numpy()
    shown = {"LSTM": lstm["as_trained"].to_numpy(), "Transformer": transformer["as_trained"].to_numpy(),
             **{name: lstm[name].to_numpy() for name in code["baselines"]}}
    title = f"{code['series']}: networks as trained beside the baselines, test split"
    if target == "volatility":
        plot_volatility_forecasts(pd.to_datetime(lstm["date"]).to_numpy(), actual, shown,
                                  out / "volatility.png", title=f"{title} (next-week realised volatility)")
    else:
        plot_reliability(actual, shown, out / "reliability.png", title=f"{title} (P(up))")
    return {"table": target_rows(metrics), "guards": guards, "scored": code["scored"],
            "target_days": code.get("target_days"),
            "runs": {"LSTM": memory_config.out, "Transformer": code_config.out}}


def load_models(config: CompareConfig) -> dict[str, tuple[Any, Any]]:
    """{"LSTM": (forecaster, data), "Transformer": (forecaster, data)} reloaded from the run folders."""
    lstm, memory_data, *_ = load_run(forecast_stage("lstm"), config.memory_out)
    transformer, code_data, *_ = load_run(forecast_stage("transformer"), config.code_out)
    return {"LSTM": (lstm, memory_data), "Transformer": (transformer, code_data)}


def write_markdown(result: dict[str, Any], out: Path) -> None:
    settings = result["settings"]
    scored = result["scored"]
    parts = [
        "# LSTM (MemoryLLM) vs Transformer (CodeLLM)",
        f"Series {result['series']} ({result['data']['first_date']} .. {result['data']['last_date']}), "
        f"lookback {settings['lookback']}, horizon {settings['horizon']}; test targets {scored['first']} .. "
        f"{scored['last']} ({scored['windows']} windows), identical for every row. Metrics in price space "
        "pooled over horizon steps, except 'R² returns' (out-of-sample R² of the log returns against "
        "'no change'). 'as trained' is the best epoch on the validation split's first half; 'guarded' keeps "
        "it only if a Diebold-Mariano test beats naive at 5 % on the second half, else it is naive. 'DM p': "
        "one-sided Diebold-Mariano p-value against naive on the test split. Inference: each network's "
        "forward pass over the test windows, timed here the same way.",
        "## Test split\n\n" + report.markdown_table(result["table"]),
        "Plots: [predictions.png](predictions.png), [cumulative_error.png](cumulative_error.png), "
        "[interpretability.png](interpretability.png), [speed_vs_lookback.png](speed_vs_lookback.png).",
    ]
    for target, part in result.get("targets", {}).items():
        scored = part["scored"]
        parts.append(f"## {target.capitalize()} (test {scored['first']} .. {scored['last']}, "
                     f"{scored['windows']} windows)\n\n{report.TARGET_NOTES[target]}\n\n"
                     + report.markdown_table(part["table"], report.TARGET_COLUMNS[target])
                     + f"\n\nPlot: [{report.TARGET_PLOTS[target]}]({report.TARGET_PLOTS[target]}).")
    if result.get("walk_forward"):
        parts.append(f"## Walk-forward ({len(result['walk_forward']['folds'])} expanding-window folds, "
                     "each model refitted at its full budget)\n\n"
                     + report.walk_forward_markdown(result["walk_forward"]))
    if result.get("speed"):
        speed = result["speed"]
        parts.append(f"## Speed vs lookback (same framework: {speed['framework']}, "
                     f"{speed['threads']} threads; Transformer {speed['Transformer']['params']:,} params, "
                     f"LSTM {speed['LSTM']['params']:,} params, random windows)\n\n"
                     + report.speed_markdown(speed))
    parts.append(f"Comparison written in {result['seconds']:.0f} s.")
    write_text(out / "comparison.md", "\n\n".join(parts) + "\n")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    config = parse_config(CompareConfig, argv, description=__doc__)
    return run(config)


def run(config: CompareConfig) -> dict[str, Any]:
    """Train what is missing, then compare both stages' runs; returns comparison.json's content."""
    lookbacks = parse_lookbacks(config.speed_lookbacks)
    parse_targets(config.targets)  # a bad list fails before any training
    require_at_least(config, 0, "folds", "threads")
    check_separate_folders(config)
    # The comparison is a run transaction like a stage's: a failed comparison leaves the last one intact.
    with (runtime.torch_settings(config.threads), runtime.tensorflow_settings(config.threads, inter_op=1),
          run_transaction(config.out, stage="comparison") as staging):
        return compare(config, lookbacks, staging)


def check_separate_folders(config: CompareConfig) -> None:
    """Refuse an --out that is (or holds, or lies in) a run folder the comparison may train into:
    each run replaces its own folder as a whole."""
    out = Path(config.out).resolve()
    for target in parse_targets(config.targets):
        for name, folder in (("--memory-out", config.memory_out), ("--code-out", config.code_out)):
            run = Path(target_folder(folder, target)).resolve()
            if out == run or out in run.parents or run in out.parents:
                raise ValueError(f"--out {config.out} overlaps the run folder {run} ({name}): the comparison "
                                 "and each stage need folders of their own; choose another --out")


def compare(config: CompareConfig, lookbacks: list[int], out: Path) -> dict[str, Any]:
    """Train what is missing, compare both stages, and write the comparison into `out`."""
    started = time.perf_counter()

    metrics = ensure_runs(config)
    lstm_predictions, transformer_predictions = check_same_targets(Path(config.memory_out),
                                                                   Path(config.code_out), ("naive", "drift"))
    code = metrics["Transformer"]
    result: dict[str, Any] = {
        "settings": {key: getattr(config, key) for key in (*DATA_KEYS, "seed")},
        "series": code["series"], "data": code["data"], "split": code["split"], "scored": code["scored"],
        "table": table_rows(metrics),
        "guards": {name: metrics[name]["guard"] for name in ("LSTM", "Transformer")},
        "runs": {"LSTM": config.memory_out, "Transformer": config.code_out},
    }
    report.plot_predictions(lstm_predictions, transformer_predictions, result["guards"], out, code["series"])
    models = load_models(config)
    for name, (forecaster, data) in models.items():
        result["table"][f"{name} as trained"]["inference_ms_per_window"] = time_inference(
            forecaster, data.splits["test"].inputs)
    lags = {}
    for forecaster, data in models.values():
        lags.update(forecaster.lag_profiles(data.splits["test"].inputs))
    note = "; ".join(f"{name}: guard {'kept it' if guard['kept'] else 'fell back to naive'}"
                     for name, guard in result["guards"].items())
    plot_lag_profiles(lags, out / "interpretability.png",
                      title=f"{code['series']}: where each as-trained network looks (all test windows)",
                      note=note)
    result["interpretability"] = {"lags": list(range(-code["lookback"] + 1, 1)), **lags}

    for target in parse_targets(config.targets)[1:]:
        result.setdefault("targets", {})[target] = compare_target(config, target, out)
    if lookbacks:
        from CodeLLM.speed import plot_speed, speed_vs_lookback

        print(f"\n== speed vs lookback {lookbacks} (PyTorch, both architectures) ==")
        result["speed"] = speed_vs_lookback(stage_configs(config)[1], lookbacks,
                                            batch_size=config.speed_batch_size)
        plot_speed(result["speed"], out / "speed_vs_lookback.png")
    if config.folds > 0:
        memory_config, code_config = stage_configs(config)
        print(f"\n== walk-forward: {config.folds} folds, both models refitted at their full budget "
              "on each ==")
        stages = [(forecast_stage("lstm"), memory_config), (forecast_stage("transformer"), code_config)]
        result["walk_forward"] = walk_forward(stages, folds=config.folds)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["threads"] = {"torch": torch.get_num_threads(), "tensorflow_intra_op": config.threads}
    write_json(out / "comparison.json", result)
    write_markdown(result, out)
    print("\n" + report.markdown_table(result["table"]))
    for target, part in result.get("targets", {}).items():
        print(f"\n{target}:\n" + report.markdown_table(part["table"], report.TARGET_COLUMNS[target]))
    if result.get("walk_forward"):
        print("\n" + report.walk_forward_markdown(result["walk_forward"]))
    print(f"\ncomparison written to {config.out} in {result['seconds']:.0f} s")
    return result


if __name__ == "__main__":
    run_cli(main)
