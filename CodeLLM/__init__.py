"""CodeLLM stage (see CodeLLM/README.md)."""

import os

# PyTorch's OpenMP threads spin while they wait for work; on a 2-core machine shared with other
# processes (or with TensorFlow in compare.py) that spinning steals the cores, and a 2-thread epoch
# measured 20x slower than a 1-thread one. Passive waiting removes that penalty. It only takes
# effect when set before torch is first imported, hence here; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
