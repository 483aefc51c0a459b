"""MemoryLLM stage (see MemoryLLM/README.md): a Keras LSTM forecasting prices from indicators."""

import os

# TensorFlow reads these when it is first imported, so they are set here, before any module of this
# package imports Keras: TensorFlow's C++ log lines stay quiet, and TensorFlow's oneDNN kernels
# (whose summation order can change with thread scheduling) stay off so a seed gives the same numbers.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
