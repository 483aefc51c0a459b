"""AgentLLM stage: an RL trading agent (features.py: what it sees, env.py: where it acts)."""
