"""TinyLLM stage (see TinyLLM/README.md)."""
