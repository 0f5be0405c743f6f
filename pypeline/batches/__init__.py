"""Batch jobs, the domain below services: a key generator feeding a pipeline in chunks.

`spec` (what a batch does), `store` (batch runs and chunks in SQL), `launch` (start, take over),
`driver` (one step, the foreground loop) and `tasks` (the worker-side driver task and the `start_batch`
handler, also at its documented path `pypeline.batches.scheduled.start_batch`). The use cases both faces and
the CLI call are in `pypeline.services.batches`.
"""
from __future__ import annotations
