"""The push outbox and the signed-request log in SQL (persistence layer).

Functions take an `AsyncSession`; the caller owns the transaction.  The
outbox item of an order change is added in that change's transaction
(`enqueue`, called by `app.federation.services`), so a change the peer must
learn is never committed without it.  Delivery order: an item is due only
when every earlier item of its order was sent (`due_items`); a pusher
*claims* an item by moving its next try past a lease, so two processes never
push the same item at once and an item whose pusher died is tried again
after the lease.  No HTTP here, no business rules.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.runtime.models import (
    FederationExchange,
    FederationInbox,
    FederationOutbox,
    Order,
)

STATES = ("pending", "sent", "failed")


async def next_seq(session: AsyncSession, order_id: str) -> int:
    """The next document number of `order_id` (the order's row is locked by the caller)."""
    last = await session.scalar(select(func.max(FederationOutbox.seq)).where(FederationOutbox.order_id == order_id))
    return int(last or 0) + 1


async def enqueue(session: AsyncSession, *, peer: str, order_id: str, seq: int, kind: str, path: str,
                  document: dict[str, Any], now: datetime) -> FederationOutbox:
    item = FederationOutbox(peer=peer, order_id=order_id, seq=seq, kind=kind, path=path, document=document,
                            state="pending", attempts=0, created_at=now, next_attempt_at=now)
    session.add(item)
    await session.flush()
    return item


async def find_linked(session: AsyncSession, peer: str, peer_order_id: str) -> Order | None:
    """Our order linked to `peer`'s order `peer_order_id`, if any."""
    return (await session.scalars(select(Order).where(Order.peer == peer,
                                                      Order.peer_order_id == peer_order_id))).first()


async def due_items(session: AsyncSession, now: datetime, limit: int = 50) -> list[FederationOutbox]:
    """Pending items due by `now` with nothing earlier of their order left unsent, oldest first."""
    earlier = aliased(FederationOutbox)
    blocked = select(earlier.id).where(earlier.order_id == FederationOutbox.order_id,
                                       earlier.seq < FederationOutbox.seq, earlier.state != "sent").exists()
    rows = await session.scalars(select(FederationOutbox).where(
        FederationOutbox.state == "pending", FederationOutbox.next_attempt_at <= now, ~blocked)
        .order_by(FederationOutbox.id).limit(limit))
    return list(rows)


async def claim(session: AsyncSession, item: FederationOutbox, lease_until: datetime) -> bool:
    """Take `item` for one try: True if this caller got it."""
    result = await session.execute(update(FederationOutbox).where(
        FederationOutbox.id == item.id, FederationOutbox.state == "pending",
        FederationOutbox.next_attempt_at == item.next_attempt_at).values(next_attempt_at=lease_until)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]  # DML gives a CursorResult; typed as Result


async def mark_sent(session: AsyncSession, item_id: int, now: datetime) -> None:
    await session.execute(update(FederationOutbox).where(FederationOutbox.id == item_id).values(
        state="sent", sent_at=now, attempts=FederationOutbox.attempts + 1, last_error=None))


async def mark_failed_try(session: AsyncSession, item_id: int, error: str, next_at: datetime | None) -> None:
    """One more failed try; `next_at` None: no try is left, the item is failed."""
    values: dict[str, Any] = {"attempts": FederationOutbox.attempts + 1, "last_error": error[:512]}
    if next_at is None:
        values["state"] = "failed"
    else:
        values["next_attempt_at"] = next_at
    await session.execute(update(FederationOutbox).where(FederationOutbox.id == item_id).values(**values))


async def list_items(session: AsyncSession, *, state: str | None = None, peer: str | None = None,
                     order_id: str | None = None, limit: int = 200) -> list[FederationOutbox]:
    conditions = [c for c in (FederationOutbox.state == state if state else None,
                              FederationOutbox.peer == peer if peer else None,
                              FederationOutbox.order_id == order_id if order_id else None) if c is not None]
    rows = await session.scalars(select(FederationOutbox).where(and_(True, *conditions))
                                 .order_by(FederationOutbox.id).limit(limit))
    return list(rows)


async def retry(session: AsyncSession, item_ids: list[int] | None, now: datetime) -> list[int]:
    """Failed items (those of `item_ids`, or all) back to pending with fresh tries; their ids."""
    condition = FederationOutbox.state == "failed"
    if item_ids is not None:
        condition = and_(condition, FederationOutbox.id.in_(item_ids))
    ids = list(await session.scalars(select(FederationOutbox.id).where(condition)))
    if ids:
        await session.execute(update(FederationOutbox).where(FederationOutbox.id.in_(ids)).values(
            state="pending", attempts=0, next_attempt_at=now))
    return ids


@dataclass(frozen=True)
class LinkHealth:
    """One peer's push queue: unsent items, failed ones, the oldest unsent, the last error."""

    peer: str
    pending: int
    failed: int
    oldest_unsent_at: datetime | None
    last_error: str | None
    last_sent_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"peer": self.peer, "pending": self.pending, "failed": self.failed,
                "oldest_unsent_at": self.oldest_unsent_at.isoformat() if self.oldest_unsent_at else None,
                "last_error": self.last_error,
                "last_sent_at": self.last_sent_at.isoformat() if self.last_sent_at else None}


async def link_health(session: AsyncSession, peer: str) -> LinkHealth:
    counts = dict((await session.execute(select(FederationOutbox.state, func.count()).where(
        FederationOutbox.peer == peer, FederationOutbox.state != "sent").group_by(FederationOutbox.state))).all())
    oldest = await session.scalar(select(func.min(FederationOutbox.created_at)).where(
        FederationOutbox.peer == peer, FederationOutbox.state != "sent"))
    last_error = await session.scalar(select(FederationOutbox.last_error).where(
        FederationOutbox.peer == peer, FederationOutbox.state != "sent", FederationOutbox.last_error.is_not(None))
        .order_by(FederationOutbox.id.desc()).limit(1))
    last_sent = await session.scalar(select(func.max(FederationOutbox.sent_at)).where(FederationOutbox.peer == peer))
    return LinkHealth(peer=peer, pending=int(counts.get("pending", 0)), failed=int(counts.get("failed", 0)),
                      oldest_unsent_at=oldest, last_error=last_error, last_sent_at=last_sent)


async def record_request(session: AsyncSession, *, peer: str, nonce: str, at: datetime, method: str, path: str,
                         body_sha256: str) -> None:
    """Log a signed request.  Raises IntegrityError (at the latest on commit) if
    this peer used `nonce` before: a replay."""
    if await session.get(FederationInbox, (peer, nonce)) is not None:
        raise IntegrityError("replayed nonce", None, Exception(nonce))
    session.add(FederationInbox(peer=peer, nonce=nonce, at=at, method=method, path=path[:200],
                                body_sha256=body_sha256))
    await session.flush()


async def record_answer(session: AsyncSession, peer: str, nonce: str, answer: int, note: str | None) -> None:
    await session.execute(update(FederationInbox).where(FederationInbox.peer == peer, FederationInbox.nonce == nonce)
                          .values(answer=answer, note=(note or "")[:256] or None))


async def record_exchange(session: AsyncSession, *, peer: str, direction: str, at: datetime, method: str,
                          path: str, body_sha256: str, answer: int | None, note: str | None = None,
                          nonce: str | None = None, order_id: str | None = None, kind: str | None = None,
                          actor: str | None = None) -> None:
    """One line of the audit log: a request a peer made (`in`) or a push (`out`)."""
    session.add(FederationExchange(peer=peer[:64], direction=direction, at=at, method=method[:8], path=path[:200],
                                   nonce=(nonce or None) and nonce[:64], body_sha256=body_sha256, answer=answer,
                                   note=(note or "")[:256] or None, order_id=order_id, kind=kind,
                                   actor=(actor or "")[:64] or None))


async def prune(session: AsyncSession, *, nonces_before: datetime, exchanges_before: datetime) -> tuple[int, int]:
    """Forget nonces no request can carry any more and audit lines past their
    retention; (nonces, exchanges) deleted."""
    nonces = await session.execute(delete(FederationInbox).where(FederationInbox.at < nonces_before))
    exchanges = await session.execute(delete(FederationExchange).where(FederationExchange.at < exchanges_before))
    return int(nonces.rowcount or 0), int(exchanges.rowcount or 0)  # type: ignore[attr-defined]  # DML: CursorResults, typed Result


def lease(now: datetime, timeout_s: float) -> datetime:
    return now + timedelta(seconds=timeout_s + 10)
