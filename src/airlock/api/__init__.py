"""The REST API (FastAPI) under ``/api/v1``; see :mod:`airlock.api.app` and ``docs/api.md``."""
