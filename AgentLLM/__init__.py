"""AgentLLM stage: an RL trading agent (features.py: what it sees, forecast.py: Stage 3/4 forecasts made
out of sample, text.py: Stage 5's reading of the day's text, env.py: where it acts, train.py: the run) and
a tool-using agent that answers questions with the stages' models (ask.py: the command, router.py,
planner.py, tools.py)."""
