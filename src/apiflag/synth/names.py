"""Per-country name pools with their usual romanisations, and the ways a name varies.

Pools are small, hand-written and fictional in combination: they give realistic surname and
given-name frequencies per nationality (a few very common surnames such as NGUYEN, KIM or SATO,
so that common names collide as they do in real data). ``variant`` turns a case person's name
into the name they travel under (transliteration, swapped order, a typo, a dropped middle name,
a compound surname joined or cut), deterministically for a given random draw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["NamePool", "POOLS", "VARIANT_KINDS", "pool_for", "variant"]


@dataclass(frozen=True, slots=True)
class NamePool:
    """Names of one language area; ``female_suffix`` turns a surname female (KARIMOV -> KARIMOVA)."""

    surnames: tuple[str, ...]
    male: tuple[str, ...]
    female: tuple[str, ...]
    female_suffix: str = ""


def _p(s: str, m: str, f: str, suffix: str = "") -> NamePool:
    return NamePool(tuple(s.split(",")), tuple(m.split(",")), tuple(f.split(",")), suffix)


POOLS: dict[str, NamePool] = {
    "JPN": _p(
        "SATO,SATO,SUZUKI,SUZUKI,TAKAHASHI,TANAKA,TANAKA,WATANABE,ITO,YAMAMOTO,NAKAMURA,KOBAYASHI,KATO,YOSHIDA,YAMADA,SASAKI,YAMAGUCHI,MATSUMOTO,INOUE,KIMURA,HAYASHI,SHIMIZU,SAITO,MORI,OGAWA",
        "HIROSHI,TAKESHI,KENJI,YUTO,HARUTO,SOTA,RIKU,DAICHI,SHOTA,KAITO,RYOTA,YUKI,KOJI,MASATO,TAKUYA",
        "YUKI,HANA,AOI,YUI,SAKURA,MISAKI,AYAKA,NANAMI,HARUKA,MEI,RIN,KAORI,YOKO,EMI,MAYU",
    ),
    "CHN": _p(
        "WANG,WANG,LI,LI,ZHANG,ZHANG,LIU,CHEN,CHEN,YANG,HUANG,ZHAO,WU,ZHOU,XU,SUN,MA,ZHU,HU,GUO,HE,LIN,LUO,GAO",
        "WEI,JIAN,HAO,QIANG,JUN,LEI,YONG,TAO,MING,BO,ZHIWEI,HAORAN,YUXUAN",
        "FANG,NA,JING,MIN,YAN,XIU,YING,LING,HUI,XIAOMEI,YUTONG,JIAYI,XINYI",
    ),
    "TWN": _p(
        "CHEN,LIN,HUANG,CHANG,LEE,WANG,WU,LIU,TSAI,YANG,HSU,CHENG",
        "CHIH HAO,CHUN CHIEH,CHIA HAO,CHENG EN,YU HSIANG,PO WEI",
        "YU TING,SHU FEN,MEI LING,YA TING,HSIN YI,PEI SHAN",
    ),
    "HKG": _p(
        "CHAN,WONG,LEUNG,LAU,CHEUNG,LEE,HO,LAM,NG,TSANG,CHOW,YEUNG",
        "KA MING,WING KEI,CHI HO,KWOK WAI,TSZ HIN,MAN KIT",
        "MEI LING,WAI YEE,SIU MAN,HOI YAN,KA YAN,WING SZE",
    ),
    "KOR": _p(
        "KIM,KIM,KIM,LEE,LEE,PARK,PARK,CHOI,JUNG,KANG,CHO,YOON,JANG,LIM,HAN,OH,SEO,SHIN,KWON",
        "MINJUN,SEOJUN,DOYUN,JIHO,JUNWOO,HYUNWOO,SUNGMIN,JAEHYUN,DONGHYUN",
        "SEOYEON,JIWOO,SEOYUN,HAYOON,MINSEO,JIYEON,SOYEON,EUNJI,HYEJIN",
    ),
    "VNM": _p(
        "NGUYEN,NGUYEN,NGUYEN,NGUYEN,TRAN,TRAN,LE,LE,PHAM,HOANG,HUYNH,PHAN,VU,VO,DANG,BUI,DO,HO,NGO,DUONG",
        "VAN NAM,DUC MINH,QUANG HUY,MINH TUAN,VAN HUNG,THANH LONG,VAN DUC,HOANG ANH,VAN THANH",
        "THI HUONG,THI LAN,THI MAI,THI THU,NGOC ANH,THI HOA,THI HANG,THU TRANG,THI NGA",
    ),
    "PHL": _p(
        "SANTOS,REYES,CRUZ,BAUTISTA,OCAMPO,GARCIA,MENDOZA,TORRES,DELA CRUZ,DE LOS SANTOS,VILLANUEVA,RAMOS,AQUINO,CASTILLO,DELOS REYES",
        "JOSE,MARK ANTHONY,JOHN PAUL,MICHAEL,JERICHO,RONALDO,CHRISTIAN,JOEL",
        "MARIA CRISTINA,JOCELYN,MARICEL,ANGELICA,JENNIFER,ROSALIE,MARY JOY,KRISTINE",
    ),
    "THA": _p(
        "CHAIYAPORN,KAEWKLA,SRISAI,PHETSRI,SUKSAWAT,THONGCHAI,WONGSAWAT,BOONMA,SAENGTHONG,RATTANAKORN,JANTARA,SOMBAT",
        "SOMCHAI,NARONG,ANAN,KITTI,PRASERT,WICHAI,SOMSAK,THANAWAT,CHAIWAT",
        "PIMCHANOK,SOMYING,NARUMON,SUPAPORN,KANYARAT,WARUNEE,SIRIPORN,PATCHARIN",
    ),
    "IDN": _p(
        "SETIAWAN,WIJAYA,SANTOSO,HIDAYAT,SAPUTRA,KURNIAWAN,PRATAMA,LESTARI,NUGROHO,SUSANTO",
        "AGUS,BUDI,RUDI,EKO,ADI,DEDI,RIZKY,ARIF",
        "SITI,DEWI,PUTRI,RINA,SRI,NUR AINI,AYU,FITRI",
    ),
    "MYS": _p(
        "ABDULLAH,AHMAD,TAN,LIM,WONG,RAHMAN,ISMAIL,ONG",
        "MUHAMMAD HAFIZ,AHMAD FAIZ,WEI JIE,KAR WENG",
        "NUR AISYAH,SITI NURHALIZA,SIEW LING,MEI YEE",
    ),
    "SGP": _p(
        "TAN,LIM,LEE,NG,ONG,WONG,GOH,CHUA,KOH",
        "WEI MING,JUN JIE,ZHI HAO,RAJ",
        "HUI MIN,XIN YI,SHU TING,PRIYA",
    ),
    "IND": _p(
        "SHARMA,SINGH,KUMAR,PATEL,GUPTA,REDDY,NAIR,IYER,D'SOUZA,RAO,MENON,DAS",
        "RAHUL,AMIT,RAJESH,ARJUN,VIKRAM,SURESH,KARTHIK,ANIL",
        "PRIYA,ANITA,DEEPA,KAVYA,NEHA,LAKSHMI,POOJA,SUNITA",
    ),
    "NPL": _p(
        "SHRESTHA,GURUNG,TAMANG,RAI,MAGAR,THAPA,ADHIKARI,KC,BASNET",
        "RAM,BIKASH,SURESH,PRAKASH,SANTOSH,DIPAK",
        "SITA,GITA,SABITA,ANJALI,SUNITA,PRATIMA",
    ),
    "LKA": _p(
        "PERERA,FERNANDO,SILVA,JAYASINGHE,BANDARA,DISSANAYAKE",
        "NUWAN,KASUN,CHAMARA,DINESH",
        "NADEESHA,DILANI,SAMANTHI,CHATHURIKA",
    ),
    "BGD": _p(
        "HOSSAIN,RAHMAN,AHMED,ISLAM,UDDIN,KHAN,MIAH",
        "MOHAMMED RAFIQ,KARIM,ABDUL HAI,SHAFIQUL",
        "FATEMA,NASRIN,SHIRIN,RUMANA",
    ),
    "MMR": _p(
        "AUNG,KYAW,THANT,ZAW,HTET,WIN,OO,MYINT",
        "KYAW ZAW,AUNG MIN,THANT ZIN,MIN HTET,ZAW LIN",
        "AYE AYE,SU MON,THIDA,HNIN WAI,MAY THU",
    ),
    "KHM": _p(
        "SOK,CHAN,KIM,LY,HENG,SENG,MEAS",
        "DARA,VANNAK,SOPHAL,RITHY",
        "SREYNEANG,CHANTHOU,BOPHA,SOPHEAP",
    ),
    "LAO": _p(
        "PHOMMAVONG,KEOMANY,SOUVANNA,VONGSA,SISOMPHONE",
        "SOMPHONE,KHAMPHENG,BOUNMY",
        "KHAMLA,MALIVANH,VIENGKHAM",
    ),
    "MNG": _p(
        "BATBAYAR,GANBOLD,ENKHBAYAR,TSERENDORJ,BOLD,DORJ",
        "BATAA,TEMUULEN,GANBAATAR,ENKHJIN",
        "OYUNCHIMEG,SARANGEREL,NOMIN,ANUJIN",
    ),
    "UZB": _p(
        "KARIMOV,RAHIMOV,YUSUPOV,ABDULLAYEV,TASHKENTOV",
        "RUSTAM,SHERZOD,AKMAL,JASUR",
        "DILNOZA,MADINA,NILUFAR,GULNORA",
        "A",
    ),
    "KAZ": _p(
        "NURLANOV,ABENOV,ISKAKOV,SULEIMENOV",
        "ASKAR,NURLAN,DAULET,ERLAN",
        "AIGERIM,DANA,ASEL,ZHANNA",
        "A",
    ),
    "RUS": _p(
        "IVANOV,SMIRNOV,KUZNETSOV,POPOV,VOLKOV,SOKOLOV,PETROV",
        "ALEXEI,DMITRY,SERGEI,IVAN,MIKHAIL,ANDREI",
        "YULIA,OLGA,TATIANA,NATALIA,ANNA,EKATERINA",
        "A",
    ),
    "UKR": _p(
        "SHEVCHENKO,KOVALENKO,BONDARENKO,MELNYK,TKACHENKO",
        "OLEKSANDR,ANDRIY,TARAS,DMYTRO",
        "OLENA,IRYNA,YULIIA,OKSANA",
    ),
    "ENG": _p(
        "SMITH,SMITH,JOHNSON,WILLIAMS,BROWN,JONES,MILLER,DAVIS,WILSON,TAYLOR,ANDERSON,O'BRIEN,O'NEILL,MURPHY,KELLY,WALKER,THOMPSON,WHITE",
        "JAMES,JOHN ROBERT,MICHAEL,DAVID,WILLIAM,THOMAS,DANIEL,CHRISTOPHER,MATTHEW",
        "MARY,JENNIFER,LINDA,SARAH JANE,EMILY,JESSICA,EMMA,OLIVIA,CHLOE",
    ),
    "DEU": _p(
        "MUELLER,SCHMIDT,SCHNEIDER,FISCHER,WEBER,MEYER,WAGNER,BECKER,HOFFMANN",
        "THOMAS,MICHAEL,ANDREAS,STEFAN,LUKAS,JONAS",
        "ANNA,JULIA,LAURA,SABINE,KATHARINA,LENA",
    ),
    "FRA": _p(
        "MARTIN,BERNARD,DUBOIS,THOMAS,ROBERT,PETIT,DURAND,LEROY",
        "JEAN PIERRE,LUC,NICOLAS,JULIEN",
        "MARIE,SOPHIE,CAMILLE,LEA",
    ),
    "ITA": _p(
        "ROSSI,RUSSO,FERRARI,ESPOSITO,BIANCHI,ROMANO",
        "MARCO,LUCA,GIUSEPPE,ANDREA",
        "GIULIA,FRANCESCA,CHIARA,SARA",
    ),
    "ESP": _p(
        "GARCIA,RODRIGUEZ,MARTINEZ,LOPEZ,GONZALEZ,HERNANDEZ,PEREZ,SANCHEZ,RAMIREZ,TORRES,GARCIA LOPEZ,FERNANDEZ RUIZ",
        "JUAN CARLOS,JOSE LUIS,MIGUEL,ALEJANDRO,DIEGO",
        "MARIA JOSE,ANA,LUCIA,CARMEN,SOFIA,VALENTINA",
    ),
    "BRA": _p(
        "SILVA,SANTOS,OLIVEIRA,SOUZA,PEREIRA,COSTA,RODRIGUES",
        "JOAO PEDRO,LUCAS,GABRIEL,RAFAEL",
        "ANA CLARA,MARIANA,JULIANA,BEATRIZ",
    ),
    "NLD": _p(
        "DE JONG,JANSEN,DE VRIES,VAN DEN BERG,BAKKER,VISSER",
        "DAAN,SEM,LUCAS,THIJS",
        "EMMA,SANNE,FLEUR,LOTTE",
    ),
    "FIN": _p(
        "KORHONEN,VIRTANEN,MAKINEN,NIEMINEN,HAMALAINEN",
        "MIKKO,JUHA,ANTTI,VILLE",
        "AINO,LAURA,EMMI,SANNA",
    ),
    "TUR": _p(
        "YILMAZ,KAYA,DEMIR,SAHIN,CELIK,YILDIZ",
        "MEHMET,MUSTAFA,AHMET,EMRE",
        "AYSE,FATMA,ZEYNEP,ELIF",
    ),
    "ARA": _p(
        "AL MANSOORI,AL HASHIMI,HASSAN,ALI,IBRAHIM,AL THANI,AL KUWARI",
        "MOHAMMED,AHMED,KHALID,SAEED,OMAR",
        "FATIMA,AISHA,MARIAM,NOORA",
    ),
    "PAK": _p(
        "KHAN,AHMED,ALI,HUSSAIN,QURESHI,BUTT",
        "MUHAMMAD IMRAN,ASIF,BILAL,USMAN",
        "AYESHA,SANA,HINA,MARIAM",
    ),
}

_AREA = {
    "USA": "ENG",
    "GBR": "ENG",
    "CAN": "ENG",
    "AUS": "ENG",
    "NZL": "ENG",
    "IRL": "ENG",
    "AUT": "DEU",
    "CHE": "DEU",
    "MEX": "ESP",
    "PER": "ESP",
    "COL": "ESP",
    "ARG": "ESP",
    "ARE": "ARA",
    "QAT": "ARA",
    "SAU": "ARA",
}


def pool_for(nationality: str) -> NamePool:
    """Return the name pool for a nationality (alpha-3); unknown ones use the English pool."""
    return POOLS.get(nationality) or POOLS[_AREA.get(nationality, "ENG")]


# Known romanisation groups: any member may be written as any other.
_GROUPS: tuple[tuple[str, ...], ...] = (
    ("PHETSRI", "PHETSRY", "PETSRI"),
    ("NGUYEN", "NGUEN", "NGUYENN"),
    ("MOHAMMED", "MUHAMMAD", "MOHAMMAD", "MOHAMED"),
    ("MUHAMMAD", "MOHAMMED", "MOHAMAD"),
    ("YULIA", "IOULIA", "JULIA", "YULIYA"),
    ("YULIIA", "YULIA", "IULIIA"),
    ("ZHANG", "CHANG"),
    ("LEE", "LI", "YI", "RHEE"),
    ("CHOI", "CHOE", "CHOY"),
    ("PARK", "PAK", "BAK"),
    ("JUNG", "JEONG", "CHUNG"),
    ("SOMCHAI", "SOMCHAY"),
    ("CHAIYAPORN", "CHAIYAPHON", "CHAIYAPON"),
    ("KAEWKLA", "KAEOKLA", "KEAWKLA"),
    ("SRISAI", "SRISAY"),
    ("WONGSAWAT", "VONGSAVAT"),
    ("KUZNETSOV", "KOUZNETSOV"),
    ("TATIANA", "TATYANA"),
    ("NATALIA", "NATALYA"),
    ("OLEKSANDR", "OLEXANDR", "ALEKSANDR"),
    ("HOSSAIN", "HOSSEIN", "HUSSAIN"),
    ("SHRESTHA", "SRESTHA"),
    ("PHOMMAVONG", "POMMAVONG"),
    ("SOUVANNA", "SUVANNA"),
    ("TSERENDORJ", "TSERENDORZH"),
    ("BATBAYAR", "BATBAIAR"),
    ("HUYNH", "HUINH"),
    ("KYAW", "KYAU"),
    ("SOPHAL", "SOPHALL"),
    ("SREYNEANG", "SREYNEAN"),
    ("DMITRY", "DMITRIY", "DMITRII"),
    ("ALEXEI", "ALEKSEI", "ALEXEY"),
    ("YUSUPOV", "YUSUFOV"),
    ("EKATERINA", "YEKATERINA"),
)
_RULES: tuple[tuple[str, str], ...] = (
    ("PH", "F"),
    ("KH", "K"),
    ("OU", "U"),
    ("W", "V"),
    ("TH", "T"),
    ("Y", "I"),
    ("J", "DZH"),
    ("SH", "SCH"),
    ("EE", "I"),
    ("OO", "U"),
    ("C", "K"),
    ("I", "Y"),
)

VARIANT_KINDS = (
    "exact",
    "transliteration",
    "swapped_order",
    "typo",
    "dropped_middle",
    "alias",
    "compound_surname",
)


def transliterate(name: str, pick: Callable[[int], int]) -> str:
    """Return another usual romanisation of ``name`` (a known group first, then a spelling rule)."""
    words = name.split(" ")
    for i, word in enumerate(words):
        for group in _GROUPS:
            if word == group[0] or (word in group and len(group) > 1):
                options = [g for g in group if g != word]
                words[i] = options[pick(len(options))]
                return " ".join(words)
    for i, word in enumerate(words):
        for old, new in _RULES:
            if old in word[1:] or (old in word and len(word) > 3):
                words[i] = word.replace(old, new, 1)
                if words[i] != word:
                    return " ".join(words)
    return name + "H" if not name.endswith("H") else name[:-1]


def typo(name: str, pick: Callable[[int], int]) -> str:
    """Return ``name`` with one edit (substitute, drop, double or swap one letter, never the first)."""
    if len(name) < 4:
        return name + name[-1]
    pos = 1 + pick(len(name) - 2)
    kind = pick(4)
    letters = "AEIOUNRSTLMK"
    if kind == 0:
        repl = letters[pick(len(letters))]
        if repl == name[pos]:
            repl = "Y" if repl != "Y" else "E"
        out = name[:pos] + repl + name[pos + 1 :]
    elif kind == 1:
        out = name[:pos] + name[pos + 1 :]
    elif kind == 2:
        out = name[:pos] + name[pos] + name[pos:]
    else:
        out = (
            name[:pos] + name[pos + 1] + name[pos] + name[pos + 2 :]
            if pos + 1 < len(name)
            else name + "E"
        )
    out = out.replace("  ", " ").strip()
    return out if out != name else name + "E"


def variant(
    kind: str, surname: str, given: str, aliases: tuple[str, ...], pick: Callable[[int], int]
) -> tuple[str, str]:
    """Return the (surname, given names) a person travels under for one variant kind.

    Args:
        kind: one of :data:`VARIANT_KINDS`.
        surname: the name recorded in the case database.
        given: the given names recorded there (space-separated, may be empty).
        aliases: recorded aliases as ``"SURNAME, GIVEN NAMES"`` strings.
        pick: ``pick(n)`` returns a draw in ``range(n)`` (the world's random stream).

    Returns:
        The travelling (surname, given names).
    """
    if kind == "exact":
        return surname, given
    if kind == "transliteration":
        if pick(2) == 0 or not given:
            new = transliterate(surname, pick)
            if new != surname:
                return new, given
        return surname, transliterate(given, pick) if given else given
    if kind == "swapped_order":
        return (given or surname), surname
    if kind == "typo":
        if pick(3) == 0 and given:
            return surname, typo(given, pick)
        return typo(surname, pick), given
    if kind == "dropped_middle":
        return surname, given.split(" ")[0]
    if kind == "alias":
        alias = aliases[pick(len(aliases))] if aliases else f"{surname}, {given}"
        parts = alias.split(", ", 1)
        return parts[0], parts[1] if len(parts) > 1 else given
    if kind == "compound_surname":
        if " " in surname:
            return (surname.replace(" ", "") if pick(2) == 0 else surname.split(" ")[0]), given
        return surname, given
    raise ValueError(f"unknown variant kind {kind!r}")
