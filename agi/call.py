"""The AGI channel port and its two adapters (I/O).

Routes talk to an `AgiCall`; `FastAgiCall` carries the commands over a
panoramisk FastAGI request, `ClassicAgiCall` over stdin/stdout with pyst2's
`asterisk.agi.AGI` (process-per-call sites).  Values are checked for CR/LF
before they are written: AGI is a line protocol.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any, Protocol

from core.safety import check_line, check_token


class AgiHangup(Exception):
    """The caller hung up while the route ran: a normal outcome."""


class AgiCommandFailed(Exception):
    pass


class AgiCall(Protocol):
    headers: Mapping[str, str]
    # the route's arguments: `Gosub(hotline-agi,args,1(<route>,a,b))` -> ("a", "b")
    args: tuple[str, ...]

    async def get_variable(self, name: str) -> str | None: ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def set_variables(self, variables: Mapping[str, str]) -> None: ...

    async def read_function(self, expression: str) -> str | None: ...

    async def write_function(self, expression: str, value: str) -> None: ...


# A dialplan function call built by our own code from checked parts, e.g.
# QUEUE_MEMBER(hotline-110-linkage,logged) or EXPORT(Local/12345@x-0001;2,__HOTLINE_HANDOFF_ID).
# No `$`, `{`, quotes or spaces: nothing in it can be expanded or split.
_FUNCTION = re.compile(r"^[A-Z][A-Z_]{0,31}\([A-Za-z0-9_.@/;:+\-,]{1,256}\)$")
# ...or several variables read at once: ${A}|${B}|${CHANNEL(linkedid)}
_VARIABLES = re.compile(r"^\$\{[A-Z][A-Z_]{0,63}(\([a-z]{1,32}\))?\}"
                        r"(\|\$\{[A-Z][A-Z_]{0,63}(\([a-z]{1,32}\))?\}){0,15}$")


def check_function(expression: str) -> str:
    check_line("function", expression, max_len=300)
    if not (_FUNCTION.match(expression) or _VARIABLES.match(expression)):
        raise ValueError(f"not a safe dialplan function call: {expression[:60]!r}")
    return expression


def _full(expression: str) -> str:
    return expression if expression.startswith("${") else f"${{{expression}}}"


def quote(value: str) -> str:
    check_line("value", value, max_len=1024)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_RESULT = re.compile(r"\((.*)\)\s*$")
# a value MSet takes as it is: no separator (`,` `=`), quote, `$` or space in it
_MSET_VALUE = re.compile(r"^[A-Za-z0-9_.+\-]{0,64}$")


def header_args(headers: Mapping[str, str], first: int = 1) -> tuple[str, ...]:
    """The AGI request's arguments `agi_arg_<first>`, `agi_arg_<first+1>`, ...
    (res_agi sends them last, numbered from 1)."""
    args = []
    n = first
    while (value := headers.get(f"agi_arg_{n}")) is not None:
        args.append(value)
        n += 1
    return tuple(args)


class FastAgiCall:
    """AgiCall over a panoramisk `fast_agi.Request`."""

    def __init__(self, request: Any) -> None:
        self.request = request
        self.headers: Mapping[str, str] = request.headers
        self.args = header_args(self.headers)

    async def _command(self, command: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await self.request.send_command(command)
        except (ValueError, ConnectionError, asyncio.IncompleteReadError) as exc:
            # panoramisk parses the empty line of a closed socket as int(''):
            # Asterisk has ended the AGI (the caller hung up).
            raise AgiHangup(command) from exc
        if not result or result.get("status_code") == 511 or result.get("error") == "AGIResultHangup":
            raise AgiHangup(command)
        if "error" in result:
            if result.get("status_code") is None and not result.get("msg"):
                raise AgiHangup(command)  # the socket closed: Asterisk ended the AGI
            raise AgiCommandFailed(f"{command}: {result.get('error')} {result.get('msg', '')}".strip())
        return result

    async def get_variable(self, name: str) -> str | None:
        check_token("variable", name.replace("(", "_").replace(")", "_"))
        result = await self._command(f"GET VARIABLE {name}")
        code, data = result.get("result", ("0", ""))
        return data if code == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        check_token("variable", name)
        await self._command(f"SET VARIABLE {name} {quote(value)}")

    async def set_variables(self, variables: Mapping[str, str]) -> None:
        """Several variables in one round trip (`EXEC MSet`) when every value
        is a plain token; else one `SET VARIABLE` each."""
        for name in variables:
            check_token("variable", name)
        if len(variables) < 2 or not all(_MSET_VALUE.match(v) for v in variables.values()):
            for name, value in variables.items():
                await self.set_variable(name, value)
            return
        result = await self._command("EXEC MSet " + quote(",".join(f"{k}={v}" for k, v in variables.items())))
        code = result.get("result", ("0", ""))[0]
        if code not in ("0", "1"):  # -2: no MSet application
            raise AgiCommandFailed(f"EXEC MSet: result={code}")

    async def read_function(self, expression: str) -> str | None:
        check_function(expression)
        result = await self._command(f"GET FULL VARIABLE {quote(_full(expression))}")
        code, data = result.get("result", ("0", ""))
        return data if code == "1" else None

    async def write_function(self, expression: str, value: str) -> None:
        check_function(expression)
        await self._command(f"SET VARIABLE {expression} {quote(value)}")


class ClassicAgiCall:
    """AgiCall over pyst2's stdin/stdout AGI (blocking calls in a thread)."""

    def __init__(self, agi: Any, args: tuple[str, ...] = ()) -> None:
        self.agi = agi
        self.headers: Mapping[str, str] = dict(agi.env)
        self.args = args  # after the route's name: AGI(hotline-agi,<route>,a,b)

    async def get_variable(self, name: str) -> str | None:
        from asterisk.agi import AGIHangup as _Hangup

        try:
            value = await asyncio.to_thread(self.agi.get_variable, name)
        except _Hangup as exc:
            raise AgiHangup(name) from exc
        return value or None

    async def set_variable(self, name: str, value: str) -> None:
        from asterisk.agi import AGIHangup as _Hangup

        check_token("variable", name)
        check_line("value", value, max_len=1024)
        try:
            await asyncio.to_thread(self.agi.set_variable, name, value)
        except _Hangup as exc:
            raise AgiHangup(name) from exc

    async def set_variables(self, variables: Mapping[str, str]) -> None:
        for name, value in variables.items():  # a process per call: round trips are not what costs here
            await self.set_variable(name, value)

    async def read_function(self, expression: str) -> str | None:
        from asterisk.agi import AGIHangup as _Hangup

        check_function(expression)
        try:
            value = await asyncio.to_thread(self.agi.get_full_variable, _full(expression))
        except _Hangup as exc:
            raise AgiHangup(expression) from exc
        return value or None

    async def write_function(self, expression: str, value: str) -> None:
        from asterisk.agi import AGIHangup as _Hangup

        check_function(expression)
        check_line("value", value, max_len=1024)
        try:
            await asyncio.to_thread(self.agi.set_variable, expression, value)
        except _Hangup as exc:
            raise AgiHangup(expression) from exc
