"""Named expiring leases: one holder at a time runs a periodic job (e.g. beat's pruning), others skip it."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from pypeline.store.models import utcnow
from pypeline.store.ops_models import OpsLease

__all__ = ["try_lease"]

_LEASE = OpsLease.__table__


def try_lease(engine: Engine, name: str, holder: str, ttl_s: float) -> bool:
    """Take or renew lease `name` for `ttl_s` seconds; False while another holder's lease is unexpired."""
    now = utcnow()
    until = now + timedelta(seconds=ttl_s)
    try:
        with engine.begin() as conn:
            taken = conn.execute(update(_LEASE).where(
                _LEASE.c.name == name, or_(_LEASE.c.holder == holder, _LEASE.c.expires_at < now))
                .values(holder=holder, expires_at=until)).rowcount
            if taken:
                return True
            if conn.execute(select(_LEASE.c.name).where(_LEASE.c.name == name)).first() is not None:
                return False
            conn.execute(insert(_LEASE).values(name=name, holder=holder, expires_at=until))
            return True
    except IntegrityError:  # another holder inserted it at the same moment
        return False
