"""Challenge generators, one module per family; see docs/challenges.md."""
