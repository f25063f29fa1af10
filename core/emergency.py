"""Safety first: danger to life or property in what a citizen says (pure).

Both seeds keep the emergency services out of the diversion lists' reach: a
matter that needs emergency handling goes to 110, 119, 120 or 122 whatever the
local list says (Qinzhou: "110 ... 及时处置紧急危难警情"; Pingliang table 1).
So when a seat's query mentions a fire, a gas smell, someone hurt or
unconscious, a weapon, someone trapped or a crash, the first results are the
emergency services for it — the catalogue's own entry for that service when
the catalogue names one that fits, else a built-in entry from `SERVICES`.

`alarms(text)` reads the cues (`CUES`, a table of patterns per service) and
returns the services in `PRECEDENCE` order; `pin(alarms, ranked, ...)` puts
them before the ranked catalogue entries.  No I/O and no third-party
imports: the table is tested case by case in tests/unit/test_emergency.py.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar


@dataclass(frozen=True)
class EmergencyService:
    number: str
    name: str          # what the seat reads on the result
    handling: str      # what to do, in the catalogue's words


SERVICES: dict[str, EmergencyService] = {
    "119": EmergencyService("119", "消防救援（火灾、爆炸、燃气泄漏、被困、抢险救援）",
                            "立即转 119；涉及燃气、危化品的同时通知相关企业"),
    "110": EmergencyService("110", "公安报警（持械、暴力、抢劫、绑架、走失、轻生等正在危及人身财产安全的警情）",
                            "立即转 110，由 110 先期处置"),
    "120": EmergencyService("120", "医疗急救（有人受伤、晕倒、昏迷、中毒、急危重病）",
                            "立即转 120；涉及违法犯罪或事故的同时通知 110/122"),
    "122": EmergencyService("122", "交通事故报警（车祸、撞人、翻车、肇事逃逸）",
                            "立即转 122；有人受伤的同时通知 120"),
}

# Several services at once ("车祸，有人受伤"): the danger that grows on its own
# first (a fire, an attacker), then care for the hurt, then the traffic desk
# (which calls 120 itself when needed).
PRECEDENCE: tuple[str, ...] = ("119", "110", "120", "122")


@dataclass(frozen=True)
class Cue:
    service: str
    what: str                 # the danger, in a word the seat reads
    pattern: re.Pattern[str]
    strong: bool = True       # weak cues stand down when the matter is plainly an old dispute


def _cue(service: str, what: str, pattern: str, *, strong: bool = True) -> Cue:
    return Cue(service, what, re.compile(pattern), strong)


CUES: tuple[Cue, ...] = (
    # 119: fire, explosion, gas, chemicals, people trapped or buried
    _cue("119", "火情", r"着火|着了火|起火|失火|火灾|火情|火势|大火(?!锅)|烧起来|烧着了"
                      r"|在烧(?!烤|饭|水|菜)|火烧(?!云)|冒火|火苗|明火|火光"),
    _cue("119", "爆炸", r"爆炸|炸开|爆燃|炸弹"),
    _cue("119", "燃气泄漏", r"(煤气|天然气|燃气|液化气|瓦斯|气罐)[^，。,.；;]{0,4}(泄漏|泄露|漏气|漏了|在漏|味|臭)"
                         r"|闻到[^，。,.；;]{0,3}(煤气|天然气|燃气|液化气)|(漏气|泄漏)[^，。,.；;]{0,3}(煤气|天然气|燃气)"),
    _cue("119", "危化品泄漏", r"(化学品|危化品|化工|毒气|氨气|氯气|硫化氢|农药罐|槽罐)"
                          r"[^，。,.；;]{0,4}(泄漏|泄露|漏了|在漏|外泄)|有毒(气|烟)|毒气"),
    _cue("119", "有人被困", r"被困|困住|困在|困人|关在电梯|卡在电梯|电梯里出不来|出不来了|被埋|埋在|压在下面|被压住"
                         r"|(被)?(关|锁|困)在(电梯|里面|屋里|车里|房间)|卡住了出不来|掉进(井|河|湖|塘|水|洞)|落水(?!管)|溺水|掉到水里|掉河里"),
    _cue("119", "房屋倒塌", r"(房子|房屋|楼房|大楼|楼)[^，。,.；;]{0,2}(塌了|倒塌|坍塌|垮了)"),
    # 110: weapons, violence, robbery, abduction, people missing, self-harm
    _cue("110", "持械", r"拿(着)?刀|持刀|举着刀|动刀|砍人|捅人|捅伤|刀砍|拿(着)?枪|有枪|开枪|持枪|拿(着)?棍子打"),
    _cue("110", "暴力", r"杀人|要杀|砍死|打死|打人|被打|殴打|打架|斗殴|群殴|互殴|家暴|家庭暴力|打老婆|打孩子"
                      r"|(打|揍)(我|她|他)(?!们?(电话|手机))|强奸|性侵|猥亵"),
    _cue("110", "抢劫绑架", r"抢劫|打劫|抢钱|抢包|抢手机|抢东西|抢(了|走)|被抢|绑架|劫持|人质|绑走|拐走|拐卖"),
    _cue("110", "正在发生的盗窃", r"(正在|在)(偷(?!偷)|撬)|撬门|撬锁进|入室|闯进(家|屋|门)|有贼|抓小偷|小偷在"),
    _cue("110", "人员走失", r"走丢|走失|丢了孩子|孩子丢了|孩子不见了|老人不见了|找不到(孩子|老人)|失踪"
                        r"|(孩子|小孩|女儿|儿子|闺女|老人|老太太|老头|爷爷|奶奶|外公|外婆)[^，。,.；;]{0,8}"
                        r"(没回家|没有回家|还没回来|不见了|找不到了|联系不上)"),
    _cue("110", "轻生", r"跳楼|跳河|跳桥|要?跳下去|站在楼顶|爬上楼顶|要自杀|想自杀|自杀|轻生|寻死|不想活"),
    # 120: injury, unconsciousness, poisoning, acute illness
    _cue("120", "昏迷", r"晕倒|昏倒|晕过去|昏过去|昏迷|不省人事|叫不醒|没(有)?(了)?呼吸|没气了|没(有)?心跳"
                      r"|心跳停|休克|抽搐|口吐白沫|(摔倒|跌倒|倒地)(了)?(起不来|不起来|不动)|倒在地上|躺在地上|倒地不起"),
    _cue("120", "大出血", r"大出血|流了?(好多|很多|一地)血|血流不止|流血不止|在流血|吐血|头破血流"
                        r"|(满身|满脸|满头|头上|身上)(都|全)?是血|一身血|一头血"),
    _cue("120", "中毒", r"中毒|喝(了)?农药|吃(了)?(很多|一瓶)?安眠药|吞(了)?药|误(吃|服|喝|食)|吃错(了)?药"
                      r"|煤气熏|一氧化碳"),
    _cue("120", "急危重病", r"心脏病(犯|发)|心梗|心肌梗|脑梗|脑出血|中风|呼吸困难|喘不上气|喘不过气|噎住|卡住喉咙"
                        r"|难产|要生了|快生了|羊水破|急救|救护车|病危|快不行了|触电|被电(到|击|打)|电到人"
                        r"|说不出话|半边身子|半身(不遂|动不了)|口歪眼斜|嘴歪了"),
    _cue("120", "有人受伤", r"受伤|受了伤|受重伤|伤得|摔伤|摔断|撞伤|烫伤|烧伤|骨折|重伤|伤员|伤者"
                        r"|(人|孩子|小孩|老人|工人|他|她|我)[^，。,.；;]{0,6}(摔|掉|跌|坠)(了)?下来|坠楼",
         strong=False),
    # 122: road traffic accidents
    _cue("122", "交通事故", r"车祸|撞车|追尾|交通事故|翻车|侧翻|肇事|碾压|撞了人|撞人|撞倒(了)?人"
                          r"|翻了[^，。,.；;]{0,4}车"
                          r"|(人|我|他|她|孩子|小孩|老人|行人)[^，。,.；;]{0,3}被[^，。,.；;]{0,4}车[^，。,.；;]{0,2}撞"
                          r"|被车撞(了|伤|倒|飞)(?!坏)|两(辆|台)车[^，。,.；;]{0,3}撞|车[^，。,.；;]{0,2}撞(了)?(车|人|树|墙|护栏)"
                          r"|(车|摩托|单车)[^，。,.；;]{0,8}撞(?!坏)"),
)

# A cue right after one of these is denied ("没有人受伤", "防火", "未起火").
_NEGATION = re.compile(r"(没有|没|未|无|不是|并非|防止|预防|防)(人员|人)?$")
# "受伤" in an old matter argued about money is no emergency: a weak cue stands
# down when the query also speaks of compensation, complaints or paperwork.
_DISPUTE = re.compile(r"赔偿|赔钱|不赔|索赔|报销|医药费|工伤|认定|纠纷|投诉|维权|理赔|保险|鉴定|起诉"
                      r"|上次|以前|去年|之前")
# Words that contain a cue but name a standing concern, not a danger now.
_NOT_NOW = re.compile(r"火灾隐患|消防隐患|防火|消防栓|消防通道|消防设施|森林防火|烟花爆竹|防汛")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Full-width forms folded (ＡＢＣ１２３ -> abc123), lower case, blanks removed."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text or "").lower())


@dataclass(frozen=True)
class Alarm:
    """An emergency service the query calls for, and the words that called it."""

    service: EmergencyService
    cues: tuple[str, ...]     # the words of the query
    what: tuple[str, ...]     # the dangers they name

    @property
    def number(self) -> str:
        return self.service.number


def alarms(text: str) -> list[Alarm]:
    """The emergency services `text` calls for, in `PRECEDENCE` order (none: [])."""
    said = _NOT_NOW.sub(lambda m: "□" * len(m.group()), normalise(text))
    dispute = bool(_DISPUTE.search(said))
    found: dict[str, tuple[list[str], list[str]]] = {}
    for cue in CUES:
        if not cue.strong and dispute:
            continue
        for match in cue.pattern.finditer(said):
            if _NEGATION.search(said[max(0, match.start() - 4):match.start()]):
                continue
            words, what = found.setdefault(cue.service, ([], []))
            if match.group() not in words:
                words.append(match.group())
            if cue.what not in what:
                what.append(cue.what)
    return [Alarm(SERVICES[n], tuple(found[n][0]), tuple(found[n][1])) for n in PRECEDENCE if n in found]


T = TypeVar("T")


@dataclass(frozen=True)
class Pinned(Generic[T]):
    """A result put first for safety: the alarm, and the catalogue's entry for
    that service (`entry`) or None when the built-in `alarm.service` stands in."""

    alarm: Alarm
    entry: T | None


def pin(found: Sequence[Alarm], ranked: Iterable[T], primary: Callable[[T], str]) -> tuple[list[Pinned[T]], list[T]]:
    """Safety first: one `Pinned` per alarm, in order, then the other ranked results.

    For each alarm the best-ranked entry whose primary destination is that
    service stands for it ("from the catalogue where it names one"); with
    none, the built-in service does.  An entry pinned is not repeated below.
    """
    rest = list(ranked)
    pinned: list[Pinned[T]] = []
    for alarm in found:
        entry = next((r for r in rest if primary(r) == alarm.number), None)
        if entry is not None:
            rest.remove(entry)
        pinned.append(Pinned(alarm, entry))
    return pinned, rest
