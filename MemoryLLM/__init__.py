"""MemoryLLM stage (see MemoryLLM/README.md): a Keras LSTM forecasting prices from indicators."""
