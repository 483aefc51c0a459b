"""Stage 4 — CodeLLM: a small Transformer encoder-decoder forecasting the close from technical
indicators, on exactly the windows and test targets MemoryLLM's LSTM sees.

    python CodeLLM/train.py                            # GOOG, offline
    python CodeLLM/train.py --horizon 5 --lookback 120 # five days ahead from ~6 months of history
    python CodeLLM/train.py --csv prices.csv           # any daily series with Date and Close columns
    python CodeLLM/train.py --preset tiny              # seconds: checks the plumbing, not the model
    python CodeLLM/train.py --preset long-range        # 260-day windows: fused attention, 5-day patches
    python CodeLLM/train.py --target volatility        # next week's realised volatility, beside HAR-RV
    python CodeLLM/train.py --target direction         # P(next close > today's): logit, cross-entropy
    python CodeLLM/evaluate.py --csv other.csv         # reuse the trained model on another series

Everything but the network is the shared forecasting harness (`common/forecast/harness.py`), the same
one MemoryLLM uses: the epoch budget and schedule, the best epoch on the validation split's first
half, the guard (a Diebold-Mariano test against naive on its second half), the baselines and the
report. `--out` (default outputs/CodeLLM) receives config.json, metrics.json (as-trained and guarded
forecasts beside naive, drift, AR, moving average and ridge), predictions.csv, history.csv, model.pt
(the as-trained state_dict), scalers.json and the plots predictions.png, cumulative_error.png,
returns_scatter.png, loss.png, interpretability.png and attention.png. Ctrl-C stops training; the
best epoch so far is still evaluated.
"""

# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from CodeLLM.forecaster import TorchTransformerForecaster, check_memory
from common import distributed
from common.config import finite, option, parse_config, require, require_at_least, run_cli
from common.forecast import harness
from common.forecast.harness import ForecastConfig, Forecaster, Stage
from common.forecast.windows import ForecastData
from common.paths import output_dir
from common.torch_utils import pick_device


@dataclass
class CodeConfig(ForecastConfig):
    # tiny: fast, and checks that every file gets written, not that the model learns
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": dict(d_model=8, heads=2, encoder_layers=1, decoder_layers=1, ff_dim=16, epochs=2, patience=2,
                     warmup_epochs=0, threads=1),  # a tiny model splits badly across threads: one is fastest
        # A trading year of history, read in 5-day patches with fused attention: the long-window options
        # chosen on validation in CodeLLM/README.md ("Long-range memory"), about 12x faster at this lookback.
        "long-range": dict(lookback=260, attention="fused", patch_len=5),
    }
    # model: small on purpose; ~1,700 training windows cannot feed a big one
    d_model: int = option(32, "width of each day's token; 32 is plenty for 11 features")
    heads: int = option(4, "attention heads of 8 channels each, each free to watch different days")
    encoder_layers: int = option(1, "self-attention layers over the lookback window; a second did not "
                                 "help on validation (benchmarks/lag_recipes.md)")
    decoder_layers: int = option(1, "one decoder layer: it only has to read the encoder's memory")
    ff_dim: int = option(64, "hidden width of the position-wise feed-forward block (2 x d_model)")
    label_len: int = option(10, "known days that open the decoder input (Informer's start token), two weeks")
    positions: str = option("learned", "learned: one trained vector per day of the window, so a query "
                            "can single out 'the day k days ago'; sinusoidal: fixed codes, which found a "
                            "planted lag far less often (CodeLLM/README.md)",
                            choices=("learned", "sinusoidal"))
    # options for long windows (CodeLLM/README.md, "Long-range memory"); the defaults are the lag-k recipe
    attention: str = option("explicit", "explicit: the softmax written out (its weights are kept); fused: "
                            "torch's scaled_dot_product_attention whenever no weights are asked for",
                            choices=("explicit", "fused"))
    patch_len: int = option(1, "days per encoder token (PatchTST); 1 = one token per day")
    linear_skip: bool = option(False, "add a linear map from the whole window to the forecast "
                               "(DLinear-style)")
    dropout: float = option(0.2, "dropout in every block: 0.2 beat 0.1 on the validation splits of "
                            "lag-50 series, and 0.3 did worse at lags 5 and 20 (benchmarks/lag_recipes.md)")
    grad_clip: float = option(1.0, "cap the gradient norm: crash and earnings days are huge outliers")
    epochs: int = option(30, "epoch budget: the cosine schedule ends at the last one")
    batch_size: int = option(64, "windows per step: ~27 steps per epoch on 1,700 windows")
    learning_rate: float = option(3e-3, "peak AdamW step after the warm-up (3e-3 beat 1e-3 and 1e-2 "
                                  "on validation)")
    warmup_epochs: int = option(3, "epochs of linear warm-up (10 % of the budget)")
    patience: int = option(10, "epochs without a better 'select' loss before stopping (0 = never)")
    # bookkeeping
    threads: int = option(0, "PyTorch CPU threads (0 = one per physical core)")
    device: str = option("auto", "auto uses CUDA or Apple MPS when present, else the CPU")
    precision: str = option("auto", "auto: bfloat16 matrix products on a GPU that has them; float32 on a "
                            "CPU, where this small model gains nothing from them",
                            choices=("auto", "bf16", "fp32"))
    compile: bool = option(False, "torch.compile the model (slower to start; for long runs on a GPU)")
    out: str = option(str(output_dir("CodeLLM")), "run folder for results, weights and plots")

    def validate(self) -> None:
        super().validate()
        require_at_least(self, 1, "d_model", "heads", "encoder_layers", "decoder_layers", "ff_dim",
                         "patch_len")
        require(self, self.d_model % self.heads == 0, "d_model",
                f"divisible by --heads {self.heads} (each head gets an equal share of the width)")
        require_at_least(self, 0, "label_len", "threads")
        require(self, self.label_len <= self.lookback, "label_len",
                f"at most --lookback {self.lookback} (the decoder starts from known days of the window)")
        require(self, 0 <= finite(self.dropout) < 1, "dropout", "in [0, 1)")
        require(self, finite(self.grad_clip) > 0, "grad_clip", "a positive number, e.g. 1.0")


def attention_plot(forecaster: Forecaster, data: ForecastData, out: Path) -> None:
    from CodeLLM.attention import plot_attention

    plot_attention(forecaster.model, data, out / "attention.png")


STAGE = Stage(name="CodeLLM", model="transformer", label="Transformer", config_cls=CodeConfig,
              make=TorchTransformerForecaster, extra_plots=attention_plot, check_memory=check_memory)


def run(config: CodeConfig, verbose: bool = True) -> dict[str, Any]:
    """Train and score the Transformer as `config` says (compare.py calls this, not the command line)."""
    config.validate()
    device = pick_device(distributed.device_for(config.device, distributed.world()))
    with runtime.torch_settings(config.threads), distributed.process_group(device):
        return harness.run(STAGE, config, verbose)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run(parse_config(CodeConfig, argv, description=__doc__))


if __name__ == "__main__":
    run_cli(main)
