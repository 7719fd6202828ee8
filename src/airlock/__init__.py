"""Airlock: voluntary pre-release review of frontier AI models, focused on advanced cyber capabilities.

The package is layered (see ``docs/architecture.md``): front ends in ``cli/``, the review domain in
``review/``, the access policy in ``access/`` and the database in ``store/``. Upper layers call lower
ones, never the reverse.
"""

__version__ = "0.1.0"
