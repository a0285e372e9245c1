"""Helpers for tests and benchmarks (virtual X server, windows showing images)."""
