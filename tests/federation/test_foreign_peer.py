"""A foreign 110 peer (item 6 of issue 13): a command-centre system that does
not run hotline-link pushes its 接警单 in GA-style field names and takes back
签收 / 反馈 / 退回 in its own names, signed as its mapping
(data/federation/ga-110.json) says.  The stand-in is its own process with its
own store (tests/support/jjd_standin.py), on loopback, against the real service."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.settings import PROJECT_ROOT, Peer, load_mapping
from tests.federation.conftest import ORG_12345, Instance, free_port, platform_settings
from tests.support.children import stop_child
from tests.support.waiting import eventually

SECRET = "secret-shared-with-the-110-system"
JJD = {
    "JJDBH": "J450700202611300001", "LSH": "0001", "BJDH": "13977001234", "BJRXM": "张三",
    "BJSJ": "2026-11-30 20:01:02", "BJDZ": "钦南区文峰路8号", "BJNR": "楼上装修噪声，夜间施工扰民",
    "JQLBDM": "0905", "JQLBMC": "噪声扰民", "JJDWDM": "450700000000", "JJDWMC": "钦州市公安局110指挥中心",
    "GXDWDM": "450702010000", "GXDWMC": "钦南分局文峰派出所", "XZQHDM": "450702", "SFBM": "0",
}


class StandIn:
    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.http = http

    async def push(self, jjd: dict[str, Any], **extra: Any) -> tuple[int, Any]:
        async with self.http.post(self.url + "/control/push", json={"jjd": jjd, **extra}) as response:
            answer = await response.json()
            return answer["status"], answer["body"]

    async def received(self) -> list[dict[str, Any]]:
        async with self.http.get(self.url + "/control/received") as response:
            return list(await response.json())

    async def document(self, path: str, jjdbh: str) -> dict[str, Any]:
        async def arrived() -> dict[str, Any]:
            docs = [d for d in await self.received() if d["path"] == path and d["body"]["JJDBH"] == jjdbh]
            assert len(docs) == 1, f"{len(docs)} documents at {path} for {jjdbh}"
            return docs[0]
        return await eventually(arrived, timeout=10, what=f"the stand-in's {path} document")


@pytest.fixture
async def platform(tmp_path: Path, sqlite_url: str, redis_prefix: str) -> AsyncIterator[tuple[Instance, StandIn]]:
    port, standin_port = free_port(), free_port()
    standin_url = f"http://127.0.0.1:{standin_port}"
    peer = Peer("qz-110", standin_url, ("110",), SECRET, mapping=load_mapping("ga-110"))
    a = Instance("gov-12345", platform_settings(
        tmp_path / "a", centres="12345:1001-1002", name="gov-12345", port=port, database_url=sqlite_url,
        redis_prefix=redis_prefix, org=ORG_12345, peers=(peer,)))
    await a.start()
    env = {**os.environ, "STANDIN_SECRET": SECRET}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.jjd_standin", "--port", str(standin_port),
        "--db", str(tmp_path / "standin.db"), "--secret-env", "STANDIN_SECRET", "--hotline", a.url,
        "--path-name", "qz-110", env=env, cwd=str(PROJECT_ROOT))
    http = aiohttp.ClientSession()
    try:
        async def up() -> bool:
            if process.returncode is not None:  # not an AssertionError: no point waiting on
                raise RuntimeError(f"the stand-in exited with {process.returncode} (its error is above)")
            try:
                async with http.get(standin_url + "/control/health") as response:
                    return response.status == 200
            except aiohttp.ClientConnectionError as exc:
                raise AssertionError(f"not listening yet: {exc}") from None
        await eventually(up, timeout=20, what="the stand-in listening")
        yield a, StandIn(standin_url, http)
    finally:
        try:
            await http.close()
            await stop_child(process, sig=signal.SIGTERM)
        finally:
            await a.close()


async def test_foreign_110_platform_pushes_jjd_and_receives_feedback(platform: tuple[Instance, StandIn]) -> None:
    a, standin = platform
    status, answer = await standin.push(JJD)
    assert status == 201, answer
    assert answer["JJDBH"] == JJD["JJDBH"] and answer["FLOWID"].startswith("12345-") and answer["CODE"] == "0"
    again = await standin.push(JJD)  # pushed again (its answer was lost): the same order
    assert again == (200, answer)

    [order] = await a.orders()
    assert (order.number, order.peer, order.peer_side, order.peer_order_id, order.peer_number) == (
        answer["FLOWID"], "qz-110", "in", JJD["JJDBH"], JJD["JJDBH"])
    assert (order.source_centre, order.target_centre, order.status) == ("110", "12345", "dispatched")
    assert (order.citizen_number, order.citizen_name, order.address, order.content, order.division_code) == (
        JJD["BJDH"], JJD["BJRXM"], JJD["BJDZ"], JJD["BJNR"], JJD["XZQHDM"])
    [doc_event] = [e for e in await a.events(order.id) if e.kind == "peer_document"]
    assert doc_event.detail["peer_created_at"] == "2026-11-30T20:01:02+08:00"  # BJSJ, Beijing time
    assert doc_event.detail["unit_name"] == JJD["GXDWMC"] and doc_event.detail["confidential"] is False
    assert doc_event.detail["category_name"] == "噪声扰民"

    # our seat signs for it and reports back (反馈): the stand-in gets both in its own field names
    assert (await a.call("POST", f"/api/orders/{order.id}/sign", json={"note": "已签收"}))[0] == 200
    signed = await standin.document("/api/jjd/sign", JJD["JJDBH"])
    assert (signed["body"]["FLOWID"], signed["body"]["ZTDM"]) == (order.number, "01")
    assert signed["caller"] == "gov-12345"
    status, _ = await a.call("POST", f"/api/orders/{order.id}/feedback",
                             json={"result": "已联系城管部门责令停止夜间施工", "note": "座席电话回访，市民满意"})
    assert status == 200
    feedback = (await standin.document("/api/jjd/feedback", JJD["JJDBH"]))["body"]
    assert feedback["ZTDM"] == "03" and feedback["FLOWID"] == order.number
    assert (feedback["JQCLJGSM"], feedback["CJCZQK"]) == ("已联系城管部门责令停止夜间施工", "座席电话回访，市民满意")
    assert feedback["FKYXM"].startswith("seat:") and feedback["FKDWMC"] == "钦州市gov-12345"
    assert feedback["FKDWDM"] == ORG_12345
    datetime.strptime(feedback["FKSJ"], "%Y-%m-%d %H:%M:%S")  # its own time format

    # a second 接警单, returned (退回) by our supervisor with the reason
    second = {**JJD, "JJDBH": "J450700202611300002", "BJNR": "有人持刀伤人", "SFBM": "1"}
    status, answer2 = await standin.push(second)
    assert status == 201
    reason = "属于公安机关职责，非12345受理范围"
    status, _ = await a.call("POST", f"/api/orders/{answer2['FLOWID']}/return", json={"reason": reason},
                             role="supervisor")
    assert status == 200, _
    returned = (await standin.document("/api/jjd/return", second["JJDBH"]))["body"]
    assert (returned["HANDLEOPINION"], returned["ZTDM"], returned["FLOWID"]) == (reason, "02", answer2["FLOWID"])
    assert returned["HANDLEUSERNAME"].startswith("supervisor:") and returned["HANDLEBMNAME"] == "钦州市gov-12345"
    datetime.strptime(returned["HANDLETIME"], "%Y-%m-%d %H:%M:%S")

    # what it may not do: a bad signature, a 接警单 without 报警电话
    assert (await standin.push({**JJD, "JJDBH": "J3"}, secret="not-the-shared-secret-at-all"))[0] == 401
    status, refused = await standin.push({k: v for k, v in JJD.items() if k != "BJDH"} | {"JJDBH": "J4"})
    assert status == 400 and "BJDH" in str(refused)
    assert len(await a.orders()) == 2
    # every exchange in the audit log, both ways
    log = await a.exchanges()
    assert sorted((e.direction, e.answer) for e in log if e.peer == "qz-110") == sorted(
        [("in", 201), ("in", 200), ("in", 201), ("in", 401), ("in", 400),
         ("out", 200), ("out", 200), ("out", 200)])


async def test_when_a_mapping_is_broken_then_settings_refuse_it_naming_the_key(tmp_path: Path) -> None:
    import json

    from core.settings import SettingsError

    good = json.loads((PROJECT_ROOT / "data/federation/ga-110.json").read_text("utf-8"))
    for broken, key in ((dict(good, name="other"), "name"),
                        ({**good, "order_in": {**good["order_in"], "fields": {"JJDBH": "id", "BJDH": "nope"}}},
                         "order_in.fields.BJDH"),
                        ({**good, "status_out": {"signed": good["status_out"]["signed"]}}, "status_out"),
                        ({**good, "auth": {**good["auth"], "signature": "X Sign"}}, "auth.signature")):
        (tmp_path / "ga-110.json").write_text(json.dumps(broken), "utf-8")
        with pytest.raises(SettingsError) as caught:
            load_mapping("ga-110", tmp_path)
        assert key in str(caught.value) and "HOTLINE_PEERS" in str(caught.value)
    with pytest.raises(SettingsError, match="no file"):
        load_mapping("no-such-mapping", tmp_path)
