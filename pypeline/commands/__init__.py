"""Click command groups, one file each; `pypeline.cli` assembles them."""
from __future__ import annotations
