"""Which past days drive the LSTM's forecast: gradient saliency over the lags of the window
(`MemoryLLM.forecaster.lag_saliency`, input × gradient), redrawn for any saved run.

    python MemoryLLM/interpret.py --out outputs/MemoryLLM    # writes saliency.png and saliency.json
"""

from __future__ import annotations

from common import runtime

if __name__ == "__main__":  # as a script: TensorFlow's environment, read as it loads (imported, nothing)
    runtime.prepare_environment()

from pathlib import Path  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Reload a trained run and write its saliency over lags (test windows) as JSON and a plot.
    (train.py already writes interpretability.png; this redraws it for any run folder.)"""
    import argparse

    from common.forecast.harness import load_run
    from common.forecast.plots import plot_lag_profiles
    from common.paths import output_dir
    from common.runs import write_json
    from MemoryLLM.forecaster import lag_saliency
    from MemoryLLM.train import STAGE

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(output_dir("MemoryLLM")), help="the training run's folder")
    parser.add_argument("--true-lag", type=int, default=None,
                        help="mark a planted lag on the plot (synthetic series)")
    args = parser.parse_args(argv)
    forecaster, data, _, _ = load_run(STAGE, args.out)
    saliency = lag_saliency(forecaster.model, data.splits["test"].inputs)
    out = Path(args.out)
    plot_lag_profiles({"LSTM |input x gradient|": saliency}, out / "saliency.png",
                      title="MemoryLLM: which past days drive the as-trained LSTM's forecast (test windows)",
                      true_lag=args.true_lag)
    result = {"lags": list(range(-data.lookback + 1, 1)), "saliency": saliency.tolist()}
    write_json(out / "saliency.json", result)
    print(f"wrote {out / 'saliency.png'}; last 5 days carry {saliency[-5:].sum():.0%} of the saliency")
    return result


if __name__ == "__main__":
    from common.config import run_cli

    run_cli(main)
