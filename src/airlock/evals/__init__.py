"""Cyber evaluation on Inspect AI: the sandbox, challenges, models and the runner."""
