"""Benchmarks against the real Asterisk (edge).  Results are JSON figures,
reported in closing notes — never asserted as timed tests.

`agi`: the `inbound` decision, timed inside Asterisk around the AGI call
(`hotline-bench` context), over FastAGI and over classic process-per-call AGI
(pyst2), alternating call by call in one run so both see the same machine.
"""
from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from agi.background import wait_for
from agi.registry import AgiRoutes
from agi.server import FastAgiServer
from ami_bridge.manager import AmiManager
from app.inbound import agi as inbound_agi
from app.runtime.asterisk import AsteriskProcess
from app.runtime.render import render
from app.runtime.secrets import load_or_create
from core.settings import Settings


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values_ms: list[float]) -> dict[str, float]:
    return {"n": len(values_ms), "p50_ms": round(percentile(values_ms, 50), 3),
            "p99_ms": round(percentile(values_ms, 99), 3),
            "mean_ms": round(statistics.fmean(values_ms), 3) if values_ms else float("nan")}


async def run_agi_bench(settings: Settings, calls: int = 200) -> dict[str, Any]:
    settings = settings.with_(site={"seat_mode": "simulated"})
    secrets = load_or_create(settings)
    render(settings, secrets)
    routes = AgiRoutes()
    inbound_agi.register(routes, settings)  # the route timed, as the inbound feature registers it
    agi = FastAgiServer(settings, routes)
    asterisk = AsteriskProcess(settings)
    asterisk.check_installed()
    await agi.start()
    await asterisk.start()
    ami = AmiManager("127.0.0.1", settings.ami.port, settings.ami.user, secrets.ami_secret)
    results: dict[str, list[float]] = {"fast": [], "classic": []}
    statuses: dict[str, dict[str, int]] = {"fast": {}, "classic": {}}
    waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event.get("UserEvent") == "HotlineAgiBench":
            fut = waiting.pop(event.get("Uniqueid", ""), None)
            if fut is not None and not fut.done():
                fut.set_result(event)

    ami.on_event("UserEvent", on_event)
    await ami.start()
    started = time.monotonic()
    try:
        await ami.wait_connected(timeout=20)
        centre = settings.site.centres[0].id
        for i in range(calls * 2):
            mode = "fast" if i % 2 == 0 else "classic"
            leg = f"bench-{i}-{mode}"
            fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            waiting[leg] = fut
            await ami.send({"Action": "Originate", "Channel": f"Local/{mode[0]}{centre}@hotline-bench",
                            "Context": "hotline-citizen-phone", "Exten": "talk", "Priority": "1",
                            "CallerID": f'"" <1380000{i:04d}>', "ChannelId": f"handset-{leg}",
                            "OtherChannelId": leg, "Async": "true"}, ack_only=True)
            event = await wait_for(fut, 30)
            status = event.get("Status") or "NONE"
            statuses[mode][status] = statuses[mode].get(status, 0) + 1
            if status == "OK":
                results[mode].append((float(event["T1"]) - float(event["T0"])) * 1000)
        fast, classic = summary(results["fast"]), summary(results["classic"])
        return {
            "benchmark": "agi-inbound-decision",
            "asterisk": str(settings.paths.asterisk_prefix.resolve().name),
            "calls_per_mode": calls,
            "fastagi": fast,
            "classic_agi": classic,
            "statuses": statuses,
            "ratio_classic_over_fast_p50": round(classic["p50_ms"] / fast["p50_ms"], 2),
            "ratio_classic_over_fast_p99": round(classic["p99_ms"] / fast["p99_ms"], 2),
            "wall_s": round(time.monotonic() - started, 1),
        }
    finally:
        await ami.close()
        await asterisk.stop()
        await agi.stop()
