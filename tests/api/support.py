"""The API test stack: a Stack (config, broker, store, runtime) plus its Flask app, test client and two keys."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from pypeline.api import create_app
from pypeline.services import keys as key_service
from tests.helpers import Stack

__all__ = ["ApiStack", "make_api_stack"]


@dataclass
class ApiStack(Stack):
    """A Stack with its Flask app and test client, and a write and a read key."""

    app: Flask
    client: FlaskClient
    write_key: str
    read_key: str

    @property
    def w(self) -> dict[str, str]:
        """Headers with the write key."""
        return {"accesskey": self.write_key}

    @property
    def r(self) -> dict[str, str]:
        """Headers with the read key (sent as a bearer token)."""
        return {"Authorization": f"Bearer {self.read_key}"}


def make_api_stack(tmp_path: Path, broker: str, database: str, *,
                   edit: Callable[[dict[str, Any], str], None] | None = None, **settings: Any) -> ApiStack:
    """Build an ApiStack on the example config with a unique queue (`edit(doc, queue)` may change the config)."""
    base = Stack.create(tmp_path, broker, database, edit=edit, register=True, **settings)
    app = create_app(runtime=base.rt)
    app.config["TESTING"] = True
    writer = key_service.create_key(base.rt, "writer", "write")
    reader = key_service.create_key(base.rt, "reader", "read")
    return ApiStack(base.rt, base.queue, base.config, base.home, app, app.test_client(), writer.token, reader.token)
