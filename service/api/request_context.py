"""Builds each request's typed context: the reader, and writers bound to the caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from schema.context import Context
from schema.principal import Principal
from schema.taxonomy import Lang
from service.admin.service import AdminService
from service.live.service import LiveService
from service.partner.service import PartnerService
from service.read.reader import GraphReader
from service.settings import Settings
from service.storage.collections import Database
from service.sync.worker import WorkerHandle


@dataclass(frozen=True)
class Services:
    """What every request needs, opened by the app lifespan."""

    database: Callable[[], Database]
    settings: Settings
    worker: WorkerHandle

    def context(self, principal: Principal, request_id: str, lang: Lang) -> Context:
        now = datetime.now(UTC)
        db = self.database()
        return Context(
            data=GraphReader(db, now),
            lang=lang,
            request_id=request_id,
            now=now,
            principal=principal,
            partner=PartnerService(db, principal, self.settings),
            admin=AdminService(db, principal, self.settings, self.worker),
            live=LiveService(db, principal, self.settings),
        )
