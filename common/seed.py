"""One call to make a run repeatable: seeds Python, NumPy and whichever framework is loaded."""

from __future__ import annotations

import os
import random
import sys

import numpy as np


def set_seed(seed: int) -> None:
    """Seed `random`, NumPy, and PyTorch / TensorFlow-Keras if they are already imported.

    Frameworks are seeded only when loaded so that a PyTorch stage never pays TensorFlow's import.
    """
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
    if "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)
