"""MemoryLLM stage (see MemoryLLM/README.md)."""
