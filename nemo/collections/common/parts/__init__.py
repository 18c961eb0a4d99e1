"""Shared preprocessing helpers."""
