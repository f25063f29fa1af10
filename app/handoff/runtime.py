"""The handoff service with what it runs on, for any process that records handoffs (I/O).

`hotline up` (app.runtime.stack) builds one for everything; in a production layout
`hotline agi` needs it for the transfer routes and `hotline ami-bridge` for
the handoff journal, each process with its own database engine (the
double-press guard is in Asterisk's AstDB, core.handoff.CALL_GUARD_FAMILY).
"""
from __future__ import annotations

from app.handoff.services import HandoffService
from app.orders.services import OrderService
from app.runtime import db
from app.runtime.db import migrate
from core.settings import Settings


class HandoffRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = None
        self.orders: OrderService | None = None
        self.handoffs: HandoffService | None = None

    async def start(self, *, migrate_first: bool = True) -> HandoffService:
        s = self.settings
        if migrate_first:
            await migrate(s.effective_database_url)
        self.engine = db.create_engine(s.effective_database_url)
        self.orders = OrderService(db.session_factory(self.engine), limits=s.time_limits,
                                   jurisdiction=s.jurisdiction)
        self.handoffs = HandoffService(s, self.orders)
        return self.handoffs

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None
