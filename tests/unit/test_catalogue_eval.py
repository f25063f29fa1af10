"""The catalogue search on everyday phrasings, per city: top-1 / top-3 held to thresholds.

tests/data/catalogue-eval.tsv is the set the search was tuned on;
catalogue-heldout.tsv was written afterwards and never tuned on, so its
thresholds are lower and its figures are the honest ones.  Safety first
holds on both without exception: every phrasing that speaks of danger gets
its emergency service first.  `hotline catalogue eval` prints every miss.
"""
from __future__ import annotations

import pytest

from app.catalogue import store
from app.catalogue.evaluation import (
    EVAL_FILE,
    HELDOUT_FILE,
    Report,
    evaluate,
    read_cases,
)
from app.catalogue.search import CatalogueIndex
from core.catalogue import JURISDICTIONS

# (top-1, top-3) at least; measured when set: eval 94.6/96.6 (Qinzhou), 95.5/98.2 (Pingliang);
# held-out 82.4/84.6, 75.8/85.7.
THRESHOLDS = {EVAL_FILE.name: (0.90, 0.94), HELDOUT_FILE.name: (0.70, 0.80)}


@pytest.fixture(scope="module")
def reports() -> dict[tuple[str, str], Report]:
    indexes = {j: CatalogueIndex(store.read_shipped(j)) for j in JURISDICTIONS}
    out = {}
    for path in (EVAL_FILE, HELDOUT_FILE):
        for report in evaluate(indexes, read_cases(path)):
            out[(path.name, report.jurisdiction)] = report
    return out


def test_when_the_sets_are_read_then_each_city_has_at_least_150_tuned_phrasings() -> None:
    cases = read_cases(EVAL_FILE)
    assert all(len(cases[j]) >= 150 for j in JURISDICTIONS), {j: len(c) for j, c in cases.items()}


@pytest.mark.parametrize("name", [EVAL_FILE.name, HELDOUT_FILE.name])
@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_when_citizens_phrasings_are_searched_then_top1_and_top3_reach_the_thresholds(
        reports: dict[tuple[str, str], Report], name: str, jurisdiction: str) -> None:
    report = reports[(name, jurisdiction)]
    top1, top3 = THRESHOLDS[name]
    misses = [(o.case.phrasing, o.got) for o in report.misses]
    assert report.top1 >= top1, f"top-1 {report.top1:.1%} < {top1:.0%}; misses: {misses}"
    assert report.top3 >= top3, f"top-3 {report.top3:.1%} < {top3:.0%}"


def test_when_a_phrasing_speaks_of_danger_then_its_emergency_service_always_comes_first(
        reports: dict[tuple[str, str], Report]) -> None:
    failed = [(key, o.case.phrasing, o.got) for key, r in reports.items() for o in r.outcomes
              if o.case.emergency is not None and not o.top1]
    assert failed == []


def test_when_a_phrasing_speaks_of_no_danger_then_no_emergency_is_put_first(
        reports: dict[tuple[str, str], Report]) -> None:
    alarmed = [(key, o.case.phrasing, o.got) for key, r in reports.items() for o in r.outcomes
               if o.case.emergency is None and o.got and o.got[0].startswith("!")]
    assert alarmed == []
