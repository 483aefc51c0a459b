"""Keras callbacks and a save that never leave a half-written file behind: each writes to a
temporary name beside its target and renames it over the target only once the file is complete
(`os.replace` is atomic on one filesystem), so a crash mid-save keeps the last good checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that writes to a temporary file and renames it over the checkpoint, so a
    crash during a save never replaces a good checkpoint with a broken one."""

    def __init__(self, filepath: Path, **kwargs) -> None:
        self.final_path = Path(filepath)
        self.partial_path = partial_weights_path(self.final_path)
        super().__init__(str(self.partial_path), save_weights_only=True, save_best_only=True, **kwargs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.partial_path.exists():  # written (completely) only when validation improved
            os.replace(self.partial_path, self.final_path)


class AtomicCSVLogger(keras.callbacks.CSVLogger):
    """CSVLogger that logs to a temporary file and renames it to `filename` when training ends."""

    def __init__(self, filename: Path) -> None:
        self.final_path = Path(filename)
        super().__init__(str(self.final_path.with_name(f".{self.final_path.name}.partial")))

    def on_train_end(self, logs: dict | None = None) -> None:
        super().on_train_end(logs)
        os.replace(self.filename, self.final_path)


def partial_weights_path(path: Path) -> Path:
    """A temporary name beside `path` that Keras still accepts (it must end in .weights.h5)."""
    return path.with_name(f".{path.name.removesuffix('.weights.h5')}.partial.weights.h5")


def save_weights_atomically(model: keras.Model, path: Path) -> None:
    partial = partial_weights_path(path)
    model.save_weights(partial, overwrite=True)
    os.replace(partial, path)
