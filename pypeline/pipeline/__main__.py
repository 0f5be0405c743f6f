"""`python -m pypeline.pipeline MODULE:ATTR [-o FILE]`: write Python pipelines as a sermos.yaml for workers."""
from __future__ import annotations

import sys

from pypeline.pipeline import main

sys.exit(main())
