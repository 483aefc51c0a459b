"""CodeLLM's side of the forecasting harness (`common/forecast/harness.py`): how to build, train one
epoch, predict, copy and save the PyTorch Transformer. The loop around it — the epoch budget, the
schedule, the best epoch, the guard, the scoring — is the harness's, shared with MemoryLLM's LSTM.

One epoch, written out by hand: shuffle, forward, loss, backward, clip, step.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from CodeLLM.model import TransformerForecaster, count_parameters
from common import distributed
from common.forecast.windows import ForecastData, Windows
from common.runs import atomic_path
from common.torch_utils import mixed_precision, pick_device, require_training_memory, resolve_precision

CHECKPOINT = "model.pt"  # the as-trained network's state_dict: what evaluate.py and compare.py load


def build_model(
    config: Any, n_features: int, horizon: int, naive_output: list[float] | None = None
) -> TransformerForecaster:
    return TransformerForecaster(
        n_features=n_features, horizon=horizon, d_model=config.d_model, heads=config.heads,
        encoder_layers=config.encoder_layers, decoder_layers=config.decoder_layers, ff_dim=config.ff_dim,
        dropout=config.dropout, label_len=config.label_len, naive_output=naive_output,
        positions=config.positions, max_lookback=config.lookback, attention=config.attention,
        patch_len=config.patch_len, linear_skip=config.linear_skip,
    )


def check_memory(config: Any, data: ForecastData) -> None:
    """Refuse a Transformer whose training cannot fit in memory, measured on the meta device before
    anything is allocated (common/torch_utils.py)."""
    device = pick_device(distributed.device_for(config.device, distributed.world()))

    def step(model: nn.Module) -> torch.Tensor:
        inputs = torch.zeros(config.batch_size, config.lookback, data.n_features)  # (batch, lookback, feat.)
        return model(inputs).float().square().mean()

    require_training_memory("the Transformer", lambda: build_model(config, data.n_features, data.horizon),
                            step, device, "lower --d-model, --ff-dim, --encoder-layers, --decoder-layers, "
                            "--batch-size or --lookback")


def predict_scaled(model: nn.Module, inputs: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """(windows, lookback, features) -> (windows, horizon) scaled log returns, in eval mode."""
    device = next(model.parameters()).device
    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(inputs[start:start + batch_size])).to(device)
            outputs.append(model(batch).float().cpu().numpy())
    return np.concatenate(outputs).astype(np.float64)


class TorchTransformerForecaster:
    """The harness's `Forecaster` for the PyTorch Transformer."""

    label = "Transformer"
    weights_file = CHECKPOINT

    def __init__(self, config: Any, data: ForecastData) -> None:
        self.config = config
        self.world = distributed.world()
        self.device = pick_device(distributed.device_for(config.device, self.world))
        self.model = build_model(config, data.n_features, data.horizon,
                                 data.neutral_output().tolist()).to(self.device)
        # Under torchrun: the same model on every rank, gradients averaged (DDP starts all from rank 0's)
        self.trained: nn.Module = self.model
        self.in_sync = True
        if self.world.active:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.trained = DistributedDataParallel(self.model, device_ids=device_ids)
        if config.compile:
            self.trained = torch.compile(self.trained)
        self.precision = resolve_precision(config.precision, self.device, cpu_bf16=False)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate,
                                           weight_decay=config.weight_decay)
        # on scaled log returns (or volatility): the squared error the naive forecast is judged by; for
        # direction the output is a logit and the loss binary cross-entropy
        self.loss_fn = nn.BCEWithLogitsLoss() if data.target == "direction" else nn.MSELoss()

    def train_epoch(self, train: Windows, learning_rate: float, epoch: int) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        inputs = torch.from_numpy(train.inputs).to(self.device)  # (windows, lookback, features)
        targets = torch.from_numpy(train.targets).to(self.device)  # (windows, horizon)
        # A generator seeded per epoch: the same order whatever ran before in the process.
        generator = torch.Generator().manual_seed(self.config.seed * 1000 + epoch)
        order = torch.randperm(len(inputs), generator=generator)
        self.model.train()
        total = 0.0
        for start in range(0, len(order), self.config.batch_size):
            batch = order[start:start + self.config.batch_size].to(self.device)
            with mixed_precision(self.precision, self.device):  # a fresh context each step (autocast caches)
                if self.world.active:
                    loss = self.share_of_loss(inputs, targets, batch)
                else:
                    loss = self.loss_fn(self.trained(inputs[batch]).float(), targets[batch])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # Returns carry rare huge days (crashes, earnings): clipping keeps one batch from wrecking
            # the weights.
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            total += distributed.mean_over_ranks(loss.item()) * len(batch)
        self.in_sync = distributed.parameters_in_sync(self.model)  # every rank checks, after every epoch
        return total / len(order)

    def share_of_loss(self, inputs: torch.Tensor, targets: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """This rank's windows of the global `batch` (every size-th), with a loss scaled so that DDP's
        average over ranks is exactly the global batch's mean loss (the shares may differ by one)."""
        mine = batch[self.world.rank :: self.world.size]
        if mine.numel() == 0:  # a last batch smaller than the number of ranks: this rank adds nothing
            return self.trained(inputs[batch[:1]]).sum() * 0.0
        summed = self.loss_fn(self.trained(inputs[mine]).float(), targets[mine]) * mine.numel()
        return summed * self.world.size / batch.numel()

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return predict_scaled(self.model, inputs)

    def get_state(self) -> dict[str, torch.Tensor]:
        return copy.deepcopy(self.model.state_dict())

    def set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

    def save(self, path: Path) -> None:
        """The state_dict alone (tensors only): it loads with torch.load(weights_only=True)."""
        with atomic_path(path) as tmp:
            torch.save({"stage": "CodeLLM", "model": self.model.state_dict()}, tmp)

    def load(self, path: Path) -> None:
        try:
            payload = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as error:  # truncated, foreign or unsafe (a pickle that would run code) files
            raise ValueError(f"{path} is not a readable CodeLLM checkpoint ({type(error).__name__}); "
                             "train again to recreate it") from None
        if not isinstance(payload, dict) or payload.get("stage") != "CodeLLM" or "model" not in payload:
            raise ValueError(f"{path} is not a CodeLLM checkpoint (made by another stage or program?)")
        if not isinstance(payload["model"], dict):
            raise ValueError(f"{path} is damaged: its 'model' entry is a {type(payload['model']).__name__}, "
                             "not the state_dict training writes; train again to recreate it")
        try:
            self.model.load_state_dict(payload["model"])
        except (RuntimeError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"{path} holds a Transformer of another shape than config.json describes: "
                             f"{str(error).splitlines()[0]}") from None

    def params(self) -> int:
        return count_parameters(self.model)

    def lag_profiles(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        from CodeLLM.attention import attention_per_lag, gradient_saliency

        return {"Transformer cross-attention": attention_per_lag(self.model, inputs, "cross"),
                "Transformer attention rollout": attention_per_lag(self.model, inputs, "rollout"),
                "Transformer |input x gradient|": gradient_saliency(self.model, inputs)}

    def describe(self) -> dict[str, Any]:
        return {"framework": f"pytorch {torch.__version__}", "device": str(self.device),
                "precision": self.precision, "threads": torch.get_num_threads(),
                "parallel": {"world_size": self.world.size, "global_batch_size": self.config.batch_size,
                             "batch_size_per_process": -(-self.config.batch_size // self.world.size),
                             "learning_rate": self.config.learning_rate,
                             "parameters_in_sync": self.in_sync}}
