"""The forecasting family: what MemoryLLM (a Keras LSTM) and CodeLLM (a PyTorch Transformer) share.

    harness.py              one harness for every network behind the `Forecaster` interface: the training
                            budget and schedule, the best epoch, the guard, the run folder, load_run
    walk_forward.py         expanding-window folds, every network refitted on each
    inputs.py               the shared data options and one function from them to leak-free windows
    windows.py              prices -> stationary features -> standardised windows, splits and targets
    prices.py               load_prices: embedded files, user CSVs, yfinance with a cache
    indicators.py           SMA, EMA, RSI, MACD, Bollinger Bands (causal; checked against TA-Lib)
    baselines.py            naive, drift, moving average, AR(p), ridge: the price forecasts to beat
    target_baselines.py     last, EWMA and HAR-RV volatility; base rate and logistic direction
    stats.py                Diebold-Mariano and Pesaran-Timmermann tests
    report.py               scoring and writing a price run
    target_report.py        scoring, guarding and writing a volatility or direction run
    evaluate.py             re-score a saved run on any series without refitting
    notebook.py             the tables and sentences the Stage 3 and 4 notebooks show of a run
    synthetic.py            series with a planted lag-k signal and their oracle
    plots.py                every forecasting figure
    show_data.py            the indicator chart (`python -m common.forecast.show_data`)

Imports the plumbing in `common/` only, never `common.lm` or a stage.
"""
