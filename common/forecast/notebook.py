"""What the Stage 3 and Stage 4 notebooks (notebooks/stage3_memoryllm.py, stage4_codellm.py) show of a
price run: its metrics.json as a table beside the baselines, the sentence that reads it, the peaks of its
lag_profiles.json, and two runs side by side. Tables are pandas DataFrames and sentences Markdown text,
so this module needs no notebook to run (`display(...)` is the notebook's)."""

from __future__ import annotations

from typing import Any

import pandas as pd

# The columns a notebook shows of each forecast (metrics.json's `forecasts`; common.forecast.report).
TABLE_COLUMNS = ["rmse", "mae", "rmse_vs_naive", "directional_accuracy", "dm_pvalue"]


def describe_run(metrics: dict[str, Any], seconds: float) -> str:
    """One line: the network's size, the epochs it trained, the time and the test days it was scored on."""
    scored = metrics["scored"]
    return (f"{metrics['params']:,} parameters, {metrics['epochs_run']} epochs "
            f"(best: {metrics['best_epoch']}), {seconds:.0f} s; {scored['windows']} test windows from "
            f"{scored['first']} to {scored['last']}")


def metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """The network (as trained and behind the guard) beside every baseline on the test windows, best
    RMSE first; one row per forecast."""
    return pd.DataFrame(metrics["forecasts"]).T[TABLE_COLUMNS].astype(float).sort_values("rmse")


def headline(metrics: dict[str, Any], network: str) -> str:
    """Markdown: the network's test RMSE against naive's, the best forecast without a network, and what
    the guard decided. `network` names it in the sentence ("the LSTM")."""
    table = metrics_table(metrics)
    as_trained = metrics["forecasts"]["as_trained"]
    best_baseline = table.drop(index=["as_trained", "guarded"]).index[0]
    kept = metrics["guard"]["kept"]
    return (
        f"As trained, {network}'s test RMSE is **{as_trained['rmse']:.2f}** dollars, "
        f"**{as_trained['rmse_vs_naive']:.3f}×** naive's (below 1 beats naive). The best forecast without a "
        f"network is **{best_baseline}** at {table.loc[best_baseline, 'rmse_vs_naive']:.3f}× naive. "
        f"The guard **{'kept' if kept else 'did not keep'}** the network, so the stage's forecast "
        f"is {network if kept else 'naive'} (RMSE {metrics['test']['rmse']:.2f})."
    )


def lag_profile_peaks(profiles: dict[str, list[float]]) -> pd.DataFrame:
    """Where each profile of lag_profiles.json peaks. A profile is the share of attention (or saliency)
    per day of the window, oldest first, the last close last; one row per profile."""
    return pd.DataFrame({
        name: {"peak (days before the last close)": len(shares) - 1 - shares.index(max(shares)),
               "share at the peak": max(shares), "uniform share": 1 / len(shares)}
        for name, shares in profiles.items()
    }).T


def compare_runs(metrics: dict[str, Any], metrics_changed: dict[str, Any], changed: dict[str, Any]
                 ) -> pd.DataFrame:
    """RMSE and RMSE / naive of every forecast in two runs side by side: "as above" and the run with the
    options `changed`; one row per forecast."""
    label = ", ".join(f"{key}={value}" for key, value in changed.items())
    return pd.DataFrame({
        "as above": metrics_table(metrics)[["rmse", "rmse_vs_naive"]].stack(),
        label: metrics_table(metrics_changed)[["rmse", "rmse_vs_naive"]].stack(),
    }).unstack()
