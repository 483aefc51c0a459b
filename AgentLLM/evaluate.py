"""Re-score a saved AgentLLM run from its positions.csv alone, at any cost: nothing is retrained, and
nothing but that one CSV (the prices and every policy's position per day) is read.

    python AgentLLM/evaluate.py --out outputs/AgentLLM                   # the run's own cost: same numbers
    python AgentLLM/evaluate.py --out outputs/AgentLLM --cost-bps 25     # what survives higher costs

Writes `rescored/cost_<bps>bps.json` inside the run folder (the run's own files are never touched)
and prints the test table. At the run's own cost the numbers equal metrics.json's `policies`, which
tests/test_agentllm.py checks: the CSV is enough to recompute every return, cost and metric.

It also judges the guard again, at this cost and by the current rule (AgentLLM/scoring.py:
guard_verdict), on the same guard half: would the agent as trained be deployed? The `guarded`
column of positions.csv stays what the run itself decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from AgentLLM.market import SPLITS, validation_halves
from AgentLLM.scoring import guard_verdict, score_policies
from common.config import option, parse_config, run_cli
from common.paths import output_dir
from common.runs import read_json, write_json

PRICE_COLUMNS = ("date", "split", "open", "close")


@dataclass
class EvaluateConfig:
    out: str = option(str(output_dir("AgentLLM")), "the run folder to re-score (holds positions.csv)")
    cost_bps: float | None = option(None, "cost per side in basis points (default: the run's own)")
    bootstrap_reps: int | None = option(None, "bootstrap resamples (default: the run's own)")
    preset: str = option("", "unused; accepted so that every script takes --preset")


def read_positions(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: train first with python AgentLLM/train.py --out "
                                f"{path.parent}")
    frame = pd.read_csv(path)
    missing = [name for name in PRICE_COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(f"{path} has no {', '.join(missing)} column: it was not written by "
                         "AgentLLM/train.py")
    prices = frame[["open", "close"]].to_numpy(dtype=float)
    if not (np.isfinite(prices).all() and (prices > 0).all()):
        raise ValueError(f"{path} holds missing or non-positive prices: the file is damaged; retrain")
    return frame


def spans_of(frame: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Each split's decision rows (first, last + 1) in the frame, which must be contiguous and ordered."""
    spans = {}
    for split in SPLITS:
        rows = np.flatnonzero(frame["split"].to_numpy() == split)
        if len(rows) == 0 or not np.array_equal(rows, np.arange(rows[0], rows[-1] + 1)):
            raise ValueError(f"the {split} rows of positions.csv are missing or not contiguous: the file is "
                             "damaged; retrain")
        spans[split] = (int(rows[0]), int(rows[-1]) + 1)
    return spans


def rescore(out: str | Path, cost_bps: float | None = None, reps: int | None = None) -> dict[str, Any]:
    """metrics.json's `policies` block recomputed from positions.csv (every policy, every split)."""
    out = Path(out)
    saved = read_json(out / "config.json") if (out / "config.json").is_file() else {}
    cost_bps = float(saved.get("cost_bps", 10.0) if cost_bps is None else cost_bps)
    reps = int(saved.get("bootstrap_reps", 1000) if reps is None else reps)
    seed = int(saved.get("seed", 0))
    frame = read_positions(out / "positions.csv")
    names = [column for column in frame.columns if column not in PRICE_COLUMNS]
    positions = {name: frame[name].to_numpy(dtype=float) for name in names}
    spans = spans_of(frame)
    open_, close = frame["open"].to_numpy(float), frame["close"].to_numpy(float)
    table = score_policies(open_, close, positions, spans, cost_bps, seed=seed, reps=reps)
    guard_half = validation_halves(*spans["validation"])["guard"]  # as the run cut validation
    verdict = guard_verdict(open_, close, positions["as_trained"], positions["buy_and_hold"], guard_half,
                            cost_bps, float(saved.get("guard_alpha", 0.05)), reps, seed)
    return {"cost_bps": cost_bps, "bootstrap_reps": reps, "policies": table, "guard": verdict}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    config = parse_config(EvaluateConfig, argv, description=__doc__)
    if config.cost_bps is not None and not 0 <= config.cost_bps < 1e4:
        raise ValueError(f"--cost-bps must be in [0, 10000), got {config.cost_bps}")
    result = rescore(config.out, config.cost_bps, config.bootstrap_reps)
    path = Path(config.out) / "rescored" / f"cost_{result['cost_bps']:g}bps.json"
    path.parent.mkdir(exist_ok=True)
    write_json(path, result)
    print(f"test split at {result['cost_bps']:g} bps per side:")
    print(f"{'policy':<14}{'Sharpe':>8}{'total return':>14}{'costs paid':>12}{'break-even vs B&H':>19}")
    for name, splits in result["policies"].items():
        test = splits["test"]
        print(f"{name:<14}{test['sharpe']:>8.2f}{test['total_return']:>14.1%}{test['costs_paid']:>12.2%}"
              f"{str(test['break_even_bps']['buy_and_hold']):>19}")
    verdict = result["guard"]
    print(f"guard at this cost: {'keeps the agent' if verdict['kept'] else 'falls back to buy-and-hold'} "
          f"(p = {verdict['p_value_vs_buy_and_hold']:.3f} against buy-and-hold, "
          f"{verdict['p_value_vs_cash']:.3f} against cash)")
    print(f"written to {path}")
    return result


if __name__ == "__main__":
    run_cli(main)
