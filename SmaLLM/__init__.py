"""SmaLLM stage (see SmaLLM/README.md)."""
