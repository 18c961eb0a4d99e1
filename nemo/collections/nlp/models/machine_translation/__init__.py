"""Transformer machine translation (`MTEncDecModel`) and its config dataclasses."""
