"""`app.catalogue.search` on the shipped catalogues and aliases: everyday words in, ranked entries out, with why."""
from __future__ import annotations

import pytest

from app.catalogue import store
from app.catalogue.search import CatalogueIndex, Found

INDEX = {j: CatalogueIndex(store.read_shipped(j)) for j in ("qinzhou", "pingliang")}


def find(jurisdiction: str, q: str, **kwargs: object) -> Found:
    return INDEX[jurisdiction].search(q, **kwargs)  # type: ignore[arg-type]


def first(jurisdiction: str, q: str) -> str:
    hit = find(jurisdiction, q).hits[0]
    return f"!{hit.alarm.number}" if hit.alarm else str(hit.code)


# The issue's phrasings, which found nothing in either city before.
ISSUE = [
    ("下水道堵了", {"QZ-3-01", "QZ-1-09"}, {"PL-2-65"}),
    ("狗咬人", {"QZ-1-18", "QZ-1-09", "QZ-1-01"}, {"PL-1-20", "PL-2-93"}),
    ("楼道堆满杂物", {"QZ-1-18", "QZ-1-12", "QZ-1-09"}, {"PL-2-91", "PL-2-93"}),
    ("房东不退押金", {"QZ-1-16", "QZ-1-04"}, {"PL-3-22"}),
    ("被电话骗了钱", None, {"PL-1-04", "PL-1-11"}),
    ("井盖没了", {"QZ-1-06"}, {"PL-2-29", "PL-1-16", "PL-3-06", "PL-2-12"}),
    ("广场舞太吵", {"QZ-1-18", "QZ-1-08"}, {"PL-1-12"}),
    ("出租车绕路", {"QZ-1-15"}, {"PL-2-123"}),
    ("邻居养鸡很臭", {"QZ-1-08", "QZ-1-09", "QZ-1-18"}, {"PL-2-28", "PL-2-93", "PL-2-72"}),
    ("天然气味道很大", {"!119"}, {"!119"}),
    ("有人拿刀", {"!110"}, {"!110"}),
    ("有人晕倒了", {"!120"}, {"!120"}),
    ("路面塌了", {"QZ-1-06"}, {"PL-1-16", "PL-2-34"}),
    ("公交车不停站", {"QZ-1-15"}, {"PL-2-123"}),
    ("食品过期", {"QZ-1-04"}, {"PL-2-51"}),
]


@pytest.mark.parametrize("q,qinzhou,pingliang", ISSUE)
def test_when_a_seat_types_what_the_citizen_said_then_the_right_entry_comes_first_in_each_city(
        q: str, qinzhou: set[str] | None, pingliang: set[str]) -> None:
    if qinzhou is not None:
        assert first("qinzhou", q) in qinzhou
    assert first("pingliang", q) in pingliang


def test_when_the_same_matter_is_said_in_both_cities_then_each_answers_from_its_own_list() -> None:
    qz, pl = find("qinzhou", "电梯坏了好几天").hits[0], find("pingliang", "电梯坏了好几天").hits[0]
    assert (qz.code, qz.destination, qz.item and qz.item.linkage) == ("QZ-1-04", "12345", "transfer")
    assert (pl.code, pl.destination) == ("PL-3-01", "12365")
    assert pl.item is not None and pl.item.section.startswith("附件1 表3")


def test_when_a_result_is_given_then_it_says_which_words_matched_where_and_how() -> None:
    view = find("qinzhou", "我们小区下水道又堵了").hits[0].as_dict()
    assert view["code"] in ("QZ-3-01", "QZ-1-09")
    assert view["match"]["score"] > 0
    assert any(w["term"].startswith("下水道") and w["field"] == "aliases" for w in view["match"]["why"])
    assert view["emergency"] is None
    assert {"term", "matched", "field", "how"} == set(view["match"]["why"][0])


def test_when_a_word_is_written_with_a_homophone_then_the_entry_is_still_found_by_its_sound() -> None:
    hit = find("pingliang", "电题坏了").hits[0]
    assert hit.code == "PL-3-01"
    assert any(w.how == "pinyin" and "电梯" in w.matched for w in hit.why)
    assert find("pingliang", "下水到堵了").hits[0].code == "PL-2-65"


def test_when_a_word_has_a_thesaurus_synonym_in_the_catalogue_then_the_synonym_finds_the_entry() -> None:
    hit = find("pingliang", "升降机坏了").hits[0]   # Cilin: 升降机 = 电梯
    assert hit.code == "PL-3-01"
    assert any(w.how == "synonym" and w.term == "升降机" and w.matched == "电梯" for w in hit.why)


def test_when_danger_is_spoken_of_then_the_catalogues_entry_for_that_service_or_the_built_in_comes_first() -> None:
    pl = find("pingliang", "车祸了有人受伤流了好多血")
    assert [(h.alarm.number if h.alarm else None) for h in pl.hits[:2]] == ["120", "122"]
    assert pl.hits[0].code == "PL-1-30" or pl.hits[0].item is None    # PL-1-30 goes to 120 first
    assert pl.hits[1].code == "PL-1-14"                               # 交通事故: 122 first
    qz = find("qinzhou", "车祸了有人受伤流了好多血")                    # Qinzhou's list names no 120/122
    assert [(h.alarm.number, h.item) for h in qz.hits[:2] if h.alarm] == [("120", None), ("122", None)]
    assert qz.hits[0].as_dict()["emergency"] == {"service": "120", "cues": ["流了好多血", "受伤"],
                                                "what": ["大出血", "有人受伤"], "builtin": True}


def test_when_the_limit_is_small_then_emergencies_still_come_and_entries_are_cut() -> None:
    found = find("pingliang", "车祸了有人受伤流了好多血", limit=1)
    assert [h.alarm.number for h in found.hits if h.alarm] == ["120", "122"]
    assert len(find("pingliang", "纠纷", limit=3).hits) == 3


def test_when_nothing_matches_then_it_says_so_and_offers_the_closest_groups() -> None:
    found = find("pingliang", "今天星期几")
    assert not found.matched and found.hits == ()
    assert found.closest_groups and all(g.codes and g.destinations for g in found.closest_groups)
    assert find("qinzhou", "asdfgh").closest_groups   # nothing in common at all: the catch-all groups


def test_when_a_code_or_a_destination_is_typed_then_it_is_found_as_such() -> None:
    assert find("pingliang", "pl-3-11").hits[0].code == "PL-3-11"
    assert {h.code for h in find("pingliang", "12348").hits} <= {f"PL-3-{n:02d}" for n in range(12, 29)}
    assert find("pingliang", "自来水公司").hits[0].code == "PL-3-08"


def test_when_no_query_is_given_then_every_enabled_entry_comes_in_catalogue_order() -> None:
    hits = find("qinzhou", "").hits
    assert [h.code for h in hits] == [i.code for i in INDEX["qinzhou"].items]
