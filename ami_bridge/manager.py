"""The AMI connection (adapter layer): one panoramisk link to Asterisk, kept alive.

`AmiManager` owns the socket: it logs in, keeps the link alive with `Ping`,
reconnects forever with exponential backoff when Asterisk goes away (restart,
crash, network) — capped at one second, so the link is back within about a
second of Asterisk accepting logins again (a refused connect costs nothing;
`reconnect_now` skips the wait when the owner knows Asterisk is back) — and
tells its owner through `on_connect` / `on_disconnect` callbacks so the owner
can resynchronise.  It knows nothing about queues,
seats or Redis; `ami_bridge.service` wires it to the live state.

panoramisk supplies the wire protocol (`AMIProtocol`: framing, ActionID
matching, multi-message responses).  Its `Manager` reconnection logic
(fixed delay, actions silently replayed after a reconnect) is not used:
an action whose connection dropped fails with `AmiNotConnected`, it is never
replayed minutes later against a different call.

Exceptions::

    AmiError                 base of everything raised here
    ├── AmiNotConnected      the link is down, or dropped before the answer
    ├── AmiTimeout           no complete answer within the timeout
    └── AmiLoginFailed       Asterisk refused the user/secret (retried with backoff)
    core.safety.UnsafeValue  a header name or value would break the AMI framing
                             (CR/LF, control characters); nothing was sent

Responses with `Response: Error` are *returned*, not raised: the caller
decides what an error means for its action.
"""
from __future__ import annotations

import asyncio
import codecs
import fnmatch
import logging
import random
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote

from panoramisk import actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

from agi.background import cancel_all, wait_for
from core.safety import UnsafeValue, check_line

log = logging.getLogger(__name__)

AmiMessage = dict[str, Any]
"""One AMI response or event: header name -> value (a list when repeated)."""

EventHandler = Callable[[AmiMessage], Awaitable[None] | None]
LinkCallback = Callable[[], Awaitable[None] | None]

_HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
_MAX_VALUE_LEN = 4096
# Asterisk's ast_true(): the spellings it accepts for "yes".
_AST_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})


# how long the first Login after a drop may take (doubling on each failure, up
# to connect_timeout_s)
LOGIN_TIMEOUT_FIRST_S = 0.5


class AmiError(Exception):
    """Base of the errors raised by the AMI connection."""


class AmiNotConnected(AmiError):
    """The AMI link is down (or dropped before the response arrived)."""


class AmiTimeout(AmiError):
    """Asterisk did not complete its response in time."""


class AmiLoginFailed(AmiError):
    """Asterisk refused the login (wrong user or secret, or ACL)."""


# --------------------------------------------------------------------------
# panoramisk 1.4 workaround -- the one place.
#
# `Action.multi` decides whether a response is followed by more messages.  For
# a response whose Message ends in "successfully queued" (PlayDTMF, Atxfer,
# Originate, SendFlash...) it evaluates `self['async'] != 'false'`, which raises
# KeyError when the action has no Async header.  The KeyError escapes
# `AMIProtocol.data_received`, asyncio closes the transport, and the whole AMI
# link drops on every DTMF.  It also compares case-sensitively, so `Async: no`
# would wait forever for an OriginateResponse that Asterisk never sends.
# Asterisk itself reads Async with ast_true(); we do the same, absent = false.
# Nothing changes on the wire: no header is added to any action.
# --------------------------------------------------------------------------
class _SafeMulti:
    responses: list[Message]
    as_list: bool | None

    @property
    def multi(self) -> bool:
        resp = self.responses[0]
        msg = resp.message.lower()
        if self.as_list is not None:
            return bool(self.as_list)
        if resp.subevent == "Start":
            return True
        if "EventList" in resp and resp["EventList"] == "start":
            return True
        if "will follow" in msg:
            return True
        if msg.startswith("added") and msg.endswith("to queue"):
            return True
        if msg.endswith("successfully queued"):
            # Async Originate: the ack is followed by an OriginateResponse event.
            return str(self.get("async", "")).strip().lower() in _AST_TRUE  # type: ignore[attr-defined]
        return False


class SafeAction(_SafeMulti, actions.Action):
    """panoramisk Action with the `successfully queued` fix."""


class SafeCommand(_SafeMulti, actions.Command):
    """panoramisk Command (Action: Command) with the same fix."""


class _Utf8Protocol(AMIProtocol):
    """AMIProtocol that decodes UTF-8 across TCP reads and reads events itself.

    panoramisk decodes every chunk on its own with errors='ignore', so a
    Chinese caller name split between two reads loses characters: the bytes
    are decoded here, incrementally.

    An event that answers no action (no `ActionID`) — the stream a busy
    Asterisk sends, dozens a call — becomes a plain dict here, with the
    same headers panoramisk's `Message` would give (a repeated header such as
    `ChanVariable` as a list), and goes to the owner's handlers directly:
    panoramisk's case-insensitive message, built and then copied for every
    event, cost the bridge more than everything else it does with one.
    Responses, the events of a list answer, and `Shutdown` take panoramisk's
    path as before.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self.version: str | None = None
        self.heard_at = time.monotonic()  # when Asterisk last sent anything (the keepalive's proof of life)

    def data_received(self, data: bytes) -> None:
        self.heard_at = time.monotonic()
        text = self._pending + self._decoder.decode(data)
        if self.version is None and text.startswith(_BANNER) and "\r\n" in text:
            self.version = text[len(_BANNER):text.index("\r\n")].strip()
            self.log.info("protocol version: '%s'", self.version)
        blocks = text.split("\r\n\r\n")
        self._pending = blocks.pop()
        for block in blocks:
            block = block.strip()
            if block.startswith("Event: ") and "\r\nActionID: " not in block \
                    and not block.startswith("Event: Shutdown\r\n"):
                self.factory.dispatch_headers(parse_event(block))
                continue
            message = Message.from_line(block)
            if message is not None:
                self.handle_message(message)

    def close(self) -> None:
        # panoramisk would move unanswered actions to a replay list (and log
        # them, a Login with its secret included).  `AmiManager` fails them.
        self.responses.clear()
        super().close()


_BANNER = "Asterisk Call Manager/"


def parse_event(block: str) -> AmiMessage:
    """One AMI message's text (CRLF lines, no blank line) as headers, read as
    panoramisk's `Message.from_line` reads them: `Name: value` lines, a name
    seen again collects its values in a list, `Result` URL-decoded, a line
    without ": " ignored."""
    headers: AmiMessage = {}
    for line in block.split("\r\n"):
        name, sep, value = line.partition(": ")
        if not sep:
            continue
        seen = headers.get(name)
        if seen is None:
            headers[name] = value
        elif isinstance(seen, list):
            seen.append(value)
        else:
            headers[name] = [seen, value]
    result = headers.get("Result")
    if isinstance(result, str):
        headers["Result"] = unquote(result).strip()
    return headers


class _Link(Manager):
    """The panoramisk factory object the protocol talks back to.

    Only `dispatch` (events) and `connection_lost` are used; connecting,
    login and keep-alive belong to `AmiManager`.
    """

    def __init__(self, owner: AmiManager, **config: Any) -> None:
        super().__init__(**config)
        self._owner = owner

    def dispatch(self, event: Message) -> list[str]:
        self._owner._dispatch(_as_dict(event))
        return []

    def dispatch_headers(self, event: AmiMessage) -> None:
        self._owner._dispatch(event)

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        if self._owner._link is self:  # not a late call from an older socket
            self._owner._link_lost(exc)


def checked_action(action: Mapping[str, object]) -> dict[str, str | list[str]]:
    """Return the action with every header name and value checked and as text.

    Raises `UnsafeValue` (naming the header) for a CR/LF or other control
    character, an over-long value, a bad header name or a missing `Action`.
    """
    if not any(isinstance(k, str) and k.lower() == "action" for k in action):
        raise UnsafeValue("Action", "missing")
    out: dict[str, str | list[str]] = {}
    for key, value in action.items():
        if not isinstance(key, str) or not _HEADER_NAME.match(key):
            raise UnsafeValue(repr(key)[:40], "not a valid AMI header name")
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        texts: list[str] = []
        for item in values:
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif isinstance(item, int):
                item = str(item)
            if not isinstance(item, str):
                raise UnsafeValue(key, "must be a string or a number")
            texts.append(check_line(key, item, max_len=_MAX_VALUE_LEN))
        out[key] = texts if isinstance(value, (list, tuple)) else texts[0]
    return out


def _as_dict(message: Message) -> AmiMessage:
    data = {k: v for k, v in message.items() if k != "content"}
    content = message.get("content", "")
    if content:
        data["content"] = content
    return data


def _event_regex(pattern: str) -> str:
    """An fnmatch pattern of event names (letters, digits, `_`) as an AMI
    legacy filter: a POSIX ERE on the event's text, which starts with its
    `Event:` line."""
    word = "[A-Za-z0-9_]"
    out = []
    for c in pattern:
        if c == "*":
            out.append(word + "*")
        elif c == "?":
            out.append(word)
        elif c.isalnum() or c == "_":
            out.append(c)
        else:
            raise ValueError(f"event pattern {pattern!r}: only letters, digits, _, * and ?")
    return "^Event: " + "".join(out) + "[^A-Za-z0-9_]"


# Events a filtering link always lets through: the end of an async Originate
# comes as an event with the action's ActionID.
ALWAYS_WANTED = ("OriginateResponse",)


class AmiManager:
    """A self-healing AMI client.

    >>> ami = AmiManager("127.0.0.1", 5038, "hotline", secret)
    >>> ami.on_event("QueueCaller*", handler)
    >>> ami.on_connect(resync)
    >>> await ami.start()
    >>> await ami.send({"Action": "PlayDTMF", "Channel": chan, "Digit": "1"})
    >>> await ami.close()
    """

    # Pings left unanswered in a row, Asterisk sending all the while, before the
    # link is dropped all the same (each waits `ping_interval_s`: 30 s by default)
    PING_MISSES = 3

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        connect_timeout_s: float = 5.0,
        action_timeout_s: float = 10.0,
        ping_interval_s: float = 10.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 1.0,
        filter_events: bool = False,
    ) -> None:
        check_line("ami_user", username)
        check_line("ami_secret", secret)
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.connect_timeout_s = connect_timeout_s
        self.action_timeout_s = action_timeout_s
        self.ping_interval_s = ping_interval_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._handlers: list[tuple[str, EventHandler]] = []
        self._by_name: dict[str, list[EventHandler]] = {}  # event name -> its handlers (cleared on change)
        self._on_connect: list[LinkCallback] = []
        self._on_disconnect: list[LinkCallback] = []
        self._protocol: AMIProtocol | None = None
        self._link: _Link | None = None
        self._lost: asyncio.Future[None] | None = None
        self._logged_in = False
        self._closing = False
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._inflight: set[asyncio.Future[Any]] = set()
        self._connected_event = asyncio.Event()
        self._retry_now = asyncio.Event()
        # Ask Asterisk only for the events some handler wants (AMI `Filter`, per
        # session, sent at each login and when a handler is added): the dialplan's
        # Newexten/VarSet flood is never sent, parsed or dropped here.  Off when a
        # handler wants everything ("*").
        self.filter_events = filter_events
        self._filtered: set[str] = set()
        self.connections = 0  # successful logins so far (tests, metrics)
        self.pings_late = 0  # late pings the link was kept through (metrics)
        self.events_received: Counter[str] = Counter()  # by event name (tests, metrics)
        self.asterisk_protocol_version: str | None = None

    # ---------------------------------------------------------------- API

    @property
    def connected(self) -> bool:
        """True while logged in on a live socket."""
        return self._logged_in and self._protocol is not None and not self._protocol.closed

    def on_event(self, pattern: str, handler: EventHandler) -> None:
        """Call `handler(event)` for events whose name matches `pattern`
        (fnmatch, case-sensitive as Asterisk names them; "*" for all).
        A coroutine handler runs as a task; its errors are logged."""
        if self.filter_events and pattern == "*":
            raise ValueError("a link that filters events cannot also hand out every event ('*')")
        self._handlers.append((pattern, handler))
        self._by_name.clear()
        if self.filter_events and self.connected and pattern not in self._filtered:
            self._track(asyncio.ensure_future(self._add_filters([pattern])))

    def off_event(self, pattern: str, handler: EventHandler) -> None:
        """Stop calling `handler` for `pattern` (registered with `on_event`)."""
        self._handlers = [(p, h) for p, h in self._handlers if not (p == pattern and h == handler)]
        self._by_name.clear()

    def on_connect(self, callback: LinkCallback) -> None:
        """Called after every successful login (first connection and each reconnect)."""
        self._on_connect.append(callback)

    def on_disconnect(self, callback: LinkCallback) -> None:
        """Called as soon as an established link is lost."""
        self._on_disconnect.append(callback)

    def off_connect(self, callback: LinkCallback) -> None:
        """Stop calling `callback` on login (registered with `on_connect`)."""
        self._on_connect = [c for c in self._on_connect if c != callback]

    def reconnect_now(self) -> None:
        """Try to connect at once instead of after the backoff (Asterisk is back)."""
        self._retry_now.set()

    async def start(self) -> None:
        """Start connecting in the background; returns at once (see `wait_connected`)."""
        if self._runner is None:
            self._closing = False
            self._runner = asyncio.create_task(self._run(), name="ami-link")

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until logged in; raises `AmiTimeout` after `timeout` seconds."""
        try:
            await wait_for(self._connected_event.wait(), timeout)
        except TimeoutError:
            raise AmiTimeout(f"AMI {self.host}:{self.port} not connected after {timeout}s") from None

    async def send(self, action: Mapping[str, object], *, timeout: float | None = None,
                   ack_only: bool = False) -> list[AmiMessage] | AmiMessage:
        """Send one action and return its response.

        A single response comes back as a dict; a list response (QueueStatus,
        CoreShowChannels, async Originate...) as a list of dicts, the first
        being the `Response:` message.  `ack_only=True` returns on the first
        message — for an async Originate, the "successfully queued" ack, not
        the OriginateResponse that comes when (or if) the call is answered;
        that one then arrives as an ordinary event.  Every header is checked
        for CR/LF first (`UnsafeValue`, nothing sent).
        """
        fields = checked_action(action)
        protocol = self._protocol
        if not self.connected or protocol is None:
            raise AmiNotConnected(f"AMI link to {self.host}:{self.port} is down")
        return await self._send_on(protocol, fields, timeout, ack_only)

    async def close(self) -> None:
        """Stop reconnecting, drop the link, fail actions still waiting."""
        self._closing = True
        runner, self._runner = self._runner, None
        self._drop("closing")
        if runner is not None:
            await cancel_all([runner])
        await cancel_all(list(self._tasks))  # after the runner's end: what it started on its way out too
        self._fail_inflight("AMI manager closed")

    # ---------------------------------------------------------- internals

    async def _send_on(self, protocol: AMIProtocol, fields: dict[str, str | list[str]],
                       timeout: float | None, ack_only: bool = False) -> list[AmiMessage] | AmiMessage:
        name = next(v for k, v in fields.items() if k.lower() == "action")
        act = SafeCommand(fields) if str(name).lower() == "command" else SafeAction(fields)
        # as_list=None: let `multi` decide (protocol.send defaults to False,
        # which would cut every list response after its first message).
        future = protocol.send(act, as_list=False if ack_only else None)
        self._inflight.add(future)
        try:
            result = await wait_for(future, timeout or self.action_timeout_s)
        except TimeoutError:
            protocol.responses.pop(act.id, None)
            protocol.responses.pop(act.action_id, None)
            raise AmiTimeout(f"no complete response to {name!r}") from None
        finally:
            self._inflight.discard(future)
        if isinstance(result, list):
            return [_as_dict(m) for m in result]
        return _as_dict(result)

    async def _add_filters(self, patterns: list[str]) -> None:
        """Let this session's events through for `patterns` (AMI `Filter`):
        an exact name by Asterisk's name match, a pattern as a regex on the
        `Event:` line.  A failure is logged; the handlers still check names."""
        for pattern in dict.fromkeys(patterns):
            if pattern in self._filtered:
                continue
            if any(c in pattern for c in "*?"):
                action = {"Action": "Filter", "Operation": "Add", "Filter": _event_regex(pattern)}
            else:
                action = {"Action": "Filter", "Operation": "Add", "MatchCriteria": f"name({pattern})"}
            try:
                reply = await self.send(action)
            except AmiError as exc:
                log.warning("AMI filter for %s not set (%s): the link stays quiet for it", pattern, exc)
                continue
            first = reply[0] if isinstance(reply, list) else reply
            if first.get("Response") != "Success":
                log.warning("AMI filter for %s refused: %s", pattern, first.get("Message"))
                continue
            self._filtered.add(pattern)

    async def _run(self) -> None:
        delay = self.backoff_initial_s
        failed = 0  # attempts in a row
        while not self._closing:
            try:
                # A live manager answers a Login in milliseconds.  One that does not
                # may be an Asterisk on its way out (`core restart`: the old process
                # still accepts, never answers): the first attempt after a drop
                # gives up soon, later ones wait longer (a loaded Asterisk).
                await self._open(min(self.connect_timeout_s, LOGIN_TIMEOUT_FIRST_S * 2 ** failed))
            except asyncio.CancelledError:
                raise
            except (TimeoutError, OSError, AmiError) as exc:
                failed += 1
                self._drop("connect failed")
                if self._closing:
                    return
                log.warning("AMI %s:%s: connect/login failed (%s); retrying in %.1fs",
                            self.host, self.port, str(exc) or type(exc).__name__, delay)
                try:
                    await wait_for(self._retry_now.wait(), delay * random.uniform(0.8, 1.2))
                except TimeoutError:
                    pass
                self._retry_now.clear()
                # a refused login is a configuration matter: no need to ask every second
                delay = min(delay * 2, 30.0 if isinstance(exc, AmiLoginFailed) else self.backoff_max_s)
                continue
            delay = self.backoff_initial_s
            failed = 0
            self.connections += 1
            log.info("AMI %s:%s: logged in as %s (connection %d)",
                     self.host, self.port, self.username, self.connections)
            self._connected_event.set()
            self._fire(self._on_connect)
            await self._keepalive()
            self._logged_in = False
            self._connected_event.clear()
            self._fail_inflight("AMI link lost")
            if self._closing:
                return
            log.warning("AMI %s:%s: link lost; reconnecting", self.host, self.port)
            self._fire(self._on_disconnect)

    async def _open(self, login_timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        link = _Link(self, host=self.host, port=self.port, loop=loop, log=log)
        _transport, protocol = await wait_for(
            loop.create_connection(_Utf8Protocol, self.host, self.port), self.connect_timeout_s)
        # What panoramisk's Manager.connection_made would set up.
        protocol.factory = link
        protocol.log = log
        protocol.config = link.config
        protocol.encoding = link.encoding = "utf-8"
        protocol.queue = deque()
        protocol.responses = link.responses = {}
        link.protocol = protocol
        self._link, self._protocol = link, protocol
        login = checked_action({"Action": "Login", "Username": self.username,
                                "Secret": self._secret, "Events": "on"})
        response = await self._send_on(protocol, login, login_timeout_s)
        assert isinstance(response, dict)
        if response.get("Response") != "Success":
            raise AmiLoginFailed(f"user {self.username!r}: {response.get('Message', 'refused')}")
        self.asterisk_protocol_version = protocol.version
        self._logged_in = True
        if self.filter_events:
            self._filtered = set()
            await self._add_filters([p for p, _ in self._handlers] + list(ALWAYS_WANTED))

    async def _keepalive(self) -> None:
        """Ping every `ping_interval_s`; a Ping unanswered within as long drops
        the link, unless Asterisk sent something meanwhile: its session thread
        writes the events between actions, so it runs, and an overloaded
        Asterisk answering late is not helped by a new login and a full resync
        on top of its load.  `PING_MISSES` unanswered in a row drop it anyway."""
        lost = self._lost
        assert lost is not None
        misses = 0
        while not lost.done():
            if not misses:  # after a late one, the next ping goes at once
                done, _ = await asyncio.wait({lost}, timeout=self.ping_interval_s)
                if done:
                    return
            protocol = self._protocol
            if protocol is None:
                return
            try:
                await self.send({"Action": "Ping"}, timeout=self.ping_interval_s)
                misses = 0
                continue
            except AmiTimeout as exc:
                misses += 1
                reason = str(exc)
            except AmiError as exc:
                misses, reason = self.PING_MISSES, str(exc)
            heard_s = time.monotonic() - getattr(protocol, "heard_at", float("-inf"))
            if misses < self.PING_MISSES and heard_s < self.ping_interval_s:
                log.warning("AMI %s:%s: ping unanswered for %.0f s (%d in a row) while Asterisk still sends "
                            "(%.1f s ago): a busy Asterisk, the link is kept", self.host, self.port,
                            self.ping_interval_s, misses, heard_s)
                self.pings_late += 1
                continue
            log.warning("AMI %s:%s: ping failed (%s); dropping the link", self.host, self.port, reason)
            self._drop("ping failed")

    def _drop(self, reason: str) -> None:
        protocol, self._protocol = self._protocol, None
        self._logged_in = False
        if protocol is not None and not protocol.closed:
            log.debug("AMI: closing socket (%s)", reason)
            protocol.close()
        # panoramisk's replay list stays empty: such actions fail instead.
        if self._link is not None:
            self._link.awaiting_actions.clear()
        self._fail_inflight(f"AMI link dropped ({reason})")
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def _link_lost(self, exc: object) -> None:
        log.debug("AMI: connection lost (%r)", exc)
        self._drop("connection lost")

    def _fail_inflight(self, why: str) -> None:
        for future in list(self._inflight):
            if not future.done():
                future.set_exception(AmiNotConnected(why))
        self._inflight.clear()

    def _dispatch(self, event: AmiMessage) -> None:
        name = str(event.get("Event", ""))
        self.events_received[name] += 1
        handlers = self._by_name.get(name)
        if handlers is None:
            handlers = self._by_name[name] = [h for p, h in self._handlers if fnmatch.fnmatchcase(name, p)]
        for handler in list(handlers):  # a handler may add or remove handlers
            try:
                result = handler(event)
            except Exception:
                log.exception("AMI event handler %r failed on %s", handler, name)
                continue
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                self._track(asyncio.ensure_future(result))

    def _fire(self, callbacks: list[LinkCallback]) -> None:
        for callback in callbacks:
            try:
                result = callback()
            except Exception:
                log.exception("AMI link callback %r failed", callback)
                continue
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                self._track(asyncio.ensure_future(result))

    def _track(self, task: asyncio.Future[Any]) -> None:
        self._tasks.add(task)

        def done(t: asyncio.Future[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("AMI callback task failed", exc_info=t.exception())

        task.add_done_callback(done)
