"""Compatibility helpers kept from the original `pypeline.utils` package (see `pypeline.utils.task_utils`)."""
from __future__ import annotations
