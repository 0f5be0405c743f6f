"""One flask-smorest blueprint per resource."""
from __future__ import annotations
