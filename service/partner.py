"""Partner writes through the ingestion entry point, scoped to the partner's source."""

from __future__ import annotations

from schema.context import Principal
from service.db import Database
from service.settings import Settings


class PartnerService:
    def __init__(self, db: Database, principal: Principal, settings: Settings) -> None:
        self._db = db
        self._principal = principal
        self._settings = settings
