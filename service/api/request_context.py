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
from service.read_model.runtime import ReadModel
from service.settings import ReadConsistency, Settings
from service.storage.collections import Database
from service.sync.worker import WorkerHandle


@dataclass(frozen=True)
class Services:
    """What every request needs, opened by the app lifespan."""

    database: Callable[[], Database]
    read_model: Callable[[], ReadModel]
    settings: Settings
    worker: WorkerHandle

    async def before_request(self) -> None:
        """With strong consistency, a request waits until the read model shows every
        write committed before it."""
        if self.settings.read_consistency is ReadConsistency.STRONG:
            await self.read_model().barrier.wait()

    def context(self, principal: Principal, request_id: str, lang: Lang) -> Context:
        now = datetime.now(UTC)
        db = self.database()
        read_model = self.read_model()
        barrier = read_model.barrier
        return Context(
            data=GraphReader(read_model.readers.connection, now),
            lang=lang,
            request_id=request_id,
            now=now,
            principal=principal,
            partner=PartnerService(db, principal, self.settings, barrier),
            admin=AdminService(db, principal, self.settings, self.worker, barrier),
            live=LiveService(db, principal, self.settings, read_model.readers),
        )
