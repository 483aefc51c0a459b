"""Reference for TinyLLM's benchmark: the plainest character LSTM script, written without the stage's code.

    .venv/bin/python benchmarks/plain_lstm.py --data ../shared/benchmarks/tinyshakespeare.txt --minutes 5

One nn.LSTM(512) layer, an embedding and a linear head, Adam at a constant rate, TBPTT with the
state carried, no schedule and no clipping tricks beyond a norm clip. It prints tokens/second and the
validation loss (nats/char, state carried over the last 10 % of the text) every `--eval-seconds`, so
TinyLLM's throughput and loss-vs-time can be compared against it on the same machine.
"""
# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    # OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads sleep instead of spin): OpenMP reads it when PyTorch
    # loads, hence before `import torch`.
    runtime.prepare_environment()

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn


class PlainLSTM(nn.Module):
    def __init__(self, vocab_size: int, hidden_size: int = 512, embedding_dim: int = 64):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        hidden, state = self.lstm(self.embedding(ids), state)
        return self.head(hidden), state


@torch.no_grad()
def validation_loss(model: PlainLSTM, ids: torch.Tensor, streams: int = 16, chunk: int = 512) -> float:
    model.eval()
    data = ids[: len(ids) // streams * streams].view(streams, -1)
    state, total, count = None, 0.0, 0
    for start in range(0, data.shape[1] - 1, chunk):
        targets = data[:, start + 1 : start + 1 + chunk]
        logits, state = model(data[:, start : start + targets.shape[1]], state)
        summed = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum")
        total += summed.item()
        count += targets.numel()
    model.train()
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--eval-seconds", type=float, default=60.0)
    parser.add_argument("--out", default=None, help="write the measurements here as JSON")
    args = parser.parse_args()
    # Denormals flushed to zero, PyTorch's own default thread count (the threads are reported in the result).
    with runtime.torch_settings(torch.get_num_threads()):
        run(args)


def run(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    text = open(args.data, encoding="utf-8").read()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text])
    split = int(len(ids) * 0.9)
    train, val = ids[:split], ids[split:]
    streams = train[: len(train) // args.batch_size * args.batch_size].view(args.batch_size, -1)
    model = PlainLSTM(len(chars), args.hidden_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    state, position, tokens, step_time, log = None, 0, 0, 0.0, []
    started = next_eval = time.perf_counter()
    next_eval += args.eval_seconds
    while time.perf_counter() - started < 60 * args.minutes:
        if position + args.seq_len + 1 > streams.shape[1]:
            position, state = 0, None
        inputs = streams[:, position : position + args.seq_len]
        targets = streams[:, position + 1 : position + 1 + args.seq_len]
        position += args.seq_len
        t0 = time.perf_counter()
        logits, state = model(inputs, state)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state = tuple(s.detach() for s in state)
        step_time += time.perf_counter() - t0
        tokens += inputs.numel()
        if time.perf_counter() >= next_eval:
            row = {"seconds": round(time.perf_counter() - started, 1),
                   "val_loss": validation_loss(model, val), "tokens_per_second": round(tokens / step_time)}
            log.append(row)
            print(json.dumps(row), flush=True)
            next_eval = time.perf_counter() + args.eval_seconds
    final = {"seconds": round(time.perf_counter() - started, 1), "val_loss": validation_loss(model, val),
             "tokens_per_second": round(tokens / step_time), "threads": torch.get_num_threads()}
    print("final", json.dumps(final), flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump({"config": vars(args), "log": log, "final": final}, handle, indent=2)


if __name__ == "__main__":
    main()
