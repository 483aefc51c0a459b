"""Does the agent read a signal planted in text? Synthetic prices whose next-day return follows the
sentiment of the day's sentence, a real human-rated sentence from the VADER sets (LLMind/prepare_data.py):

    s_t in {-1, 0, +1}: the sentence's human label (mean rating < -0.5, within +-0.5, > +0.5)
    r_{t+1} = beta * noise * s_t + e_{t+1},    e ~ N(0, noise²)

so the sentence of day t, known at its close, tells the direction of day t+1. Open is the previous close
(as in common/forecast/synthetic.py), so a position decided at the close of day t and filled at the next
open earns exactly r_{t+1}. The oracle knows s_t and holds it: long on a positive sentence, short on a
negative one, flat on a neutral one. Prices alone carry nothing: without the text an agent can only lose
its costs.

Sentences: the four VADER sets without the NYT sentences Stage 5's readers learned from (the train and
validation splits of LLMind's default split), each distinct sentence once, shuffled with the seed and cut
in two halves: the first `train_share` of the days draw from one half, the later days (validation, test)
from the other, each sentence on one day at most. So a test day's sentence was never seen in training,
by the agent or by the reader.

Controls (no edge allowed):
- same_day: the sentence describes the return of its own day t (r_t = beta * noise * s_t + e_t), already
  in the price when it is read;
- shuffled: the returns are planted as above, then the sentences are shuffled across days (within each
  half), so the text of day t says nothing about day t+1.

    python benchmarks/text_signal.py --calibrate                   # oracle Sharpe over betas and seeds
    python benchmarks/text_signal.py --algorithms ppo --seeds 1 --timesteps 5000   # quick look
    python benchmarks/text_signal.py                               # PPO, A2C, DQN x 3 seeds, 20k steps

Writes outputs/bench/text_signal/: results.json, results.md, series/ (the CSVs the agent read) and runs/
(each AgentLLM run folder).
"""
# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

import functools
import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from AgentLLM.market import MarketSpec, prepare_market
from AgentLLM.scoring import score_span
from common.config import option, parse_config, run_cli
from common.forecast.synthetic import RANGE_SCALE, START_PRICE, VOLUME_MEDIAN, VOLUME_SIGMA
from common.paths import output_dir
from common.runs import write_json, write_text

VARIANTS = {"planted": {}, "same_day": {"same_day": True}, "shuffled": {"shuffled": True}}
SIGN = {"negative": -1, "neutral": 0, "positive": 1}
PRICE_COLUMNS = ["Open", "High", "Low", "Close", "Volume"]
TRAIN_HALF = "train_half.csv"  # the sentences a --reader pool fine-tune learned from, beside its run folder


# ------------------------------------------------------------------------------------------ the series

@functools.lru_cache(maxsize=1)
def sentence_pool() -> tuple[tuple[str, ...], np.ndarray]:
    """(sentences, s) of the VADER sentences no Stage 5 reader trained on, each distinct text once (its
    first label), s in {-1, 0, +1}, with as many negative as positive ones (a random subset of the more
    common side is kept): the planted part of the return then has no drift to hand buy-and-hold."""
    from AgentLLM.text import training_sentences
    from LLMind.prepare_data import load_vader_sets

    nyt, _, splits = training_sentences()
    seen = {nyt.texts[i].strip() for i in np.concatenate([splits["train"], splits["validation"]])}
    texts: dict[str, int] = {}
    for data in load_vader_sets().values():  # a text that repeats (within or across sets) is seen as one
        for text, label in zip(data.texts, data.labels):
            if text.strip() and text.strip() not in seen:
                texts.setdefault(text.strip(), SIGN[label])
    sentences, labels = np.array(list(texts), dtype=object), np.array(list(texts.values()))
    negative, positive = np.flatnonzero(labels < 0), np.flatnonzero(labels > 0)
    common, rare = (negative, positive) if len(negative) > len(positive) else (positive, negative)
    dropped = np.random.default_rng(0).choice(common, len(common) - len(rare), replace=False)
    kept = np.setdiff1d(np.arange(len(labels)), dropped)  # sorted: the pool's order stays the sets' order
    return tuple(sentences[kept].tolist()), labels[kept]


def draw_day_sentences(n_days: int, seed: int, train_share: float = 0.70,
                       pool: tuple[tuple[str, ...], np.ndarray] | None = None
                       ) -> tuple[list[str], np.ndarray, int]:
    """(texts, s, border): one distinct sentence per day; days [0, border) from one half of the pool,
    days [border, n_days) from the other."""
    sentences, labels = pool if pool is not None else sentence_pool()
    rng = np.random.default_rng([seed, 0])
    order = rng.permutation(len(sentences))
    halves = order[: len(order) // 2], order[len(order) // 2:]
    border = int(round(n_days * train_share))
    days = []
    for half, count in zip(halves, (border, n_days - border)):
        if count > len(half):
            raise ValueError(f"{count} days need {count} distinct sentences, but a half of the pool holds "
                             f"{len(half)}: use fewer days")
        days.append(rng.choice(half, size=count, replace=False))
    chosen = np.concatenate(days)
    return [sentences[i] for i in chosen], labels[chosen].astype(float), border


def prices_from_sentiment(sentiment: np.ndarray, beta: float, noise: float = 0.01, seed: int = 0,
                          same_day: bool = False, start: str = "2010-01-04") -> pd.DataFrame:
    """OHLCV of len(sentiment) business days whose log close-to-close return is
    r_t = beta * noise * s_{t-1} + e_t (same_day: s_t), e_t ~ N(0, noise²) drawn with `seed` alone, so
    the noise does not change with the sentences. Open is the previous close; day 0 opens at START_PRICE."""
    n_days = len(sentiment)
    rng = np.random.default_rng([seed, 1])
    shocks = rng.normal(0.0, noise, n_days)
    planted = np.asarray(sentiment, dtype=float) if same_day else np.concatenate([[0.0], sentiment[:-1]])
    returns = beta * noise * planted + shocks  # (n_days,) r_t
    close = START_PRICE * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[START_PRICE], close[:-1]])
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, RANGE_SCALE, n_days)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, RANGE_SCALE, n_days)))
    volume = (VOLUME_MEDIAN * np.exp(rng.normal(0.0, VOLUME_SIGMA, n_days))).round()
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume},
                        index=pd.bdate_range(start=start, periods=n_days, name="Date"))


def text_signal_series(n_days: int = 2500, beta: float = 0.3, seed: int = 0, same_day: bool = False,
                       shuffled: bool = False, noise: float = 0.01, train_share: float = 0.70
                       ) -> pd.DataFrame:
    """Prices (Open, High, Low, Close, Volume) plus `text`, the day's sentence, and `sentiment`, its human
    label s_t in {-1, 0, +1} (what the oracle reads; leave it out of what the agent sees). attrs["border"]:
    the first day drawing from the second half of the sentences."""
    texts, sentiment, border = draw_day_sentences(n_days, seed, train_share)
    prices = prices_from_sentiment(sentiment, beta, noise, seed, same_day)
    if shuffled:  # after the returns: the shown sentence no longer tells the next day
        rng = np.random.default_rng([seed, 2])
        order = np.concatenate([rng.permutation(border), border + rng.permutation(n_days - border)])
        texts, sentiment = [texts[i] for i in order], sentiment[order]
    frame = prices.assign(text=texts, sentiment=sentiment)
    frame.attrs["border"] = border
    return frame


# ------------------------------------------------------------------------------------------ yardsticks

def rule_scores(frame: pd.DataFrame, positions: np.ndarray, spec: MarketSpec, cost_bps: float
                ) -> dict[str, dict[str, float]]:
    """A fixed rule's performance on every split of the agent's market (same days, fills and costs)."""
    market = prepare_market(frame[PRICE_COLUMNS], spec)
    return {name: score_span(market.open_, market.close, positions, market.span(name), cost_bps)[0]
            for name in ("train", "validation", "test")}


def calibrate(betas: list[float], seeds: list[int], n_days: int, cost_bps: float) -> dict[str, Any]:
    """The oracle's test Sharpe for each beta, over seeds (no model involved)."""
    table = {}
    for beta in betas:
        sharpes = []
        for seed in seeds:
            series = text_signal_series(n_days, beta, seed)
            oracle = rule_scores(series, series["sentiment"].to_numpy(), MarketSpec(), cost_bps)
            sharpes.append(oracle["test"]["sharpe"])
        table[f"{beta:g}"] = {"median": float(np.median(sharpes)), "min": float(np.min(sharpes)),
                              "max": float(np.max(sharpes)), "seeds": seeds}
        print(f"beta {beta:<5g} oracle test Sharpe at {cost_bps:g} bps: median {np.median(sharpes):+.2f} "
              f"[{np.min(sharpes):+.2f}, {np.max(sharpes):+.2f}] over seeds {seeds}")
    return table


# ------------------------------------------------------------------------------------------ the runs

@dataclass
class TextSignalConfig:
    beta: float = option(0.3, "strength of the planted signal in noise units (0.3: the oracle's test Sharpe "
                              "at 10 bps is about 2-3, see --calibrate)")
    days: int = option(2500, "business days per series (about 10 years; the test split is ~365 days)")
    noise: float = option(0.01, "daily standard deviation of the unplanted part of the return")
    series_seed: int = option(0, "seed of the sentences and the noise")
    variants: str = option("planted,same_day,shuffled", "comma-separated: planted, same_day, shuffled")
    algorithms: str = option("ppo,a2c,dqn", "the agent's algorithms (AgentLLM --algorithms, its default)")
    seeds: int = option(3, "agent seeds per algorithm")
    timesteps: int = option(20_000, "environment steps per agent")
    cost_bps: float = option(10.0, "cost per side in basis points")
    llmind_run: str = option(str(output_dir("LLMind")), "the LLMind run that reads the text (frozen model "
                                                        "when none is saved)")
    reader: str = option("llmind-run", "llmind-run: the reader of --llmind-run (Stage 5 on NYT, or frozen); "
                                       "pool: first fine-tune Stage 5 on the sentences of the train days' "
                                       "half of the pool (a reader of the series' own kind of text, as "
                                       "FinBERT is for finance), none of which a later day shows",
                         choices=["llmind-run", "pool"])
    reader_sentences: int = option(0, "--reader pool: a stratified subset of this many sentences of the "
                                      "train half (LLMind --max-sentences; 0: all of them, about 9,000, "
                                      "a 4-minute fine-tune on 2 cores)")
    calibrate: bool = option(False, "only print the oracle's test Sharpe over --betas and "
                                    "--calibration-seeds")
    betas: str = option("0.2,0.3,0.4,0.5,0.6", "--calibrate: the betas")
    calibration_seeds: str = option("0,1,2,3,4", "--calibrate: the series seeds")
    out: str = option(str(output_dir("bench", "text_signal")), "folder for results, series and runs")


def run_agent(config: TextSignalConfig, csv: Path, out: Path, with_text: bool) -> dict[str, Any]:
    from AgentLLM import train as agent_train

    agent_config = agent_train.AgentConfig(
        csv=str(csv), text_column="text" if with_text else None, llmind_run=config.llmind_run,
        algorithms=config.algorithms, seeds=config.seeds, timesteps=config.timesteps,
        eval_every=min(2_000, config.timesteps), cost_bps=config.cost_bps, out=str(out))
    started = time.perf_counter()
    metrics = agent_train.run(agent_config)
    test = {name: metrics["policies"][name]["test"]["sharpe"]
            for name in ("buy_and_hold", "supervised", "as_trained", "guarded")}
    return {"test_sharpe": test, "guard_kept": metrics["guard"]["kept"], "chosen": metrics["chosen"]["agent"],
            "agent_summary": metrics["agent_summary"],
            "importance_of_text": {name: value for name, value in metrics["importance"].items()
                                   if name.startswith("text_")},
            "text_channel": metrics["data"]["text_channel"],
            "seconds": round(time.perf_counter() - started, 1)}


def check_reader_never_saw(series: pd.DataFrame, train_half: Path) -> None:
    """Fail unless no sentence of a day after the border is among those the reader was fine-tuned on."""
    learned = set(pd.read_csv(train_half, dtype=str, keep_default_na=False)["text"].str.strip())
    seen = learned & set(series["text"].iloc[series.attrs["border"]:].str.strip())
    if seen:
        raise RuntimeError(f"the reader in {train_half.parent} was fine-tuned on {len(seen)} sentences that "
                           "validation or test days show: delete that folder and run again")


def run_variant(config: TextSignalConfig, variant: str) -> dict[str, Any]:
    from AgentLLM.text import CHANNEL_COLUMNS, load_reader, text_channel

    out = Path(config.out)
    series = text_signal_series(config.days, config.beta, config.series_seed, noise=config.noise,
                                **VARIANTS[variant])
    csv = out / "series" / f"{variant}.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    series.drop(columns="sentiment").to_csv(csv, index_label="Date")  # the agent never sees the label
    spec = MarketSpec()
    sentiment = series["sentiment"].to_numpy()
    if config.reader == "pool":
        check_reader_never_saw(series, Path(config.llmind_run).parent / TRAIN_HALF)
    oracle = rule_scores(series, sentiment, spec, config.cost_bps)
    # The reader's own rule: hold the sign of its most likely class (what the channel says without RL).
    started = time.perf_counter()
    channel, _ = text_channel(series["text"], load_reader(config.llmind_run))
    read_seconds = time.perf_counter() - started
    read_sign = channel[list(CHANNEL_COLUMNS)].to_numpy().argmax(axis=1) - 1.0
    test_start, test_stop = prepare_market(series[PRICE_COLUMNS], spec).span("test")
    row: dict[str, Any] = {
        "variant": variant, "oracle": oracle, "oracle_at_0_bps": rule_scores(series, sentiment, spec, 0.0),
        "reader_rule": rule_scores(series, read_sign, spec, config.cost_bps),
        "reader_rule_at_0_bps": rule_scores(series, read_sign, spec, 0.0),
        "reader_accuracy_on_days": float(np.mean(read_sign == sentiment)),
        "reader_accuracy_on_test_days": float(np.mean(read_sign[test_start:test_stop]
                                                      == sentiment[test_start:test_stop])),
        "label_shares": {str(int(k)): float(v) for k, v in
                         series["sentiment"].value_counts(normalize=True).sort_index().items()},
        "read_seconds": round(read_seconds, 1),
        "with_text": run_agent(config, csv, out / "runs" / f"{variant}_text", with_text=True),
    }
    if variant == "planted":
        row["without_text"] = run_agent(config, csv, out / "runs" / f"{variant}_prices_only", with_text=False)
    return row


def oracle_share(sharpe: float, oracle: float) -> str:
    """The share of the oracle's test Sharpe a policy captured; '-' where the oracle has nothing to share."""
    return f"{sharpe / oracle:.0%}" if oracle > 0 else "-"


def table(rows: list[dict[str, Any]], config: TextSignalConfig) -> str:
    header = ("| series | inputs | oracle (0 bps) | reader rule (0 bps) | buy & hold | supervised | "
              "as trained | share of the oracle | guarded | agents' median (min, max) | text importance | "
              "run s |\n|" + "---|" * 12 + "\n")
    lines = []
    for row in rows:
        for inputs in ("with_text", "without_text"):
            if inputs not in row:
                continue
            run = row[inputs]
            sharpe = run["test_sharpe"]
            medians = "; ".join(f"{name} {s['test_sharpe_median']:+.2f} ({s['test_sharpe_min']:+.2f}, "
                                f"{s['test_sharpe_max']:+.2f})" for name, s in run["agent_summary"].items())
            importance = ", ".join(f"{name[5:]} {value:.2f}"
                                   for name, value in run["importance_of_text"].items())
            share = oracle_share(sharpe["as_trained"], row["oracle"]["test"]["sharpe"])
            oracle, rule = (f"{row[name]['test']['sharpe']:+.2f} "
                            f"({row[name + '_at_0_bps']['test']['sharpe']:+.2f})"
                            for name in ("oracle", "reader_rule"))
            lines.append(f"| {row['variant']} | {'prices + text' if inputs == 'with_text' else 'prices'} | "
                         f"{oracle} | {rule} | "
                         f"{sharpe['buy_and_hold']:+.2f} | {sharpe['supervised']:+.2f} | "
                         f"{sharpe['as_trained']:+.2f} | {share} | {sharpe['guarded']:+.2f} | {medians} | "
                         f"{importance or '-'} | {run['seconds']:.0f} |")
    accuracy = ", ".join(f"{row['variant']} {row['reader_accuracy_on_test_days']:.1%}" for row in rows)
    return (f"Test Sharpe at {config.cost_bps:g} bps per side, beta {config.beta:g}, {config.days} days, "
            f"series seed {config.series_seed}; agents {config.algorithms} x {config.seeds} seeds x "
            f"{config.timesteps:,} steps. The reader's argmax agrees with the human label on the test days: "
            f"{accuracy}.\n\n" + header + "\n".join(lines) + "\n")


def train_half_reader(config: TextSignalConfig) -> str:
    """Fine-tune Stage 5 on the train half of the sentence pool (the half the train days draw from) and
    return its run folder. The later days' sentences come from the other half: the reader never saw one."""
    from LLMind.config import TrainConfig
    from LLMind.train import run as train_llmind

    sentences, labels = sentence_pool()
    order = np.random.default_rng([config.series_seed, 0]).permutation(len(sentences))  # draw_day_sentences'
    half = order[: len(order) // 2]
    names = {value: name for name, value in SIGN.items()}
    csv_text = pd.DataFrame({"text": [sentences[i] for i in half],
                             "label": [names[int(labels[i])] for i in half]}).to_csv(index=False)
    # The folder is named by its sentences: a fine-tune is reused only for exactly the same ones (the pool
    # changes when Stage 5's splits do, and another pool is cut into other halves)
    digest = hashlib.sha256(csv_text.encode()).hexdigest()[:10]
    folder = Path(config.out) / f"reader_seed{config.series_seed}_{config.reader_sentences or 'all'}_{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / TRAIN_HALF).write_text(csv_text, encoding="utf-8")
    run_folder = folder / "llmind"
    if not (run_folder / "metrics.json").is_file():
        # Only the fine-tune is wanted: no small from-scratch rivals, no learning curve, few out-of-domain
        train_llmind(TrainConfig(csv=str(folder / TRAIN_HALF), max_sentences=config.reader_sentences,
                                 small_rates="", bag_rates="", curve_sizes="", ood_sentences=200,
                                 out=str(run_folder)))
    return str(run_folder)


def run(config: TextSignalConfig) -> dict[str, Any]:
    from AgentLLM.text import load_reader  # the reader run_variant loaded: kept, so no second load

    if config.reader == "pool":
        config.llmind_run = train_half_reader(config)
    if config.calibrate:
        betas = [float(b) for b in config.betas.split(",") if b.strip()]
        seeds = [int(s) for s in config.calibration_seeds.split(",") if s.strip()]
        return calibrate(betas, seeds, config.days, config.cost_bps)
    variants = [v.strip() for v in config.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"--variants takes a comma-separated subset of {', '.join(VARIANTS)}, got "
                         f"{config.variants!r}")
    started = time.perf_counter()
    rows = [run_variant(config, variant) for variant in variants]
    results = {"config": asdict(config), "reader": load_reader(config.llmind_run).describe(), "rows": rows,
               "seconds": round(time.perf_counter() - started, 1), "cpu": runtime.cpu_model(),
               "peak_rss_mib": runtime.peak_rss_mb()}
    write_json(Path(config.out) / "results.json", results)
    markdown = table(rows, config)
    write_text(Path(config.out) / "results.md", markdown)
    print(markdown)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run(parse_config(TextSignalConfig, argv, description=__doc__))


if __name__ == "__main__":
    run_cli(main)
