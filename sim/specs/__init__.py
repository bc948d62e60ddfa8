"""Shipped specs: one TOML data file each, plus an optional hooks module."""
