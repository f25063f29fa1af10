"""Scale of configuration (issue 16): 2,000 seats across two centres render,
start and register in seconds — nothing in settings or rendering caps them at
a line length, and the dialplan knows the seats by a few patterns, not a
global per seat.  The whole product starts (`Stack`, what `hotline up` runs)
on the real Asterisk; a sample of seats registers over SIP."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from app.runtime.render import render
from app.runtime.stack import Stack
from app.web.auth import create_token
from core.centres import parse_centres
from tests.support.pbx import rig_settings
from tests.support.sip_phone import SipPhone
from tests.support.waiting import eventually

CENTRES = "12345:10001-11800;110:20001-20200"  # 1,800 + 200 seats
SAMPLE = ("10001", "11042", "11800", "20200")


def _events(reply: Any, name: str) -> list[dict[str, Any]]:
    return [m for m in (reply if isinstance(reply, list) else [reply]) if m.get("Event") == name]


async def test_when_2000_seats_are_configured_then_they_render_start_and_register_in_seconds(tmp_path: Path) -> None:
    settings = rig_settings(tmp_path / "state", HOTLINE_SEAT_MODE="sip", HOTLINE_CENTRES=CENTRES,
                            HOTLINE_RTP_PORTS="34000-34999")
    assert sum(len(c.seats) for c in settings.site.centres) == 2000

    stack = Stack(settings)
    started = time.monotonic()
    render(stack.settings, stack.secrets)
    rendered_s = time.monotonic() - started
    etc = settings.paths.run_dir / "etc"
    extensions = (etc / "extensions.conf").read_text()
    assert "HOTLINE_HANDOFF_SEAT_" not in extensions            # no global per seat
    assert len(extensions.split("[hotline-known-seats]", 1)[1].split("\n[", 1)[0].splitlines()) < 30
    env = (etc / "hotline-agi.env").read_text()                  # the classic AGI's settings: one short line
    assert f"HOTLINE_CENTRES={CENTRES}\n" in env
    assert parse_centres(CENTRES) == settings.site.centres

    phones: list[SipPhone] = []
    started = time.monotonic()
    await stack.start()  # renders again, FastAGI, Asterisk, AMI bridge, web
    try:
        ami = stack.platform.ami
        assert ami is not None
        await ami.wait_connected(timeout=20)
        up_s = time.monotonic() - started
        endpoints = _events(await ami.send({"Action": "PJSIPShowEndpoints"}), "EndpointList")
        assert len(endpoints) == 2000
        # every seat signed in: Asterisk's start-up runs the boot context, one
        # AddQueueMember per seat and queue, while the rest starts
        async def all_members() -> dict[str, int]:
            counts = {}
            for centre, count in (("12345", 1800), ("110", 200)):
                for queue in (f"hotline-{centre}", f"hotline-{centre}-linkage"):
                    members = _events(await ami.send({"Action": "QueueStatus", "Queue": queue}), "QueueMember")
                    assert len(members) == count, (queue, len(members))
                    counts[queue] = len(members)
            return counts
        await eventually(all_members, timeout=30, what="all 2,000 seats in their queues")
        members_s = time.monotonic() - started
        # the live view (AMI bridge -> Redis -> /api/live) shows every seat
        assert stack.platform.deps is not None
        token = await create_token(stack.platform.deps.sessions, role="supervisor", name="scale",
                                   now=datetime.now(UTC))
        url = f"http://127.0.0.1:{settings.network.http_port}/api/live"

        async def live_seats() -> bool:
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http, \
                    http.get(url) as resp:
                body = await resp.json()
            assert resp.status == 200, body
            counts = {c["id"]: len(c["seats"]) for c in body["centres"]}
            assert counts == {"12345": 1800, "110": 200}, counts
            return True

        await eventually(live_seats, timeout=15, interval=0.2, what="/api/live showing the 2,000 seats")
        print(f"\n2,000 seats: render {rendered_s:.2f} s, hotline up (Asterisk booted, AMI in) {up_s:.2f} s, "
              f"all signed in to their queues {members_s:.2f} s")
        assert rendered_s < 10 and up_s < 30, (rendered_s, up_s)  # seconds, on a shared 2-core machine

        started = time.monotonic()
        for seat in SAMPLE:
            phones.append(await SipPhone.start(tmp_path / f"phone-{seat}", settings, seat,
                                               stack.secrets.seat_passwords[seat]))

        async def registered() -> bool:
            contacts = _events(await ami.send({"Action": "PJSIPShowContacts"}), "ContactList")
            reachable = {c.get("Endpoint") for c in contacts if c.get("Status") != "Unreachable"}
            missing = set(SAMPLE) - reachable
            assert not missing, f"not registered: {sorted(missing)}"
            return True

        await eventually(registered, timeout=20, interval=0.2, what="the sample of seats registered")
        print(f"{len(SAMPLE)} phones started and registered in {time.monotonic() - started:.2f} s")
        # a seat phone dials another seat through the pattern in hotline-seats
        rc, out = await stack.asterisk.rx("dialplan show 11042@hotline-seats")
        assert rc == 0 and "Dial(PJSIP/${EXTEN},30)" in out, out
        rc, out = await stack.asterisk.rx("dialplan show 11801@hotline-seats")
        assert "Dial(" not in out, out                            # not a seat: no match
    finally:
        for phone in phones:
            await phone.stop()
        await stack.stop()
