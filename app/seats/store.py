"""Reading the seat journal's rows for reports (persistence layer).

`paused_time(session, start, end, now)`: seconds each seat spent paused in
[start, min(end, now)), per reason — the rows within the period and each
seat's last row before it, counted by `core.seats.paused_seconds`.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.runtime.models import SeatEventRow
from core.seats import SeatEvent, paused_seconds


def _event(row: SeatEventRow) -> SeatEvent:
    return SeatEvent(seat=row.seat, at=row.at.timestamp(), signed_in=row.signed_in, paused=row.paused,
                     reason=row.reason)


async def paused_time(session: AsyncSession, start: datetime, end: datetime,
                      now: datetime) -> list[dict[str, object]]:
    """[{"seat", "centre", "reason", "seconds"}], by seat then reason."""
    until = min(end, now)
    if until <= start:
        return []
    last_before = (select(func.max(SeatEventRow.id)).where(SeatEventRow.at < start)
                   .group_by(SeatEventRow.seat).scalar_subquery())
    before_rows = (await session.execute(select(SeatEventRow).where(SeatEventRow.id.in_(last_before)))).scalars().all()
    rows = (await session.execute(select(SeatEventRow).where(SeatEventRow.at >= start, SeatEventRow.at < until)
                                  .order_by(SeatEventRow.id))).scalars().all()
    centres = {r.seat: r.centre for r in (*before_rows, *rows)}
    totals = paused_seconds([_event(r) for r in rows], start.timestamp(), until.timestamp(),
                            before={r.seat: _event(r) for r in before_rows})
    return [{"seat": seat, "centre": centres.get(seat, ""), "reason": reason, "seconds": round(seconds, 1)}
            for seat in sorted(totals) for reason, seconds in sorted(totals[seat].items())]
