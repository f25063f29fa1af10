"""`core.emergency`: the safety-first table — which words call which emergency service, and what comes first."""
from __future__ import annotations

import pytest

from core.emergency import PRECEDENCE, SERVICES, alarms, pin


def numbers(text: str) -> list[str]:
    return [a.number for a in alarms(text)]


@pytest.mark.parametrize("said,services", [
    # fire, explosion, gas, chemicals, trapped: 119
    ("楼下饭店着火了，烟很大", ["119"]),
    ("对面仓库起火了", ["119"]),
    ("厨房天然气味道很大", ["119"]),
    ("家里闻到一股煤气味", ["119"]),
    ("燃气管道好像漏气了", ["119"]),
    ("化工厂有毒气泄漏", ["119"]),
    ("电梯困人了，里面有个老人", ["119"]),
    ("孩子被困在阳台外面", ["119"]),
    ("工地那边好像爆炸了", ["119"]),
    ("有人掉进河里了", ["119"]),
    ("老房子塌了有人被埋", ["119"]),
    # weapons, violence, robbery, missing people, self-harm: 110
    ("有人拿刀在街上追人", ["110"]),
    ("楼下有人打架", ["110"]),
    ("我老公又在家暴我", ["110"]),
    ("刚才有人抢了我的包", ["110"]),
    ("我家孩子走丢了", ["110"]),
    ("天台上有个人要跳楼", ["110"]),
    ("有小偷在撬门", ["110"]),
    # unconscious, bleeding, poisoned, acutely ill: 120
    ("有人晕倒了", ["120"]),
    ("老人在路上昏迷不醒", ["120"]),
    ("我爸突然喘不上气", ["120"]),
    ("小孩误喝了农药", ["120"]),
    ("有个工人从架子上摔下来受伤了", ["120"]),
    ("我老婆羊水破了快生了", ["120"]),
    # road traffic: 122
    ("路口两辆车追尾了", ["122"]),
    ("被车撞了，司机跑了", ["122"]),
    ("电动车和小轿车在路口撞了", ["122"]),
    ("一辆大货车把路边的行人撞倒了", ["122"]),
    # a child not home hours after school is a missing person
    ("我女儿放学到现在没回家，电话也打不通", ["110"]),
    # several at once, in precedence order
    ("车祸，有人受伤流了很多血", ["120", "122"]),
    ("有人拿刀把人砍伤了，流血不止", ["110", "120"]),
    ("着火了还有人被困在楼上", ["119"]),
])
def test_when_a_citizen_speaks_of_danger_then_the_emergency_service_is_called(said: str, services: list[str]) -> None:
    assert numbers(said) == services


@pytest.mark.parametrize("said", [
    "下水道堵了", "井盖没了", "广场舞太吵", "房东不退押金", "电梯坏了好几天了",
    "消防栓坏了", "森林防火检查", "楼道里电动车充电有火灾隐患", "楼下在烧烤油烟很大",
    "落水管坏了在漏水", "燃气公司乱收费", "燃气抢修", "没有人受伤，就是车刮了一下漆",
    "去年工作时受伤了，老板到现在不赔医药费", "想咨询一下工伤认定", "烟花爆竹能不能放",
    "没有着火，只是有点焦味",
    "小卖部在偷偷卖假烟", "楼下在烧烤", "电线掉下来了", "消防栓被车撞坏了",
])
def test_when_nothing_is_in_danger_then_no_emergency_is_called(said: str) -> None:
    assert numbers(said) == []


def test_when_the_same_danger_is_said_twice_then_the_service_comes_once_with_both_words() -> None:
    [alarm] = alarms("着火了！火势很大")
    assert alarm.number == "119"
    assert alarm.cues == ("着火", "火势")
    assert alarm.what == ("火情",)


def test_when_full_width_or_spaced_text_comes_then_it_is_read_the_same() -> None:
    assert numbers("有 人 晕 倒") == ["120"]
    assert numbers("ＡＢＣ小区着火") == ["119"]


def test_when_services_are_listed_then_every_one_has_a_built_in_entry_and_a_place_in_precedence() -> None:
    assert sorted(PRECEDENCE) == sorted(SERVICES) == ["110", "119", "120", "122"]
    assert all(s.number == n and s.name and s.handling for n, s in SERVICES.items())


def test_when_the_catalogue_names_the_service_then_its_best_entry_is_pinned_else_the_built_in() -> None:
    ranked = [("gas-company", "燃气公司"), ("fire", "119"), ("fire-2", "119"), ("noise", "12345")]
    pinned, rest = pin(alarms("煤气泄漏有人晕倒了"), ranked, lambda r: r[1])
    assert [(p.alarm.number, p.entry) for p in pinned] == [("119", ("fire", "119")), ("120", None)]
    assert rest == [("gas-company", "燃气公司"), ("fire-2", "119"), ("noise", "12345")]


def test_when_there_is_no_danger_then_nothing_is_pinned_and_the_ranking_stays() -> None:
    ranked = ["a", "b"]
    assert pin(alarms("路灯不亮"), ranked, lambda r: r) == ([], ["a", "b"])
