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
answer); refused ones are counted, and the first ones per client address are
logged too (`app.federation.refusals`).

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
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from app.federation import store
from app.federation.health import link_status as peers_link_status
from app.federation.services import FederationService, NotParty, OutOfOrder
from app.runtime.models import FederationOutbox
from app.web.auth import principal, requires
from app.web.errors import BadInput, NotFound
from app.web.input import line, parse_query, path_key
from app.web.keys import REDIS, SESSIONS, SETTINGS
from core.federation import (
    ORDER_FIELDS,
    ORDER_REQUIRED,
    STATUS_LABELS,
    body_digest,
    check_nonce,
    check_timestamp,
    signature_matches,
)
from core.federation_mapping import HOTLINE_AUTH, AuthHeaders, answer_to_foreign
from core.settings import Peer

log = logging.getLogger(__name__)

FEDERATION = web.AppKey("federation", FederationService)
PEER = web.RequestKey("peer", Peer)
BODY = web.RequestKey("peer_body", bytes)

routes = web.RouteTableDef()

MAX_BODY = 64 * 1024


def auth_headers(peer: Peer | None) -> AuthHeaders:
    """The header names `peer` signs with: its mapping's, or hotline-link's."""
    return peer.mapping.auth if peer is not None and peer.mapping is not None else HOTLINE_AUTH


def _refuse(reason: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(reason=reason, headers={"WWW-Authenticate": 'HMAC realm="hotline-federation"'})


def peer_signed(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Check the request's peer signature before `handler` runs; log it and its answer.
    `app.web.auth` lets a handler marked so through without a bearer token.

    A hotline-link peer names itself in `X-Hotline-Peer`; a foreign peer
    (a route with `{peer}` in its path) is named by the path and signs with
    the header names its mapping declares (`core.federation_mapping`).
    Every signed request is a line of the audit log (`FederationExchange`:
    who, when, what, the answer); a refused one too, unless its address or
    all addresses together have had their share of lines this minute
    (`app.federation.refusals`: then it is only counted)."""

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        settings = request.app[SETTINGS]
        fed = settings.federation
        sessions = request.app[SESSIONS]
        service = request.app[FEDERATION]
        path_peer = request.match_info.get("peer")
        names = auth_headers(fed.peer(path_peer) if path_peer else None)
        name: str = path_peer or request.headers.get(names.peer, "") or ""
        timestamp = request.headers.get(names.timestamp, "")
        nonce = request.headers.get(names.nonce, "")
        signature = request.headers.get(names.signature, "")
        body = b""
        peer = fed.peer(name) if name else None

        async def audit(answer: int | None, note: str | None) -> None:
            try:
                async with sessions.begin() as session:
                    await store.record_exchange(session, peer=name[:64] or "-", direction="in",
                                                at=service.orders.now(), method=request.method,
                                                path=request.path, nonce=nonce[:64], body_sha256=body_digest(body),
                                                answer=answer, note=note)
            except Exception:
                log.exception("could not log %s's request on %s", name[:64], request.path)

        async def refuse(reason: str) -> web.HTTPUnauthorized:
            # not proven a peer: the first refusals are written down, a flood is only counted
            unwritten = service.refusals.admit(request.remote or "-", reason)
            if unwritten is not None:
                more = f" ({unwritten} more from this address not written)" if unwritten else ""
                log.warning("federation request from %r (%s) on %s refused: %s%s", name[:64], request.remote,
                            request.path, reason, more)
                await audit(401, reason + more)
            return _refuse(reason)

        if path_peer and (peer is None or peer.mapping is None):
            raise await refuse("unknown peer")  # a foreign route is only for a peer speaking a mapping
        if not (name and timestamp and nonce and signature):
            raise await refuse(f"unsigned request: {names.peer}, {names.timestamp}, {names.nonce} and "
                               f"{names.signature} are required" if not path_peer else
                               f"unsigned request: {names.timestamp}, {names.nonce} and {names.signature} are required")
        if peer is None or (peer.mapping is not None and not path_peer):
            raise await refuse("unknown peer")
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
        body = await request.read()
        why = check_timestamp(timestamp, service.wall(), fed.window_s) or check_nonce(nonce)
        if why is None and not signature_matches(peer.secret, signature, request.method, request.path, timestamp,
                                                 nonce, body, prefix=names.prefix):
            why = "bad signature"
        if why is not None:
            raise await refuse(why)
        try:
            async with sessions.begin() as session:
                await store.record_request(session, peer=peer.name, nonce=nonce, at=service.wall_now(),
                                           method=request.method, path=request.path, body_sha256=body_digest(body))
        except IntegrityError:
            raise await refuse("nonce already used (replayed request)") from None
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
            try:  # the answer on the nonce's line and in the audit log, one transaction
                async with sessions.begin() as session:
                    await store.record_answer(session, peer.name, nonce, status, note)
                    await store.record_exchange(session, peer=peer.name, direction="in", at=service.orders.now(),
                                                method=request.method, path=request.path, nonce=nonce,
                                                body_sha256=body_digest(body), answer=status, note=note)
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


@routes.post("/api/federation/peers/{peer}/orders")
@peer_signed
async def receive_foreign_order(request: web.Request) -> web.Response:
    """A foreign peer (one that speaks a mapping, e.g. a 110 command-centre system's
    接警单) hands an order over in its own field names; answered in them too."""
    peer = request[PEER]
    assert peer.mapping is not None
    try:
        order, created = await request.app[FEDERATION].receive_foreign_order(peer, _document(request))
    except NotParty as exc:
        raise _forbidden(exc) from None
    return web.json_response(answer_to_foreign(_peer_view(order), peer.mapping), status=201 if created else 200)


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
        "by": {"type": "object", "properties": {"name": _TEXT}, "description": "who made the order"},
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
    """Per peer: its trunk's qualify state, the push queue's depth, failed items,
    the oldest unsent item and its age, the last error (`app.federation.health`)."""
    service = request.app[FEDERATION]
    return web.json_response({"peers": await peers_link_status(service, request.app.get(REDIS), service.orders.now())})


