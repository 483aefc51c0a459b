"""How the learning rates of train.py were chosen: validation macro-F1 for a few rates, test never read.

    python LLMind/sweep.py                                  # the fine-tune's rate, then the from-scratch one
    python LLMind/sweep.py --rates 3e-5,1e-4,3e-4 --scratch-rates 1e-4,3e-4,1e-3
    python LLMind/sweep.py --rates "" -- --scratch-budget converge   # the same network from scratch,
                                              # each rate until validation stops improving (slow)

(The small from-scratch networks need no sweep: train.py tries every rate of --small-rates and
--bag-rates and keeps the one validation likes best.)

Every other option is train.py's default (pass them after `--`, e.g. `-- --epochs 3`). One frozen pass
serves every fine-tune; each rate then trains with the same seed, split and budget as train.py would.
"""
# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

import argparse
import math
from typing import Any

from common.config import parse_config, run_cli


def _rates(text: str) -> list[float]:
    try:
        return [float(rate) for rate in text.split(",") if rate.strip()]
    except ValueError:
        raise ValueError(f"rates are comma-separated numbers such as 3e-5,1e-4, got {text!r}") from None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="3e-5,1e-4,3e-4",
                        help="fine-tune rates to try (default: %(default)s)")
    parser.add_argument("--scratch-rates", default="1e-4,3e-4,1e-3",
                        help="from-scratch rates to try, empty to skip (default: %(default)s)")
    parser.add_argument("train_options", nargs="*", help="train.py options, after --")
    args = parser.parse_args(argv)
    from LLMind import pretrained
    from LLMind.config import TrainConfig
    from LLMind.experiment import Experiment
    from LLMind.finetune import train_classifier
    from LLMind.train import load_task

    config = parse_config(TrainConfig, args.train_options)
    config.validate()
    data, _, classes = load_task(config)
    results: dict[str, Any] = {"fine_tuned": {}, "from_scratch": {}}
    with runtime.torch_settings(config.threads):
        experiment = Experiment(config, data, {}, classes, out=None)  # type: ignore[arg-type]
        experiment.folder = pretrained.model_dir()
        experiment.tokenizer = pretrained.load_tokenizer(experiment.folder)
        experiment.model = pretrained.pretrained_classifier(len(classes), config.head_dropout,
                                                            seed=config.seed)
        experiment.num_layers = experiment.model.bert.config.num_layers
        experiment.start_layer = experiment.num_layers - config.trainable_layers
        experiment.frozen_features()
        y, steps = experiment.y, 0
        for rate in _rates(args.rates):
            model = pretrained.pretrained_classifier(len(classes), config.head_dropout, verify=False,
                                                     seed=config.seed)
            settings = experiment.settings(experiment.start_layer, rate, config.head_learning_rate)
            result = train_classifier(model, experiment.items["train"], y["train"],
                                      experiment.items["validation"], y["validation"], settings,
                                      log=lambda _: None)
            steps = result.steps
            results["fine_tuned"][rate] = result.best_val_macro_f1
            experiment.log(f"fine-tune rate {rate:g}: validation macro-F1 {result.best_val_macro_f1:.3f} "
                           f"(best epoch {result.best_epoch})")
        converge = config.scratch_budget == "converge"  # epochs until validation stops improving
        if config.scratch_budget == "compute":
            steps = math.ceil(steps * config.trainable_layers / experiment.num_layers)
        for rate in _rates(args.scratch_rates):
            model = pretrained.random_classifier(len(classes), config.head_dropout, seed=config.seed)
            settings = experiment.settings(0, rate, rate, max_steps=0 if converge else steps,
                                           until_converged=converge)
            result = train_classifier(model, experiment.ids["train"], y["train"],
                                      experiment.ids["validation"], y["validation"], settings,
                                      log=lambda _: None)
            results["from_scratch"][rate] = result.best_val_macro_f1
            experiment.log(f"from-scratch rate {rate:g} ({result.steps} steps): validation macro-F1 "
                           f"{result.best_val_macro_f1:.3f} (best epoch {result.best_epoch})")
    return results


if __name__ == "__main__":
    run_cli(main)
