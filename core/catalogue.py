"""Diversion catalogues (分流事项清单): entries, validation and matching (pure).

A catalogue maps a kind of request to where it goes and how.  Two ship as
data in `data/catalogue/`, one per jurisdiction, transcribed from the seeds:
Qinzhou (钦政办〔2022〕45号, annex 2) and Pingliang (平政办发〔2023〕30号,
annex 1, all three tables).  Their lists differ for the same matter (an
elevator fault goes to 12345 in Qinzhou, to 12365 in Pingliang), so a
deployment selects its own (`Settings.orders.jurisdiction`).

An entry's `destinations` are hotline numbers ("110", "119", "120", "122",
"12345", "12365", "95598", ...) or units ("自来水公司", "应急管理部门"),
primary first; `linkage` is one of `LINKAGES`.  `aliases` are everyday words
for the matter, the way a citizen says it ("下水道堵了", "井盖没了"): curated
data, shipped beside each catalogue (`data/catalogue/<jurisdiction>-aliases.json`)
and editable by admins like every other field; search weighs them with the
seed's own wording.  No I/O here: loading files and the database is
`app.catalogue.store`'s job; ranking is `app.catalogue.search`'s.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from core.safety import BLANKS, NOT_BLANK

JURISDICTIONS: tuple[str, ...] = ("qinzhou", "pingliang")

LINKAGES: dict[str, str] = {
    "transfer": "转/一键转接至该热线或平台办理",
    "joint": "多方联动办理",
    "dispatch": "由 12345 热线派发/转派工单至承办单位办理",
    "refer": "转至公共事业企业办理",
    "guide": "引导诉求人拨打其他热线或联系相关企业",
}

CODE = re.compile(r"^[A-Z]{2,6}-[0-9A-Za-z]{1,4}-[0-9]{1,4}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Field limits shared by the data files and admin edits.
# A text value as the document states it: blanks at either end (trimmed),
# around a part with no control character that is not blank itself.
TEXT_PATTERN = (rf"^{BLANKS}*[^{NOT_BLANK}\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^{NOT_BLANK}\x00-\x1f\x7f])?"
                rf"{BLANKS}*$")
LIMITS = {"section": 128, "group": 128, "name": 1000, "handling": 500, "note": 500, "destination": 32,
          "alias": 32}
MAX_ALIASES = 100


class CatalogueError(ValueError):
    """A catalogue entry or file is malformed; `field` names what."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class CatalogueItem:
    code: str
    section: str
    group: str
    name: str
    destinations: tuple[str, ...]
    linkage: str
    handling: str
    note: str | None = None
    enabled: bool = True
    aliases: tuple[str, ...] = ()

    @property
    def destination(self) -> str:
        """The primary destination."""
        return self.destinations[0]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["destinations"] = list(self.destinations)
        data["destination"] = self.destination
        data["aliases"] = list(self.aliases)
        return data


def _text(field: str, value: object, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise CatalogueError(field, "must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CatalogueError(field, "is not valid Unicode text") from None
    limit = LIMITS[field]
    if len(value) > limit:  # as sent, blanks included: what the document's maxLength counts
        raise CatalogueError(field, f"longer than {limit} characters")
    value = value.strip()
    if required and not value:
        raise CatalogueError(field, "must not be empty")
    if _CONTROL.search(value):
        raise CatalogueError(field, "contains a control character")
    limit = LIMITS[field]
    if len(value) > limit:
        raise CatalogueError(field, f"longer than {limit} characters")
    return value


def check_code(code: object) -> str:
    if not isinstance(code, str) or not CODE.match(code):
        raise CatalogueError("code", "must look like QZ-1-04 or PL-3-12")
    return code


def check_destinations(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or len(value) > 8:
        raise CatalogueError("destinations", "must be a list of 1 to 8 destinations")
    _no_repeats("destinations", value)
    result: list[str] = []
    for item in value:
        text = _text("destination", item)
        assert text is not None
        if text not in result:  # "120" and " 120": one destination
            result.append(text)
    return tuple(result)


def _no_repeats(field: str, value: list[Any]) -> None:
    """The same item sent twice is refused (the document says uniqueItems);
    items that only become equal once trimmed are kept once."""
    seen: list[Any] = []
    for item in value:
        if item in seen:
            raise CatalogueError(field, f"{item!r} given twice")
        seen.append(item)


def check_aliases(value: object) -> tuple[str, ...]:
    """Everyday words for an entry: a list of up to `MAX_ALIASES` short texts,
    none twice (compared without case or surrounding blanks)."""
    if not isinstance(value, list) or len(value) > MAX_ALIASES:
        raise CatalogueError("aliases", f"must be a list of at most {MAX_ALIASES} words")
    _no_repeats("aliases", value)
    result: list[str] = []
    for item in value:
        text = _text("alias", item)
        assert text is not None
        if text.lower() not in (r.lower() for r in result):  # 井盖 / 井蓋 apart, Wifi / WIFI: one word
            result.append(text)
    return tuple(result)


def check_linkage(value: object) -> str:
    if not isinstance(value, str) or value not in LINKAGES:  # {} or [] is unhashable: not a word either
        raise CatalogueError("linkage", f"{value!r}: expected one of {', '.join(LINKAGES)}")
    return str(value)


def item_from_mapping(data: Mapping[str, Any]) -> CatalogueItem:
    """Validate one entry of a data file (or a full admin edit)."""
    if not isinstance(data, Mapping):
        raise CatalogueError("entry", "must be an object")
    unknown = set(data) - {"code", "section", "group", "name", "destinations", "linkage", "handling",
                           "note", "enabled", "aliases"}
    if unknown:
        raise CatalogueError(sorted(unknown)[0], "not a catalogue field")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise CatalogueError("enabled", "must be true or false")
    return CatalogueItem(
        code=check_code(data.get("code")),
        section=_text("section", data.get("section")) or "",
        group=_text("group", data.get("group")) or "",
        name=_text("name", data.get("name")) or "",
        destinations=check_destinations(data.get("destinations")),
        linkage=check_linkage(data.get("linkage")),
        handling=_text("handling", data.get("handling")) or "",
        note=_text("note", data.get("note"), required=False),
        enabled=enabled,
        aliases=check_aliases(data.get("aliases", [])),
    )


def check_changes(changes: object) -> dict[str, Any]:
    """Validate an admin's partial edit; returns the cleaned changes."""
    if not isinstance(changes, Mapping) or not changes:
        raise CatalogueError("body", "must be an object with at least one field to change")
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        if field in ("section", "group", "name", "handling"):
            cleaned[field] = _text(field, value)
        elif field == "note":
            cleaned[field] = _text(field, value, required=False)
        elif field == "destinations":
            cleaned[field] = check_destinations(value)
        elif field == "aliases":
            cleaned[field] = check_aliases(value)
        elif field == "linkage":
            cleaned[field] = check_linkage(value)
        elif field == "enabled":
            if not isinstance(value, bool):
                raise CatalogueError(field, "must be true or false")
            cleaned[field] = value
        else:
            raise CatalogueError(str(field), "not an editable catalogue field")
    return cleaned


def parse_file(data: Any, *, expect: str | None = None) -> tuple[str, list[CatalogueItem]]:
    """Validate a parsed data file: its jurisdiction and its entries (codes unique)."""
    if not isinstance(data, Mapping):
        raise CatalogueError("file", "must be a JSON object")
    jurisdiction = data.get("jurisdiction")
    if jurisdiction not in JURISDICTIONS:
        raise CatalogueError("jurisdiction", f"{jurisdiction!r}: expected one of {', '.join(JURISDICTIONS)}")
    if expect is not None and jurisdiction != expect:
        raise CatalogueError("jurisdiction", f"file is for {jurisdiction}, expected {expect}")
    entries = data.get("entries")
    if not isinstance(entries, list) or not entries:
        raise CatalogueError("entries", "must be a non-empty list")
    items: list[CatalogueItem] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        try:
            item = item_from_mapping(entry)
        except CatalogueError as exc:
            raise CatalogueError(f"entries[{index}].{exc.field}", exc.reason) from None
        if item.code in seen:
            raise CatalogueError(f"entries[{index}].code", f"{item.code} given twice")
        seen.add(item.code)
        items.append(item)
    return str(jurisdiction), items


def parse_aliases(data: Any, *, expect: str, codes: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Validate a parsed aliases file, `{"jurisdiction": …, "aliases": {code: [word, …]}}`:
    its jurisdiction, and every code one of `codes` (the catalogue's)."""
    if not isinstance(data, Mapping):
        raise CatalogueError("file", "must be a JSON object")
    if data.get("jurisdiction") != expect:
        raise CatalogueError("jurisdiction", f"{data.get('jurisdiction')!r}: expected {expect}")
    table = data.get("aliases")
    if not isinstance(table, Mapping):
        raise CatalogueError("aliases", "must be an object of catalogue code -> list of words")
    known = set(codes)
    result: dict[str, tuple[str, ...]] = {}
    for code, words in table.items():
        if code not in known:
            raise CatalogueError(f"aliases.{code}", "not a code of this catalogue")
        try:
            result[code] = check_aliases(words)
        except CatalogueError as exc:
            raise CatalogueError(f"aliases.{code}", exc.reason) from None
    return result


def with_aliases(items: Iterable[CatalogueItem], aliases: Mapping[str, tuple[str, ...]]) -> list[CatalogueItem]:
    """The entries with the aliases file's words added after their own (none twice)."""
    merged = []
    for item in items:
        extra = [a for a in aliases.get(item.code, ()) if a.lower() not in {b.lower() for b in item.aliases}]
        merged.append(replace(item, aliases=check_aliases([*item.aliases, *extra])) if extra else item)
    return merged


def route_for(item: CatalogueItem | None, target: str) -> bool:
    """Whether sending a matter of this category to `target` follows the catalogue."""
    return item is not None and target in item.destinations
