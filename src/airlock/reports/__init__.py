"""Reports: the report model, building it from an analysis, rendering (HTML, PDF, JSON), plots, signatures.

See ``docs/reports.md``. The review layer (:mod:`airlock.review.reporting`) gathers the inputs and stores
the results; nothing here touches the database or the vault.
"""
