"""Shared code for every stage, written once. The root holds plumbing that knows no model; each model
family has its own package.

    common/                 plumbing any stage may use
        config.py           a dataclass is the config: options with reasons, presets, checks, --help
        runs.py             run folders and atomic writes; a run is a transaction
        runtime.py          every process-wide setting (threads, float modes, log levels), made by scripts
        paths.py            every path, built from the repository root
        seed.py             one call to make a run repeatable
        distributed.py      DistributedDataParallel under torchrun
        torch_utils.py      device choice, checkpoints (state_dict + config), precision
        metrics.py          RMSE, MAE, MAPE, R², MASE, log loss, Brier, perplexity, bits per character
        figures.py          saving a figure atomically, the shared colours
    common/lm/              the language models (Stages 1-2, TinyLLM and SmaLLM)
    common/forecast/        the price forecasters (Stages 3-4, MemoryLLM and CodeLLM)
    common/trading/         the trading agent's backtest and its statistics (Stage 6, AgentLLM)

Import rule (tests/test_layout.py fails on any import that breaks it): the root imports no family;
`lm` and `forecast` never import each other; `trading` imports only the root; nothing in `common`
imports a stage. Importing `common` does no work and pulls in no deep-learning framework; import the
module you need (`from common.forecast.indicators import rsi`).
"""
