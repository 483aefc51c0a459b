"""Shared code for every stage, written once: tokenizers, indicators, metrics, data loading,
splits and windows, plotting, run folders, config parsing and seeding.

Importing `common` does no work and pulls in no deep-learning framework; import the submodule you
need (`from common.indicators import rsi`).
"""
