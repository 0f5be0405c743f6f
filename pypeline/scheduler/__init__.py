"""Database-watching Celery beat: schedules change live and fire exactly once, even with several beats."""
