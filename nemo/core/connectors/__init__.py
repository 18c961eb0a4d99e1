"""Connectors: how models are written to and read from `.nemo` archives."""
