"""`core.catalogue` over the shipped data files: samples from each seed, lookups by the seed's words, validation.

(Lookups by everyday words: test_catalogue_search.py; the evaluation set: test_catalogue_eval.py.)"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.catalogue.search import CatalogueIndex
from core.catalogue import (
    CatalogueError,
    CatalogueItem,
    check_aliases,
    check_changes,
    item_from_mapping,
    parse_aliases,
    parse_file,
    with_aliases,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "catalogue"


def load(jurisdiction: str) -> list[CatalogueItem]:
    _, items = parse_file(json.loads((DATA / f"{jurisdiction}.json").read_text(encoding="utf-8")),
                          expect=jurisdiction)
    return items


QINZHOU = load("qinzhou")
PINGLIANG = load("pingliang")
INDEXES: dict[int, CatalogueIndex] = {}


def search(items: list[CatalogueItem], q: str | None, **kwargs: object) -> list[CatalogueItem]:
    """The seed's catalogue alone (no aliases): ranked entries for `q`."""
    index = INDEXES.get(id(items))
    if index is None or index.items != items:
        index = INDEXES[id(items)] = CatalogueIndex(items)
    return [h.item for h in index.search(q, limit=50, **kwargs).hits if h.item is not None]  # type: ignore[arg-type]


def test_when_the_files_are_read_then_every_entry_of_the_seeds_is_there() -> None:
    # Qinzhou annex 2: 18 matters 110 hands to 12345, 3 other hotlines, 3 companies.
    assert [sum(i.code.startswith(f"QZ-{t}-") for i in QINZHOU) for t in (1, 2, 3)] == [18, 3, 3]
    # Pingliang annex 1: table 1 (to 110/119/120/122), table 2 (110 to 12345), table 3 (other units).
    assert [sum(i.code.startswith(f"PL-{t}-") for i in PINGLIANG) for t in (1, 2, 3)] == [30, 125, 38]


@pytest.mark.parametrize("q,code,destinations,linkage", [
    ("电梯", "QZ-1-04", ("12345",), "transfer"),
    ("停电", "QZ-3-01", ("涉及水电气热的相关企业",), "guide"),
    ("烟草", "QZ-2-01", ("12313",), "guide"),
    ("水上遇险", "QZ-2-02", ("12395",), "guide"),
    ("法制宣传", "QZ-2-03", ("12348",), "guide"),
    ("开锁", "QZ-3-03", ("公安机关认证的相关企业",), "guide"),
    ("噪声污染", "QZ-1-08", ("12345",), "transfer"),
])
def test_when_a_qinzhou_matter_is_looked_up_then_it_goes_where_annex_2_says(
    q: str, code: str, destinations: tuple[str, ...], linkage: str
) -> None:
    best = search(QINZHOU, q)[0]
    assert (best.code, best.destinations, best.linkage) == (code, destinations, linkage)


@pytest.mark.parametrize("q,code,destinations,linkage", [
    ("电梯故障", "PL-3-01", ("12365",), "transfer"),
    ("停电", "PL-3-02", ("95598",), "transfer"),
    ("交通事故", "PL-1-14", ("122", "110"), "joint"),
    ("危害国家安全", "PL-1-01", ("110", "国家安全机关"), "transfer"),
    ("火灾", "PL-1-29", ("119", "110"), "joint"),          # safety first: the entry naming 119

    ("急性心肌梗塞", "PL-1-30", ("120",), "transfer"),
    ("拖欠工资", "PL-2-100", ("12345",), "dispatch"),
    ("燃气抢修", "PL-3-09", ("燃气公司",), "refer"),
    ("移车", "PL-3-11", ("12123",), "transfer"),
    ("快递纠纷", "PL-3-29", ("12305",), "transfer"),
    ("医患纠纷", "PL-3-31", ("12320",), "transfer"),
    ("过路收费", "PL-3-35", ("12328",), "transfer"),
])
def test_when_a_pingliang_matter_is_looked_up_then_it_goes_where_annex_1_says(
    q: str, code: str, destinations: tuple[str, ...], linkage: str
) -> None:
    best = search(PINGLIANG, q)[0]
    assert (best.code, best.destinations, best.linkage) == (code, destinations, linkage)


def test_when_a_fire_is_on_the_grassland_then_119_comes_first_and_the_forest_fire_line_next() -> None:
    found = search(PINGLIANG, "草原火灾")
    assert [(i.code, i.destination) for i in found[:2]] == [("PL-1-29", "119"), ("PL-3-38", "12119")]


def test_when_the_same_matter_is_looked_up_in_both_cities_then_the_answers_differ_as_the_seeds_do() -> None:
    assert search(QINZHOU, "电梯")[0].destination == "12345"
    assert search(PINGLIANG, "电梯")[0].destination == "12365"


def test_when_a_merged_cell_left_the_linkage_blank_then_the_entry_says_it_was_inherited() -> None:
    entry = next(i for i in PINGLIANG if i.name == "人防工程事故")
    assert entry.destinations == ("110", "119", "120", "应急管理部门", "主责部门")
    assert entry.note and "合并单元格" in entry.note


def test_when_terms_are_combined_then_the_entry_meeting_all_comes_first_and_a_destination_or_code_matches_too() -> None:
    assert search(PINGLIANG, "95598 变压器")[0].code == "PL-3-04"
    assert {i.code for i in search(PINGLIANG, "95598")} == {f"PL-3-0{n}" for n in range(2, 8)}
    assert search(PINGLIANG, "不存在的事项") == []
    assert len(search(PINGLIANG, None)) == 193
    assert search(PINGLIANG, "pl-3-01")[0].code == "PL-3-01"
    assert search(PINGLIANG, "ＰＬ－３－０１")[0].code == "PL-3-01"   # full-width, as an IME may type it


def test_when_an_entry_is_disabled_then_search_leaves_it_out_unless_asked() -> None:
    items = [replace(i, enabled=False) if i.code == "QZ-1-04" else i for i in QINZHOU]
    assert search(items, "电梯") == []
    assert [i.code for i in search(items, "电梯", include_disabled=True)] == ["QZ-1-04"]
    assert len(search(items, None)) == 23


GOOD = {"code": "QZ-9-01", "section": "s", "group": "g", "name": "n", "destinations": ["110"],
        "linkage": "transfer", "handling": "转 110 办理"}


@pytest.mark.parametrize("change,field", [
    ({"code": "bad code"}, "code"),
    ({"destinations": []}, "destinations"),
    ({"destinations": ["110", "110"]}, "destinations"),
    ({"destinations": "110"}, "destinations"),
    ({"destinations": [1]}, "destination"),
    ({"linkage": "teleport"}, "linkage"),
    ({"name": ""}, "name"),
    ({"name": 5}, "name"),
    ({"name": "x" * 1001}, "name"),
    ({"handling": "a\nb"}, "handling"),
    ({"colour": "red"}, "colour"),
    ({"enabled": "yes"}, "enabled"),
])
def test_when_an_entry_is_malformed_then_the_field_is_named(change: dict, field: str) -> None:
    with pytest.raises(CatalogueError) as error:
        item_from_mapping({**GOOD, **change})
    assert error.value.field == field


def test_when_an_admin_edit_is_checked_then_only_editable_fields_pass() -> None:
    assert check_changes({"destinations": ["12365"], "note": None}) == {"destinations": ("12365",), "note": None}
    for bad, field in (({"code": "QZ-1-01"}, "code"), ({}, "body"), ({"enabled": 1}, "enabled")):
        with pytest.raises(CatalogueError) as error:
            check_changes(bad)
        assert error.value.field == field


@pytest.mark.parametrize("aliases,field", [
    ("下水道", "aliases"),
    (["井盖", "井盖"], "aliases"),
    (["井盖", "  "], "alias"),
    (["x" * 33], "alias"),
    (["a\nb"], "alias"),
    ([7], "alias"),
    (["词"] * 101, "aliases"),
])
def test_when_aliases_are_malformed_then_the_field_is_named(aliases: object, field: str) -> None:
    with pytest.raises(CatalogueError) as error:
        item_from_mapping({**GOOD, "aliases": aliases})
    assert error.value.field == field


def test_when_aliases_are_given_then_they_are_kept_trimmed_in_order_and_editable() -> None:
    item = item_from_mapping({**GOOD, "aliases": [" 下水道堵了 ", "井盖没了"]})
    assert item.aliases == ("下水道堵了", "井盖没了")
    assert item.as_dict()["aliases"] == ["下水道堵了", "井盖没了"]
    assert check_changes({"aliases": ["狗咬人"]}) == {"aliases": ("狗咬人",)}
    assert check_aliases([]) == ()


def test_when_an_aliases_file_is_read_then_its_words_join_the_entries_and_unknown_codes_are_refused() -> None:
    table = parse_aliases({"jurisdiction": "qinzhou", "aliases": {"QZ-1-06": ["井盖没了", "路灯不亮"]}},
                          expect="qinzhou", codes=[i.code for i in QINZHOU])
    merged = with_aliases(QINZHOU, table)
    assert next(i for i in merged if i.code == "QZ-1-06").aliases == ("井盖没了", "路灯不亮")
    assert sum(bool(i.aliases) for i in merged) == 1
    with pytest.raises(CatalogueError) as error:
        parse_aliases({"jurisdiction": "qinzhou", "aliases": {"PL-3-01": ["电梯"]}}, expect="qinzhou",
                      codes=[i.code for i in QINZHOU])
    assert error.value.field == "aliases.PL-3-01"
    with pytest.raises(CatalogueError):
        parse_aliases({"jurisdiction": "pingliang", "aliases": {}}, expect="qinzhou", codes=[])


@pytest.mark.parametrize("jurisdiction", ["qinzhou", "pingliang"])
def test_when_the_shipped_aliases_files_are_read_then_every_entry_has_everyday_words(jurisdiction: str) -> None:
    items = {"qinzhou": QINZHOU, "pingliang": PINGLIANG}[jurisdiction]
    data = json.loads((DATA / f"{jurisdiction}-aliases.json").read_text(encoding="utf-8"))
    table = parse_aliases(data, expect=jurisdiction, codes=[i.code for i in items])
    assert set(table) == {i.code for i in items}
    assert all(len(words) >= 1 for words in table.values())


def test_when_a_file_repeats_a_code_or_names_another_city_then_it_is_refused() -> None:
    with pytest.raises(CatalogueError) as error:
        parse_file({"jurisdiction": "qinzhou", "entries": [GOOD, GOOD]})
    assert error.value.field == "entries[1].code"
    with pytest.raises(CatalogueError):
        parse_file({"jurisdiction": "qinzhou", "entries": [GOOD]}, expect="pingliang")
