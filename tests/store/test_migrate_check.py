"""`migrate` checks the schema with one query and imports Alembic only when the database is behind."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from pypeline.store.db import MIGRATIONS_DIR, applied_revisions, schema_heads

_PROBE = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)
from pypeline.store.db import migrate
migrate(sys.argv[1])
print("ALEMBIC", "alembic" in sys.modules)
"""


def _migrate_in_subprocess(url: str) -> str:
    done = subprocess.run([sys.executable, "-c", _PROBE, url], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def test_heads_read_from_source_match_alembic() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert schema_heads() == frozenset(ScriptDirectory.from_config(cfg).get_heads())


def test_up_to_date_database_needs_no_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first = _migrate_in_subprocess(url)
    assert "ALEMBIC True" in first and "alembic" in first  # a new file is migrated, and says so
    second = _migrate_in_subprocess(url)
    assert "ALEMBIC False" in second and "alembic" not in second.replace("ALEMBIC", "")


def test_database_behind_is_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _migrate_in_subprocess(url)
    engine = create_engine(url)
    with engine.begin() as conn:  # pretend the batches migration never ran
        conn.execute(text("DROP TABLE pypeline_batch_chunks"))
        conn.execute(text("DROP TABLE pypeline_batch_runs"))
        conn.execute(text("DELETE FROM alembic_version WHERE version_num = '0004_batches'"))
    assert applied_revisions(engine) != schema_heads()
    assert "ALEMBIC True" in _migrate_in_subprocess(url)
    assert applied_revisions(engine) == schema_heads()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pypeline_batch_runs")).scalar_one() == 0
    engine.dispose()


def test_missing_version_table_reads_as_none(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert applied_revisions(engine) is None
    engine.dispose()
