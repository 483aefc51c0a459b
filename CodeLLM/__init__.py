"""CodeLLM stage (see CodeLLM/README.md)."""
