"""Challenge generators, one module per family; see docs/challenges.md."""

FAMILIES = ("memory-corruption", "logic-constraint", "web-injection")
"""The families' names, each a generator module's ``FAMILY``, for what must know them without loading the generators
(the command line's choices); tests/test_challenges_generation.py checks them against the generators."""
