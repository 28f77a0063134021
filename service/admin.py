"""Admin operations: sources, runs, rejected listings. Every method checks the role."""

from __future__ import annotations

from schema.context import Principal
from service.db import Database
from service.settings import Settings
from service.worker import WorkerHandle


class AdminService:
    def __init__(
        self, db: Database, principal: Principal, settings: Settings, worker: WorkerHandle
    ) -> None:
        self._db = db
        self._principal = principal
        self._settings = settings
        self._worker = worker
