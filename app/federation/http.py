"""HTTP of the federation: the peers' signed API and the admin's view of the outbox (HTTP layer).

Peer routes (signed per peer, not bearer tokens — `app.web.auth` lets them
through and `peer_signed` checks them):

    POST /api/federation/orders                      a peer hands an order over (201 new, 200 already here)
    POST /api/federation/orders/{order_id}/status    a peer reports a status of its order `order_id`

A peer request carries `X-Hotline-Peer` (its name), `X-Hotline-Timestamp`
(Unix seconds), `X-Hotline-Nonce` and `X-Hotline-Signature: v1=<hex
HMAC-SHA256>` over method, path, timestamp, nonce and the body's SHA-256
(`core.federation.canonical_request`).  Unknown peer, bad signature, a time
outside the window or a nonce seen before: 401.  An order the peer is not
party to: 403.  Every signed request is logged (peer, time, path, body digest,
answer).

Admin routes (bearer tokens):

    GET  /api/federation/outbox?state=failed          items to push, pushed, failed (supervisor)
    POST /api/federation/outbox/{item_id}/retry      a failed item gets fresh tries (admin)
    POST /api/federation/outbox/retry                every failed item (admin)
    GET  /api/federation/status                      per peer: queue depth, oldest unsent, last error
"""
from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from app.federation import store
from app.federation.services import FederationService, NotParty, OutOfOrder
from app.runtime.models import FederationOutbox
from app.web.auth import principal, requires
from app.web.errors import BadInput, NotFound
from app.web.input import line, parse_query, path_key
from app.web.keys import SESSIONS, SETTINGS
from core.federation import (
    HEADER_NONCE,
    HEADER_PEER,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    ORDER_FIELDS,
    ORDER_REQUIRED,
    STATUS_LABELS,
    body_digest,
    check_nonce,
    check_timestamp,
    signature_matches,
)
from core.settings import Peer

log = logging.getLogger(__name__)

FEDERATION = web.AppKey("federation", FederationService)
PEER = web.RequestKey("peer", Peer)
BODY = web.RequestKey("peer_body", bytes)

routes = web.RouteTableDef()

MAX_BODY = 64 * 1024


def _refuse(reason: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(reason=reason, headers={"WWW-Authenticate": 'HMAC realm="hotline-federation"'})


def peer_signed(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Check the request's peer signature before `handler` runs; log it and its answer.
    `app.web.auth` lets a handler marked so through without a bearer token."""

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        settings = request.app[SETTINGS]
        fed = settings.federation
        name = request.headers.get(HEADER_PEER, "")
        timestamp = request.headers.get(HEADER_TIMESTAMP, "")
        nonce = request.headers.get(HEADER_NONCE, "")
        signature = request.headers.get(HEADER_SIGNATURE, "")
        if not (name and timestamp and nonce and signature):
            raise _refuse("unsigned request: X-Hotline-Peer, -Timestamp, -Nonce and -Signature are required")
        peer = fed.peer(name)
        if peer is None:
            log.warning("federation request from unknown peer %r on %s refused", name[:64], request.path)
            raise _refuse("unknown peer")
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
        body = await request.read()
        why = check_timestamp(timestamp, time.time(), fed.window_s) or check_nonce(nonce)
        if why is None and not signature_matches(peer.secret, signature, request.method, request.path, timestamp,
                                                 nonce, body):
            why = "bad signature"
        if why is not None:
            log.warning("federation request from %s on %s refused: %s", peer.name, request.path, why)
            raise _refuse(why)
        sessions = request.app[SESSIONS]
        service = request.app[FEDERATION]
        try:
            async with sessions.begin() as session:
                await store.record_request(session, peer=peer.name, nonce=nonce, at=service.orders.now(),
                                           method=request.method, path=request.path, body_sha256=body_digest(body))
        except IntegrityError:
            log.warning("federation request from %s on %s refused: nonce replayed", peer.name, request.path)
            raise _refuse("nonce already used (replayed request)")
        request[PEER] = peer
        request[BODY] = body
        status, note = 500, None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status, note = exc.status, exc.reason
            raise
        except Exception as exc:
            status, note = getattr(exc, "status", 400 if isinstance(exc, BadInput) else 500), str(exc)
            raise
        finally:
            try:
                async with sessions.begin() as session:
                    await store.record_answer(session, peer.name, nonce, status, note)
            except Exception:
                log.exception("could not log the answer to %s's request %s", peer.name, nonce)

    checked.__hotline_peer__ = True  # type: ignore[attr-defined]
    return checked


def _document(request: web.Request) -> Any:
    try:
        return json.loads(request[BODY])
    except ValueError:
        raise BadInput("body", "not valid JSON") from None


def _forbidden(exc: NotParty) -> web.HTTPForbidden:
    return web.HTTPForbidden(reason=exc.reason)


def _peer_view(order: Any) -> dict[str, Any]:
    """What a peer is told of our order: its id, number and status (no citizen data)."""
    return {"id": order.id, "number": order.number, "status": order.status, "peer_order_id": order.peer_order_id}


@routes.post("/api/federation/orders")
@peer_signed
async def receive_order(request: web.Request) -> web.Response:
    """A peer platform hands an order over (工单 to 警单 or back); re-sending it gives the same order."""
    try:
        order, created = await request.app[FEDERATION].receive_order(request[PEER], _document(request))
    except NotParty as exc:
        raise _forbidden(exc) from None
    return web.json_response(_peer_view(order), status=201 if created else 200)


@routes.post("/api/federation/orders/{order_id}/status")
@peer_signed
async def receive_status(request: web.Request) -> web.Response:
    """A peer reports 签收 / 退单 / 反馈 / 办结 (or re-dispatch, withdrawal) of its order."""
    try:
        order, outcome = await request.app[FEDERATION].receive_status(
            request[PEER], path_key(request, "order_id"), _document(request))
    except NotParty as exc:
        raise _forbidden(exc) from None
    except OutOfOrder as exc:
        return web.json_response({"error": str(exc), "expected_seq": exc.expected}, status=409)
    return web.json_response({**_peer_view(order), "outcome": outcome})


_TEXT = {"type": "string"}
_SENDER = {"type": "object", "required": ["platform"], "properties": {
    "platform": _TEXT, "unit": _TEXT,
    "org_code": {"type": "string", "pattern": "^[0-9A-HJ-NPQRTUWXY]{18}$", "description": "统一社会信用代码"},
    "division_code": {"type": "string", "pattern": "^[1-9][0-9]{5}([0-9]{3}([0-9]{3})?)?$",
                      "description": "行政区划代码"}}}
ORDER_DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["version", "kind", "seq", "sender", "order"],
    "description": "core.federation.order_document",
    "properties": {
        "version": {"type": "integer", "enum": [1]}, "kind": {"type": "string", "enum": ["order"]},
        "seq": {"type": "integer", "enum": [1]}, "sent_at": _TEXT, "sender": _SENDER,
        "order": {"type": "object", "required": sorted(ORDER_REQUIRED),
                  "properties": {**{k: {"type": "string", "maxLength": n} for k, n in ORDER_FIELDS.items()},
                                 "emergency": {"type": "boolean"}}}}}
STATUS_DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["version", "kind", "seq", "status", "at", "sender", "order", "your_order", "by"],
    "description": "core.federation.status_document",
    "properties": {
        "version": {"type": "integer", "enum": [1]}, "kind": {"type": "string", "enum": ["status"]},
        "seq": {"type": "integer", "minimum": 1}, "status": {"type": "string", "enum": sorted(STATUS_LABELS)},
        "at": _TEXT, "sender": _SENDER,
        "order": {"type": "object", "required": ["id"], "properties": {"id": _TEXT, "number": _TEXT}},
        "your_order": {"type": "object", "properties": {"id": _TEXT, "number": _TEXT}},
        "by": {"type": "object", "properties": {"name": _TEXT, "unit": _TEXT, "unit_code": _TEXT}},
        "reason": {"type": "string", "maxLength": 256, "description": "退单 reason (required for returned)"},
        "handling": {"type": "string", "maxLength": 4000, "description": "反馈 处置情况"},
        "result": {"type": "string", "maxLength": 4000, "description": "反馈 result (required for feedback)"}}}


def item_view(item: FederationOutbox) -> dict[str, Any]:
    return {"id": item.id, "peer": item.peer, "order_id": item.order_id, "seq": item.seq, "kind": item.kind,
            "status": item.document.get("status"), "state": item.state, "attempts": item.attempts,
            "created_at": item.created_at.isoformat(), "next_attempt_at": item.next_attempt_at.isoformat(),
            "sent_at": item.sent_at.isoformat() if item.sent_at else None, "last_error": item.last_error}


OUTBOX_QUERY = {
    "state": line("pending, sent or failed", 8, enum=store.STATES),
    "peer": line("Peer platform name", 64),
    "order_id": line("Order id", 36),
}


@routes.get("/api/federation/outbox")
@requires("supervisor")
async def list_outbox(request: web.Request) -> web.Response:
    query = parse_query(request.query, OUTBOX_QUERY, UTC)
    items = await request.app[FEDERATION].items(**query)
    return web.json_response({"items": [item_view(i) for i in items]})


@routes.post("/api/federation/outbox/retry")
@requires("admin")
async def retry_all(request: web.Request) -> web.Response:
    ids = await request.app[FEDERATION].retry(None, principal(request).actor)
    return web.json_response({"retried": ids})


ITEM_ID_PATTERN = r"^[0-9]{1,9}$"


@routes.post("/api/federation/outbox/{item_id}/retry")
@requires("admin")
async def retry_one(request: web.Request) -> web.Response:
    # at most 9 digits: the id column is a 32-bit integer (PostgreSQL refuses more)
    raw = path_key(request, "item_id", 9, ITEM_ID_PATTERN)
    ids = await request.app[FEDERATION].retry([int(raw)], principal(request).actor)
    if not ids:
        raise NotFound("failed outbox item", raw)
    return web.json_response({"retried": ids})


@routes.get("/api/federation/status")
@requires("supervisor")
async def link_status(request: web.Request) -> web.Response:
    """Per peer: the push queue's depth, failed items, the oldest unsent item, the last error."""
    return web.json_response({"peers": [h.as_dict() for h in await request.app[FEDERATION].health()]})


