"""Upstream accounts: what they are (accounts), and which one serves the next attempt (scheduler)."""
