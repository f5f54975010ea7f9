"""Realistic, deterministic extracts for every source tallyhouse reads."""

from tallyhouse.generator.engine import GenerateConfig, generate

__all__ = ["GenerateConfig", "generate"]
