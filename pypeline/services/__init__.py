"""Service layer: the one place business logic lives; API, dashboard and CLI are thin faces over it."""
from __future__ import annotations
