"""How well the catalogue search answers everyday phrasings: top-1 / top-3 per city (tooling).

The phrasings live in `tests/data/catalogue-eval.tsv` (the set the search
was tuned on) and `tests/data/catalogue-heldout.tsv` (written afterwards,
never tuned on), one per line:
`phrasing <TAB> Qinzhou expected <TAB> Pingliang expected`, where expected is
any of the right catalogue codes and "!NNN" when the first result must be the
emergency service NNN; "-" skips that city.  `hotline catalogue eval` prints
the figures and every miss; tests/unit/test_catalogue_eval.py holds them to
thresholds.  Runs on the shipped files (catalogue + aliases), no database.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.catalogue.search import CatalogueIndex, Found
from core.catalogue import JURISDICTIONS
from core.settings import PROJECT_ROOT

EVAL_FILE = PROJECT_ROOT / "tests" / "data" / "catalogue-eval.tsv"
# Written after tuning on EVAL_FILE and never tuned on: how the search does on unseen wording.
HELDOUT_FILE = PROJECT_ROOT / "tests" / "data" / "catalogue-heldout.tsv"


@dataclass(frozen=True)
class Case:
    phrasing: str
    codes: frozenset[str]
    emergency: str | None     # the service that must come first, if any
    line: int


def read_cases(path: Path = EVAL_FILE) -> dict[str, list[Case]]:
    """The cases per jurisdiction (in `JURISDICTIONS` column order)."""
    cases: dict[str, list[Case]] = {j: [] for j in JURISDICTIONS}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        columns = raw.split("\t")
        if len(columns) != 1 + len(JURISDICTIONS):
            raise ValueError(f"{path.name}:{number}: expected {1 + len(JURISDICTIONS)} tab-separated columns")
        phrasing, *expected = columns
        for jurisdiction, want in zip(JURISDICTIONS, expected, strict=True):
            tokens = want.split()
            if tokens == ["-"]:
                continue
            emergency = [t[1:] for t in tokens if t.startswith("!")]
            codes = frozenset(t for t in tokens if not t.startswith("!"))
            if len(emergency) > 1 or not (codes or emergency):
                raise ValueError(f"{path.name}:{number}: bad expectation {want!r} for {jurisdiction}")
            cases[jurisdiction].append(Case(phrasing.strip(), codes, emergency[0] if emergency else None, number))
    return cases


@dataclass(frozen=True)
class Outcome:
    case: Case
    top1: bool
    top3: bool
    got: tuple[str, ...]      # the first results: codes, or "!NNN" for an emergency service put first


def judge(case: Case, found: Found) -> Outcome:
    """Top-1: the first result is right (the emergency service when one is due, else
    one of the codes).  Top-3: the same within the first three results — and when
    an emergency is due, it must still come first, with a right code (if any) in
    the first three."""
    firsts = found.hits[:3]
    got = tuple(f"!{h.alarm.number}" + (f"={h.code}" if h.code else "") if h.alarm else str(h.code)
                for h in firsts)
    if case.emergency is not None:
        first_ok = bool(firsts) and firsts[0].alarm is not None and firsts[0].alarm.number == case.emergency
        codes_ok = not case.codes or any(h.code in case.codes for h in firsts)
        return Outcome(case, first_ok, first_ok and codes_ok, got)
    top1 = bool(firsts) and firsts[0].code in case.codes
    top3 = any(h.code in case.codes for h in firsts)
    return Outcome(case, top1, top3, got)


@dataclass
class Report:
    jurisdiction: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def top1(self) -> float:
        return sum(o.top1 for o in self.outcomes) / self.total if self.total else 0.0

    @property
    def top3(self) -> float:
        return sum(o.top3 for o in self.outcomes) / self.total if self.total else 0.0

    @property
    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.top1]


def evaluate(indexes: dict[str, CatalogueIndex], cases: dict[str, list[Case]] | None = None) -> list[Report]:
    cases = read_cases() if cases is None else cases
    reports = []
    for jurisdiction, index in indexes.items():
        report = Report(jurisdiction)
        for case in cases.get(jurisdiction, []):
            report.outcomes.append(judge(case, index.search(case.phrasing, limit=5)))
        reports.append(report)
    return reports


def render(reports: list[Report], title: str = "") -> str:
    lines = [title] if title else []
    for r in reports:
        lines.append(f"{r.jurisdiction}: {r.total} phrasings  top-1 {r.top1:.1%}  top-3 {r.top3:.1%}")
    for r in reports:
        for o in r.misses:
            want = " ".join(sorted(o.case.codes) + ([f"!{o.case.emergency}"] if o.case.emergency else []))
            mark = "top-3" if o.top3 else "MISS "
            lines.append(f"  {r.jurisdiction} {mark} line {o.case.line}: {o.case.phrasing}  want {want}  "
                         f"got {' '.join(o.got) or '(nothing)'}")
    return "\n".join(lines)
