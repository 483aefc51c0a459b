"""The figures of an AgentLLM run: what each policy earned, where the agent was long or short, how
training went, and which inputs its decisions rest on.

    plot_equity      NAV of every policy on a log axis, and the drawdowns of the highlighted ones
    plot_positions   the close with the days long (green) and short (red) shaded, and the weight itself
    plot_training    episode reward and validation Sharpe against timesteps, one colour per algorithm
    plot_importance  a bar per input: how much the decisions change when that input is shuffled

Built with matplotlib's object API and saved atomically by `common.figures.save_figure`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

from common.figures import save_figure

# The policies a reader compares first get fixed colours, so every run's figures read alike.
HIGHLIGHT_COLORS = {"as_trained": "tab:blue", "guarded": "tab:orange", "buy_and_hold": "black"}
SPARE_COLORS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
# The other policies (baselines) recede: grey shades, told apart by their line style.
BACKGROUND_STYLES = (("-", "0.55"), ("--", "0.45"), (":", "0.35"), ("-.", "0.5"),
                     ((0, (5, 1, 1, 1, 1, 1)), "0.4"), ((0, (1, 3)), "0.3"), ((0, (8, 2)), "0.6"))
ALGORITHM_COLORS = {"ppo": "tab:blue", "a2c": "tab:orange", "dqn": "tab:green"}
LONG_COLOR, SHORT_COLOR = "tab:green", "tab:red"


def _date_axis(axis: Axes) -> None:
    locator = mdates.AutoDateLocator()
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _plain_log_axis(axis: Axes, low: float, high: float) -> None:
    """Label a log y-axis spanning [low, high] with plain numbers (0.9, 1, 1.2), not powers of ten:
    a NAV rarely spans a decade, where the log axis' own ticks would leave a single label."""
    if high < 5 * low:  # less than a factor 5: evenly spaced round numbers read best
        axis.yaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
        axis.yaxis.set_minor_locator(NullLocator())
    else:
        axis.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.yaxis.set_minor_formatter(NullFormatter())
    if high < 1.02 * low:  # (nearly) constant NAVs: autoscaling would pin them to the frame's edge
        middle = float(np.sqrt(low * high))
        axis.set_ylim(middle / 1.05, middle * 1.05)


def _check_lengths(dates: pd.DatetimeIndex, arrays: dict[str, np.ndarray]) -> None:
    if len(dates) == 0:
        raise ValueError("no dates: pass at least one day to plot")
    for name, values in arrays.items():
        if len(values) != len(dates):
            raise ValueError(f"{name} has {len(values)} values but there are {len(dates)} dates: "
                             "pass one value per date")


def plot_equity(
    dates: pd.DatetimeIndex, log_navs: dict[str, np.ndarray], path: str | Path, title: str,
    highlight: tuple[str, ...] = ("as_trained", "guarded", "buy_and_hold"),
) -> Path:
    """Top: NAV = exp(log NAV) of every policy on a log axis (equal heights = equal percentage moves);
    the `highlight` policies thick and coloured, the rest thin and grey. The legend gives each final
    return. Bottom: the drawdown (NAV / running maximum - 1, in %) of the highlighted policies.

    What to look for: whether the agent's line ends above buy-and-hold *and* the simple baselines, and
    whether it gets there steadily or by one jump; in the bottom panel, whether the agent's drawdowns
    are shallower than buy-and-hold's (a policy that earns less but falls less may still be the better
    one). A flat line is a policy that stayed out of the market."""
    if not log_navs:
        raise ValueError("log_navs is empty: pass at least one policy's log NAV per day")
    _check_lengths(dates, log_navs)
    fig = Figure(figsize=(12, 7.5))
    nav_ax, drawdown_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    navs = {name: np.exp(np.asarray(values, dtype=np.float64)) for name, values in log_navs.items()}
    highlighted = [name for name in highlight if name in navs]
    spare_colors = iter(SPARE_COLORS * len(highlighted))
    colors = {name: HIGHLIGHT_COLORS.get(name) or next(spare_colors) for name in highlighted}

    # Highlighted first, so they lead the legend; the zorder draws them over the background.
    others = [name for name in navs if name not in highlighted]
    for name in highlighted:
        nav_ax.plot(dates, navs[name], color=colors[name], lw=2.0, zorder=3,
                    label=f"{name} ({100 * (navs[name][-1] - 1):+.1f} %)")
    for index, name in enumerate(others):
        style, grey = BACKGROUND_STYLES[index % len(BACKGROUND_STYLES)]
        nav_ax.plot(dates, navs[name], color=grey, ls=style, lw=0.9, zorder=2,
                    label=f"{name} ({100 * (navs[name][-1] - 1):+.1f} %)")
    nav_ax.axhline(1.0, color="black", lw=0.6, ls=":")
    nav_ax.set_yscale("log")
    everything = np.concatenate(list(navs.values()))
    _plain_log_axis(nav_ax, float(np.nanmin(everything)), float(np.nanmax(everything)))
    nav_ax.set_ylabel("NAV (start = 1, log scale)")
    nav_ax.set_title(title)
    nav_ax.grid(alpha=0.3, which="both")
    # Outside on the right: with a dozen baselines an inside legend would hide the lines.
    nav_ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="final return",
                  title_fontsize=8)

    for name in highlighted:
        drawdown = 100 * (navs[name] / np.maximum.accumulate(navs[name]) - 1)
        drawdown_ax.plot(dates, drawdown, color=colors[name], lw=1.3,
                         label=f"{name} (max {drawdown.min():.1f} %)")
    if highlighted:
        drawdown_ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="drawdown",
                           title_fontsize=8)
    else:
        drawdown_ax.text(0.5, 0.5, f"none of {', '.join(highlight)} in this run", ha="center",
                         va="center", transform=drawdown_ax.transAxes, color="gray")
        drawdown_ax.set_yticks([])
    drawdown_ax.axhline(0, color="black", lw=0.6)
    drawdown_ax.set_ylabel("drawdown (%)")
    drawdown_ax.grid(alpha=0.3)
    _date_axis(drawdown_ax)
    fig.tight_layout()
    return save_figure(fig, path)


def _sign_runs(positions: np.ndarray) -> list[tuple[int, int, int]]:
    """(first, end, sign) of each run of days holding a weight of one sign: days first..end-1."""
    signs = np.sign(positions).astype(int)
    changes = np.flatnonzero(np.diff(signs)) + 1
    starts = np.concatenate([[0], changes])
    ends = np.concatenate([changes, [len(signs)]])
    return [(int(first), int(end), int(signs[first]))
            for first, end in zip(starts, ends) if signs[first] != 0]


def plot_positions(
    dates: pd.DatetimeIndex, close: np.ndarray, positions: np.ndarray, path: str | Path, title: str
) -> Path:
    """Top: the close, shaded green while the weight is long (> 0) and red while short (< 0); no shade
    when flat. Bottom: the weight itself, a step in [-1, 1]. `positions[i]` is the weight held from
    `dates[i]` until `dates[i + 1]` (so the shade of a day starts at its own date, step-post).

    What to look for: whether the agent times the market (green before rises, red before falls) or
    simply sits long like buy-and-hold (all green); how often it switches (every switch pays costs);
    and whether its positions are a lagged copy of the last move (shades that start just after each
    turn of the price)."""
    close = np.asarray(close, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64)
    _check_lengths(dates, {"close": close, "positions": positions})
    fig = Figure(figsize=(12, 6))
    price_ax, weight_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    # A run of days ends where the next run starts; the last run ends on the last date.
    ends = list(dates[1:]) + [dates[-1]]
    for first, end, sign in _sign_runs(positions):
        price_ax.axvspan(dates[first], ends[end - 1], color=LONG_COLOR if sign > 0 else SHORT_COLOR,
                         alpha=0.15, lw=0)
    price_ax.plot(dates, close, color="black", lw=0.9)
    shares = {label: 100 * float(np.mean(mask)) for label, mask in
              (("long", positions > 0), ("short", positions < 0), ("flat", positions == 0))}
    legend_patches = [
        Patch(color=LONG_COLOR, alpha=0.3, label=f"long ({shares['long']:.0f} % of days)"),
        Patch(color=SHORT_COLOR, alpha=0.3, label=f"short ({shares['short']:.0f} %)"),
        Patch(facecolor="white", edgecolor="0.6", label=f"flat ({shares['flat']:.0f} %)"),
    ]
    price_ax.legend(handles=legend_patches, fontsize=8, loc="upper left")
    price_ax.set_ylabel("close ($)")
    price_ax.set_title(title)
    price_ax.grid(alpha=0.3)

    switches = int(np.count_nonzero(np.diff(positions)))
    weight_ax.fill_between(dates, 0, positions, step="post", color="tab:blue", alpha=0.2, lw=0)
    weight_ax.step(dates, positions, where="post", color="tab:blue", lw=0.9)
    weight_ax.axhline(0, color="black", lw=0.6)
    weight_ax.set_ylim(-1.1, 1.1)
    weight_ax.set_yticks([-1, 0, 1])
    weight_ax.set_ylabel("weight")
    weight_ax.set_title(f"held weight ({switches} changes)", fontsize=9)
    weight_ax.grid(alpha=0.3)
    _date_axis(weight_ax)
    fig.tight_layout()
    return save_figure(fig, path)


def _algorithm(agent: str) -> str:
    return agent.split(" ", 1)[0]


def plot_training(
    curves: dict[str, dict[str, list[float]]], path: str | Path, title: str, rolling_episodes: int = 20
) -> Path:
    """One entry per agent ("ppo seed 0"), each with `episode_steps` / `episode_reward` (the log NAV
    of each finished training episode, at the timestep it ended) and `steps` / `select_sharpe` (the
    validation Sharpe at each checkpoint evaluation). Left: episode rewards, raw points faint and a
    rolling mean over `rolling_episodes` episodes as a line. Right: validation Sharpe, a marker per
    evaluation. One colour per algorithm (the name before the first space); its seeds share it.

    What to look for: a left panel that climbs while the right one stays flat or falls is an agent
    learning the training years, not the market (overfitting); seeds of one algorithm far apart mean
    its result is luck of the seed; a validation Sharpe that hovers around 0 means nothing was learnt
    that carries over to unseen days."""
    if not curves:
        raise ValueError("curves is empty: pass at least one agent's training curves")
    fig = Figure(figsize=(13, 4.8))
    reward_ax, sharpe_ax = fig.subplots(1, 2, sharex=True)
    spare_colors = iter(SPARE_COLORS * len(curves))
    colors: dict[str, str] = {}
    seeds: dict[str, int] = {}
    without_episodes = []
    for agent, curve in curves.items():
        algorithm = _algorithm(agent)
        if algorithm not in colors:
            colors[algorithm] = ALGORITHM_COLORS.get(algorithm) or next(spare_colors)
        seeds[algorithm] = seeds.get(algorithm, 0) + 1
        color = colors[algorithm]
        episode_steps, episode_reward = curve.get("episode_steps", []), curve.get("episode_reward", [])
        steps, sharpe = curve.get("steps", []), curve.get("select_sharpe", [])
        for x_name, x, y_name, y in (("episode_steps", episode_steps, "episode_reward", episode_reward),
                                     ("steps", steps, "select_sharpe", sharpe)):
            if len(x) != len(y):
                raise ValueError(f"{agent}: {x_name} has {len(x)} values but {y_name} has {len(y)}; "
                                 "they must pair up one to one")
        if len(episode_reward):
            reward_ax.scatter(episode_steps, episode_reward, s=7, color=color, alpha=0.3, lw=0)
            rewards = pd.Series(episode_reward, dtype=np.float64)
            rolling = rewards.rolling(rolling_episodes, min_periods=1).mean()
            reward_ax.plot(episode_steps, rolling, color=color, lw=1.3)
        else:
            without_episodes.append(agent)
        if len(sharpe):
            sharpe_ax.plot(steps, sharpe, color=color, lw=1.0, marker="o", ms=3.5, alpha=0.85)
    if without_episodes:
        reward_ax.text(0.99, 0.02, "no finished episode: " + ", ".join(without_episodes), ha="right",
                       va="bottom", fontsize=8, color="gray", transform=reward_ax.transAxes)

    handles = [Patch(color=color, label=f"{name} ({seeds[name]} seed{'s' * (seeds[name] > 1)})")
               for name, color in colors.items()]
    reward_ax.axhline(0, color="black", lw=0.6)
    reward_ax.set_ylabel("episode reward (log NAV of the episode)")
    reward_ax.set_title(f"training episodes (line: mean of the last {rolling_episodes})", fontsize=10)
    sharpe_ax.axhline(0, color="black", lw=0.8)
    sharpe_ax.set_ylabel("validation Sharpe (annualised)")
    sharpe_ax.set_title("validation at each checkpoint evaluation", fontsize=10)
    for axis in (reward_ax, sharpe_ax):
        axis.set_xlabel("timesteps")
        axis.xaxis.set_major_formatter(EngFormatter(sep=""))
        axis.grid(alpha=0.3)
        axis.legend(handles=handles, fontsize=8, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_importance(
    importance: dict[str, float], path: str | Path, title: str,
    xlabel: str = "share of test decisions changed when the input is shuffled",
) -> Path:
    """A horizontal bar per input, largest at the top, its value written at the end of the bar.

    What to look for: whether the agent leans on a few inputs or spreads over many; whether the held
    weight (its own last position) dominates, which means it mostly keeps doing what it did; and
    inputs near 0, which the policy ignores and could be dropped."""
    if not importance:
        raise ValueError("importance is empty: pass at least one input's score")
    ordered = sorted(importance.items(), key=lambda item: item[1])  # barh draws the first at the bottom
    names, values = [name for name, _ in ordered], np.array([value for _, value in ordered], dtype=np.float64)
    fig = Figure(figsize=(8, max(2.5, 0.32 * len(names) + 1.2)))
    axis = fig.subplots()
    bars = axis.barh(names, values, color=np.where(values >= 0, "tab:blue", "tab:red"), alpha=0.8)
    axis.bar_label(bars, labels=[f"{value:.3g}" for value in values], padding=3, fontsize=8)
    axis.axvline(0, color="black", lw=0.6)
    axis.margins(x=0.12)  # room for the value labels
    axis.set_xlabel(xlabel)
    axis.set_title(title)
    axis.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return save_figure(fig, path)
