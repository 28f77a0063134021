"""Change feeds for subscriptions, from MongoDB change streams (work across instances)."""

from __future__ import annotations

from schema.context import Principal
from service.db import Database
from service.settings import Settings


class LiveService:
    def __init__(self, db: Database, principal: Principal, settings: Settings) -> None:
        self._db = db
        self._principal = principal
        self._settings = settings
