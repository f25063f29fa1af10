"""Protocol tier: a fake Asterisk speaking the real AMI wire protocol.

`FakeAmi` listens on 127.0.0.1 (free port), sends the banner Asterisk 22 sends
("Asterisk Call Manager/11.0.0"), checks the Login, and answers each action
by replaying a transcript recorded from Asterisk 22.10.1
(`transcripts/*.ami`, LF turned into CRLF, ActionID set to the request's).
Tests push recorded event streams, drop the socket, or stop listening to
play an Asterisk restart.  Real Redis, one key prefix per test.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from ami_bridge.service import AmiBridge
from core.centres import parse_centres
from core.settings import (
    AmiSettings,
    NetworkSettings,
    RedisSettings,
    Settings,
    SiteSettings,
)
from tests.support import waiting

TRANSCRIPTS = Path(__file__).resolve().parent / "transcripts"
AMI_USER = "hotline"
AMI_SECRET = "protocol-test-secret"
REDIS_URL = "redis://127.0.0.1:6379/0"
_ACTION_ID = re.compile(r"^ActionID: [^\r\n]*", re.M)


def wire(name: str) -> str:
    """A transcript file as AMI bytes-to-be: CRLF lines, blank line after each message."""
    text = (TRANSCRIPTS / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    blocks = [b.strip("\n") for b in "\n".join(lines).split("\n\n") if b.strip()]
    return "".join(block.replace("\n", "\r\n") + "\r\n\r\n" for block in blocks)


class FakeAmi:
    banner = "Asterisk Call Manager/11.0.0"  # what Asterisk 22.10.1 sends

    def __init__(self, username: str = AMI_USER, secret: str = AMI_SECRET) -> None:
        self.username = username
        self.secret = secret
        self.responses: dict[str, str] = {
            "Login": "login_ok.ami",
            "CoreSettings": "core_settings.ami",
            "QueueStatus": "queue_status_idle.ami",
            "CoreShowChannels": "core_show_channels_idle.ami",
            "Ping": "ping.ami",
            "PlayDTMF": "play_dtmf.ami",
            "Filter": "filter.ami",
        }
        self.silent: set[str] = set()   # actions left unanswered
        self.chunk_size: int | None = None  # write in tiny pieces (split UTF-8)
        self.received: list[dict[str, str]] = []
        self.raw_received = bytearray()
        self.logins = 0
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    def actions(self) -> list[str]:
        """The actions received, in order, without the event filters a link asks for at login."""
        return [a.get("Action", "") for a in self.received if a.get("Action") != "Filter"]

    def filters(self) -> list[str]:
        """The event filters asked for (AMI `Filter`): `MatchCriteria` or `Filter` text."""
        return [a.get("MatchCriteria") or a.get("Filter", "") for a in self.received if a.get("Action") == "Filter"]

    async def listen(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_listening(self) -> None:
        """Asterisk going down: no more connections, current ones dropped."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self.drop()

    async def drop(self) -> None:
        for writer in list(self._writers):
            writer.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def push(self, name: str) -> None:
        """Send a recorded event stream to every logged-in client."""
        for writer in list(self._writers):
            await self._write(writer, wire(name))

    async def push_text(self, text: str) -> None:
        """Send AMI text (CRLF lines, a blank line after each message) to every logged-in client."""
        for writer in list(self._writers):
            await self._write(writer, text)

    async def _write(self, writer: asyncio.StreamWriter, text: str) -> None:
        data = text.encode("utf-8")
        if self.chunk_size:
            for i in range(0, len(data), self.chunk_size):
                writer.write(data[i:i + self.chunk_size])
                await writer.drain()
        else:
            writer.write(data)
            await writer.drain()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            writer.write(f"{self.banner}\r\n".encode())
            buffer = b""
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                self.raw_received += data
                buffer += data
                while b"\r\n\r\n" in buffer:
                    block, buffer = buffer.split(b"\r\n\r\n", 1)
                    headers = dict(line.split(": ", 1) for line in block.decode().split("\r\n") if ": " in line)
                    self.received.append(headers)
                    if not await self._answer(writer, headers):
                        return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._writers.discard(writer)
            self._handlers.discard(task)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, action: dict[str, str]) -> bool:
        name = action.get("Action", "")
        action_id = action.get("ActionID", "")
        if name in self.silent:
            return True
        if name == "Login":
            self.logins += 1
            if (action.get("Username"), action.get("Secret")) != (self.username, self.secret):
                await self._write(writer, _ACTION_ID.sub(f"ActionID: {action_id}", wire("login_failed.ami")))
                return False  # Asterisk closes the session
            self._writers.add(writer)
        if name in self.responses:
            text = _ACTION_ID.sub(f"ActionID: {action_id}", wire(self.responses[name]))
        else:
            text = f"Response: Error\r\nActionID: {action_id}\r\nMessage: Invalid/unknown command\r\n\r\n"
        await self._write(writer, text)
        return True


class RedisProxy:
    """A TCP relay in front of the real Redis, to play a Redis outage."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 6379)
        self._writers.add(up_writer)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
            dst.close()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, up_writer):
                w.close()
                self._writers.discard(w)
            self._tasks.discard(task)


Eventually = Callable[..., Awaitable[Any]]


@pytest.fixture
def eventually() -> Eventually:
    """The suite's poll-with-deadline helper (tests/support/waiting.py)."""
    return waiting.eventually


@pytest.fixture
async def fake_ami() -> AsyncIterator[FakeAmi]:
    fake = FakeAmi()
    await fake.listen()
    yield fake
    await fake.stop_listening()


@pytest.fixture
async def redis_proxy() -> AsyncIterator[RedisProxy]:
    proxy = RedisProxy()
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
def redis_client(redis: Redis) -> Redis:
    """The shared real-Redis client (tests/conftest.py) under this tier's name."""
    return redis


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    """The test's own key prefix, cleaned up by tests/conftest.py."""
    return redis_prefix


@pytest.fixture
def settings(fake_ami: FakeAmi, prefix: str) -> Settings:
    return Settings(
        site=SiteSettings(centres=parse_centres("12345:1001-1002;110:2001"), seat_mode="simulated"),
        network=NetworkSettings(bind_host="127.0.0.1"),
        ami=AmiSettings(port=fake_ami.port, user=AMI_USER),
        redis=RedisSettings(url=REDIS_URL, prefix=prefix),
    )


@pytest.fixture
async def make_bridge(settings: Settings) -> AsyncIterator[Callable[..., Awaitable[AmiBridge]]]:
    bridges: list[AmiBridge] = []

    async def make(**options: Any) -> AmiBridge:
        opts: dict[str, Any] = dict(backoff_initial_s=0.02, backoff_max_s=0.2, redis_retry_s=0.05,
                                    resync_interval_s=60.0)
        opts.update(options)
        bridge = AmiBridge(opts.pop("settings", settings), AMI_SECRET, **opts)
        bridges.append(bridge)
        await bridge.start()
        return bridge

    yield make
    for bridge in bridges:
        await bridge.stop()
