"""Batch jobs: a key generator feeding a pipeline in chunks (spec, store, worker-side driver task).

The business API is `pypeline.services.batches`; `pypeline.batches.driver` is the built-in Celery task
that drives batch runs inside workers, and `pypeline.batches.scheduled.start_batch` the handler that
lets a schedule start a batch.
"""
from __future__ import annotations
