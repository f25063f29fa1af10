"""Orders across platforms (工单⇄警单): hand over, receive, report back (service layer).

`FederationService` is three things:

* an **observer** of `OrderService` (`changed`): when an order is dispatched
  to a centre a peer platform runs, it links the order to that peer and
  writes an `order` document into the outbox, in the same transaction; when
  a linked order later moves to a status the peer must learn
  (`core.federation.PUSHED_BY`), a `status` document.  Changes that came
  from the peer (actor `peer:<name>`) are never echoed back.
* the **receiver** of a peer's documents (`receive_order`,
  `receive_status`): an order is keyed by (peer, the peer's order id), so a
  re-sent order gives back the same local order; a status document is applied
  only as the next of its order's sequence (`core.federation.seq_verdict`):
  a replay changes nothing, a gap is refused until the missing one arrives.
  The peer's status becomes the same status of the local order when the
  state machine allows it, and is recorded (`peer_status`) in any case.
* the outbox's **admin**: list, retry failed items, link health.

A peer acts only on orders it is party to: an order it hands over must come
from one of its centres to one of ours; a status only concerns an order
linked to that peer.  No HTTP here (`app.federation.http`), no SQL text
(`app.federation.store`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.federation import store
from app.federation.refusals import RefusalAudit
from app.orders.services import OrderChange, OrderService
from app.runtime.models import ORDER_MODES, FederationOutbox, Order
from app.web.errors import BadInput, Conflict, HotlineError, NotFound
from core.federation import (
    APPLIED_BY,
    ORDER_FIELDS,
    STATUS_LABELS,
    DocumentError,
    check_order_document,
    check_status_document,
    order_document,
    pushed_status,
    seq_verdict,
    status_document,
)
from core.federation_mapping import foreign_field, jjd_to_order_document
from core.orders import IllegalTransition
from core.settings import Peer, Settings

log = logging.getLogger(__name__)

ORDER_PATH = "/api/federation/orders"
CALL_MODES = frozenset({"transfer", "three_way"})  # a call handoff: its order is pushed as it is made


def status_path(sender_order_id: str) -> str:
    return f"{ORDER_PATH}/{sender_order_id}/status"


class NotParty(HotlineError):
    """A peer asked about an order it is not party to (403)."""

    def __init__(self, peer: str, reason: str) -> None:
        super().__init__(f"peer {peer}: {reason}")
        self.peer = peer
        self.reason = reason


class Duplicate(Exception):
    """The document was applied before (a replay): nothing changes."""


class OutOfOrder(Conflict):
    """An earlier document of the order has not arrived yet (409 with the expected seq)."""

    def __init__(self, expected: int) -> None:
        super().__init__(f"out of order: document {expected} of this order is expected first")
        self.expected = expected


@dataclass(frozen=True)
class PeerCall:
    """A handoff's call as the receiving dialplan saw it (every value checked there
    against core.trunks.HANDOFF_HEADER_PATTERN, and again here)."""

    handoff_id: str
    source_centre: str
    seat: str
    order_number: str | None
    centre: str
    citizen: str
    linkedid: str | None
    channel: str | None
    trunk: str | None


def _doc_error(exc: DocumentError) -> BadInput:
    return BadInput(exc.field, exc.reason)


class FederationService:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], orders: OrderService) -> None:
        self.settings = settings
        self.sessions = sessions
        self.orders = orders
        self.refusals = RefusalAudit()  # which refused peer requests get an audit line
        self.wake: Callable[[], None] = lambda: None  # the pusher sets this
        # Real time, whatever the orders' clock says: signature timestamps are
        # checked against it, and the nonces are kept and pruned by it.
        self.wall: Callable[[], float] = time.time

    def wall_now(self) -> datetime:
        return datetime.fromtimestamp(self.wall(), UTC)

    @property
    def sender(self) -> dict[str, Any]:
        fed = self.settings.federation
        return {k: v for k, v in (("platform", fed.name), ("org_code", fed.org_code),
                                  ("division_code", fed.division_code), ("unit", fed.unit_name)) if v}

    # --- observer ----------------------------------------------------------

    async def changed(self, session: AsyncSession, order: Order, change: OrderChange) -> None:
        if change.actor.startswith("peer:"):
            return  # it came from the peer: never echoed back
        fed = self.settings.federation
        now = self.orders.now()
        if order.peer is None:
            peer = fed.peer_of_centre(order.target_centre)
            # handed over: an order dispatched to the peer's centre, or a call
            # handoff to it (pushed at once: the peer makes its order from
            # whichever of the push and the call comes first)
            handed = change.to_status == "dispatched" or (
                change.from_status is None and change.to_status == "pending" and order.mode in CALL_MODES)
            if peer is None or not handed:
                return
            if peer.mapping is not None:
                log.warning("order %s to centre %s: peer %s speaks mapping %s, which takes no orders from here; "
                            "not pushed", order.number, order.target_centre, peer.name, peer.mapping.name)
                return
            order.peer, order.peer_side = peer.name, "out"
            doc = order_document(seq=1, sender=self.sender, order=self._order_fields(order), sent_at=now,
                                 by={"name": change.actor})
            await store.enqueue(session, peer=peer.name, order_id=order.id, seq=1, kind="order", path=ORDER_PATH,
                                document=doc, now=now)
            await session.flush()
            log.info("order %s handed to peer %s (centre %s): queued", order.number, peer.name, order.target_centre)
            return
        if order.peer_side is None:
            return
        status = change.to_status
        peer = fed.peer(order.peer)
        withdrawn: str | None = None
        if order.peer_side == "out" and change.from_status == "pending" and status in ("returned", "abandoned"):
            withdrawn = order.outcome_reason or status  # the handoff's call did not get through
        elif (order.peer_side == "out" and change.from_status == "pending" and status == "accepted"
              and peer is not None and order.target_centre not in peer.centres):
            withdrawn = f"kept by {order.target_centre}: {order.handoff_rule or 'three-way outcome'}"
        if withdrawn is not None:
            status = "voided"  # the peer's order is withdrawn
        elif not pushed_status(order.peer_side, status):
            return
        if peer is not None and peer.mapping is not None and not peer.mapping.sends(status):
            return  # a foreign peer takes only the statuses its mapping names
        seq = await store.next_seq(session, order.id)
        doc = status_document(
            seq=seq, sender=self.sender, status=status, at=now,
            order={"id": order.id, "number": order.number},
            your_order={k: v for k, v in (("id", order.peer_order_id), ("number", order.peer_number)) if v},
            by={k: v for k, v in (("name", change.actor), ("unit", order.handling_unit or fed.unit_name),
                                  ("unit_code", fed.org_code)) if v},
            reason=order.return_reason if status == "returned" else (
                withdrawn[:256] if status == "voided" and withdrawn else None),
            handling=change.detail.get("note") if status == "feedback" else None,
            result=order.result if status == "feedback" else None)
        await store.enqueue(session, peer=order.peer, order_id=order.id, seq=seq, kind="status",
                            path=status_path(order.id), document=doc, now=now)
        log.info("order %s %s: status %s for peer %s queued (seq %d)", order.number, STATUS_LABELS.get(status),
                 status, order.peer, seq)

    def committed(self, order: Order, change: OrderChange) -> None:
        if order.peer is not None and not change.actor.startswith("peer:"):
            self.wake()

    def _order_fields(self, order: Order) -> dict[str, Any]:
        fields = {"id": order.id, "number": order.number, "mode": order.mode, "order_class": order.order_class,
                  "emergency": bool(order.emergency), "citizen_number": order.citizen_number,
                  "citizen_name": order.citizen_name, "category": order.category, "content": order.content,
                  "address": order.address, "source_centre": order.source_centre,
                  "target_centre": order.target_centre, "source_seat": order.source_seat,
                  "linkedid": order.linkedid,
                  "division_code": order.division_code or self.settings.federation.division_code,
                  "created_at": order.created_at.isoformat()}
        return {k: v for k, v in fields.items() if v is not None}

    # --- receiver ----------------------------------------------------------

    async def receive_order(self, peer: Peer, doc: object, *, extra: dict[str, Any] | None = None
                            ) -> tuple[Order, bool]:
        """The peer hands an order over: (our order, created now).

        Keyed by (peer, the peer's order id = the handoff id): the same order
        pushed again gives back ours unchanged; an order first made from the
        handoff's call (`receive_call`) takes the document's fields now
        (content, address, class, codes...), once.  `extra`: what a foreign
        peer's document carried beyond our fields (its audit event)."""
        try:
            checked = check_order_document(doc)
        except DocumentError as exc:
            raise _doc_error(exc) from None
        o = checked["order"]
        if o["source_centre"] not in peer.centres:
            raise NotParty(peer.name, f"centre {o['source_centre']} is not one of the peer's")
        if o["target_centre"] not in self.settings.site.centre_ids:
            raise NotParty(peer.name, f"centre {o['target_centre']} is not served here")
        fed = self.settings.federation
        now = self.orders.now()
        note = f"peer category: {o['category']}" if o.get("category") else None
        document_fields: dict[str, Any] = {
            "order_class": o.get("order_class"), "emergency": bool(o.get("emergency", False)),
            "citizen_name": o.get("citizen_name"), "content": o.get("content"), "address": o.get("address"),
            "division_code": o.get("division_code") or checked["sender"].get("division_code"),
            "peer_number": o["number"], "source_seat": o.get("source_seat")}
        order, created = await self.orders.create_once(
            {"peer": peer.name, "peer_order_id": o["id"]},
            mode=o["mode"] if o["mode"] in ORDER_MODES else "transfer", status="dispatched",
            source_centre=o["source_centre"], target_centre=o["target_centre"], numbered_by=o["target_centre"],
            citizen_number=o["citizen_number"], actor=f"peer:{peer.name}",
            # not the peer's linkedid: it names a call on the peer's PBX; ours comes with the call
            note=note, org_code=fed.org_code, handling_unit=fed.unit_name,
            peer=peer.name, peer_side="in", peer_order_id=o["id"], peer_status="dispatched", peer_seq=1,
            peer_updated_at=now, **document_fields)
        if created:
            if extra:
                await self.orders.note(order.id, actor=f"peer:{peer.name}", kind="peer_document", detail=extra)
        elif order.peer_seq is None:
            # made from the call: the document's fields come in now, once
            def not_yet(current: Order) -> None:
                if current.peer_seq is not None:
                    raise Duplicate()
            try:
                order, _ = await self.orders.merge(
                    order.id, actor=f"peer:{peer.name}", kind="peer_order_merged", guard=not_yet,
                    detail={"peer": peer.name, "from": "push", "peer_number": o["number"], **(extra or {})},
                    overwrite=frozenset({"order_class", "emergency", "peer_number", "peer_seq"}),
                    peer_seq=1, peer_updated_at=now,
                    **{k: v for k, v in document_fields.items() if k != "emergency" or v})
            except Duplicate:
                order = await self.orders.get(order.id)
        log.info("order %s from peer %s (its %s): %s", order.number, peer.name, o["number"],
                 "created" if created else "already here")
        return order, created

    async def receive_foreign_order(self, peer: Peer, doc: object) -> tuple[Order, bool]:
        """A foreign peer's document (its mapping's field names) → `receive_order`.
        A refused field is named as the peer names it."""
        mapping = peer.mapping
        assert mapping is not None
        local = self.settings.site.centre_ids
        try:
            document, extra = jjd_to_order_document(doc, mapping, platform=peer.name, source_centre=peer.centres[0],
                                                    target_centre=local[0])
            check_order_document(document)
        except DocumentError as exc:
            ours = exc.field.removeprefix("order.")
            raise BadInput(foreign_field(mapping, ours) if ours in ORDER_FIELDS else exc.field, exc.reason) from None
        return await self.receive_order(peer, document, extra=extra)

    async def receive_call(self, call: PeerCall) -> tuple[Order, bool] | None:
        """A handoff's call arrived over a peer trunk (X-Hotline-Handoff checked by
        the dialplan): the order keyed by (peer, handoff id) — made now if the
        push has not come yet, else the call's facts (its channel, linkedid,
        the handing seat) brought into it.  None when no federation peer runs
        the source centre (calls over trunks without order exchange)."""
        peer = self.settings.federation.peer_of_centre(call.source_centre)
        if peer is None:
            return None
        if call.centre not in self.settings.site.centre_ids:
            raise NotParty(peer.name, f"centre {call.centre} is not served here")
        fed = self.settings.federation
        actor = f"peer:{peer.name}"
        detail = {"peer": peer.name, "from": "call", "handoff": call.handoff_id, "src": call.source_centre,
                  "seat": call.seat, "channel": call.channel, "trunk": call.trunk}
        order, created = await self.orders.create_once(
            {"peer": peer.name, "peer_order_id": call.handoff_id},
            mode="transfer", status="dispatched", source_centre=call.source_centre, target_centre=call.centre,
            numbered_by=call.centre, citizen_number=call.citizen, actor=actor, source_seat=call.seat,
            linkedid=call.linkedid, channel=call.channel, note=f"arrived by call over trunk {call.trunk}",
            org_code=fed.org_code, handling_unit=fed.unit_name, peer=peer.name, peer_side="in",
            peer_order_id=call.handoff_id, peer_number=call.order_number, peer_status="pending",
            peer_updated_at=self.orders.now())
        if not created:
            def new_call(current: Order) -> None:
                if current.linkedid == call.linkedid and current.channel is not None:
                    raise Duplicate()  # this very call reported again
            try:
                order, _ = await self.orders.merge(order.id, actor=actor, kind="peer_call_merged", guard=new_call,
                                                   detail=detail, linkedid=call.linkedid, channel=call.channel,
                                                   source_seat=call.seat, peer_number=call.order_number)
            except Duplicate:
                pass
        log.info("handoff %s from peer %s by call on %s: order %s %s", call.handoff_id, peer.name, call.channel,
                 order.number, "created" if created else "merged")
        return order, created

    async def _linked(self, peer: Peer, sender_order_id: str, your_id: str | None) -> Order:
        async with self.sessions() as session:
            order = await store.find_linked(session, peer.name, sender_order_id)
            if order is None and your_id:
                order = await session.get(Order, your_id)
                if order is not None and order.peer != peer.name:
                    raise NotParty(peer.name, "that order is not linked to this peer")
        if order is None:
            raise NotFound("peer order", sender_order_id)
        return order

    async def receive_status(self, peer: Peer, sender_order_id: str, doc: object) -> tuple[Order, str]:
        """The peer reports a status of its order: (our order, `applied` |
        `recorded` (not legal here now, kept as the peer's status) | `duplicate`)."""
        try:
            checked = check_status_document(doc)
        except DocumentError as exc:
            raise _doc_error(exc) from None
        if checked["order"]["id"] != sender_order_id:
            raise BadInput("order.id", "differs from the order in the path")
        order = await self._linked(peer, sender_order_id, checked["your_order"].get("id"))
        status, seq = checked["status"], checked["seq"]
        assert order.peer_side is not None
        if status not in APPLIED_BY[order.peer_side]:
            raise BadInput("status", f"{status!r} is not reported by the side that "
                                     f"{'received' if order.peer_side == 'out' else 'sent'} the order")

        def guard(current: Order) -> None:
            verdict = seq_verdict(seq, current.peer_seq)
            if verdict == "duplicate":
                raise Duplicate()
            if verdict == "gap":
                raise OutOfOrder((current.peer_seq or 0) + 1)

        now = self.orders.now()
        fields: dict[str, Any] = {"peer_status": status, "peer_seq": seq, "peer_updated_at": now,
                                  "peer_order_id": sender_order_id}
        if checked["order"].get("number"):
            fields["peer_number"] = checked["order"]["number"]
        detail: dict[str, Any] = {"peer": peer.name, "peer_status": status, "label": STATUS_LABELS[status],
                                  "seq": seq, "at": checked["at"], "by": checked["by"]}
        for key in ("reason", "handling", "result"):
            if key in checked:
                detail[key] = checked[key]
        changes = dict(fields)
        if status == "returned":
            changes["return_reason"] = checked["reason"]
            detail["work_item"] = "supervisor"  # 退单 comes back to the sender's supervisor
        if status == "feedback":
            changes["result"] = checked["result"]
        actor = f"peer:{peer.name}"
        try:
            order = await self.orders.transition(order.id, status, actor=actor, event=f"peer_{status}",
                                                 detail=detail, guard=guard, **changes)
            return order, "applied"
        except Duplicate:
            return order, "duplicate"
        except IllegalTransition as exc:
            detail["not_applied"] = f"this order is {exc.current}"
            try:
                order = await self.orders.note(order.id, actor=actor, kind="peer_status", detail=detail,
                                               guard=guard, **fields)
            except Duplicate:
                return order, "duplicate"
            log.warning("order %s: peer %s reports %s, not applied here (%s)", order.number, peer.name, status,
                        exc.current)
            return order, "recorded"

    async def acknowledged(self, item: FederationOutbox, answer: dict[str, Any]) -> None:
        """The peer took our order: record its order id, number and status on ours."""
        peer_id, number, status = answer.get("id"), answer.get("number"), answer.get("status")
        if not isinstance(peer_id, str) or not isinstance(number, str):
            return
        fields: dict[str, Any] = {"peer_order_id": peer_id[:64], "peer_number": number[:64],
                                  "peer_updated_at": self.orders.now()}
        if isinstance(status, str):
            fields["peer_status"] = status[:20]

        def unchanged_yet(current: Order) -> None:
            if current.peer_order_id == peer_id:
                raise Duplicate()

        try:
            await self.orders.note(item.order_id, actor=f"peer:{item.peer}", kind="peer_ack",
                                   detail={"peer": item.peer, "peer_number": number}, guard=unchanged_yet,
                                   **fields)
        except Duplicate:
            pass

    # --- admin -------------------------------------------------------------

    async def items(self, *, state: str | None = None, peer: str | None = None,
                    order_id: str | None = None) -> list[FederationOutbox]:
        async with self.sessions() as session:
            return await store.list_items(session, state=state, peer=peer, order_id=order_id)

    async def retry(self, item_ids: list[int] | None, actor: str) -> list[int]:
        async with self.sessions.begin() as session:
            ids = await store.retry(session, item_ids, self.orders.now())
        if ids:
            log.warning("federation outbox items %s retried by %s", ids, actor)
            self.wake()
        return ids

    async def prune(self) -> tuple[int, int]:
        """Forget the nonces older than twice the signature window (no request
        carrying them can pass the time check any more, so none can be
        replayed) and the audit lines older than `audit_days`."""
        fed = self.settings.federation
        now = self.orders.now()
        async with self.sessions.begin() as session:
            pruned = await store.prune(session, nonces_before=self.wall_now() - timedelta(seconds=fed.nonce_keep_s),
                                       exchanges_before=now - timedelta(days=fed.audit_days))
        if any(pruned):
            log.info("federation log pruned: %d nonces, %d audit lines", *pruned)
        return pruned

    async def health(self) -> list[store.LinkHealth]:
        async with self.sessions() as session:
            return [await store.link_health(session, p.name) for p in self.settings.federation.peers]
