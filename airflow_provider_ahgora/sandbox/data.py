"""A deterministic synthetic company: employees, master data and PontoWeb reckon results.

Pure Python (standard library only), no I/O. Everything derives from ``(employees, seed)`` through a
stateless hash (splitmix64), so any employee, day or record can be produced on its own, in any
order, and always the same: building is O(employees) and reckon records are produced lazily.

Reckon records (``data[]`` of ``GET /reckons/{unique}``), in the documented shapes:

* ``monthly``: ``{employee, paymentDate, infotype, results: [{name, event, value, type}]}``;
* ``daily.totals`` / ``daily.punches``: ``{employee, paymentDate, infotype, daily: [{day, results?,
  punches?}]}``; with both features each day holds ``results`` then ``punches``;
* with a daily feature and ``monthly``, an employee yields two records: the daily one, then the
  monthly one (as in the documents' "all features" example); for one employee in every ten
  (:attr:`Employee.split_month`) PontoWeb splits the month: two daily records (the first and the
  second half of the employee's days, in order), then the monthly one.

**The period.** The company closes its period on :attr:`SyntheticCompany.closing_day` (default
:data:`DEFAULT_CLOSING_DAY`, the 25th): a reckon of competence ``04/2025`` covers 26/03/2025 to
25/04/2025, as the Voors document's own time card (competence 01/2023 over 28/12/2022 to 27/01/2023)
does. ``closing_day=None`` gives calendar months. ``paymentDate`` defaults to the last day of the
competence's calendar month either way.

Events (:data:`EVENTS`) and the format of their ``value``, fixed per event:

=================== ======= ======= ===================================================== =========
name                event   type    value                                                 where
=================== ======= ======= ===================================================== =========
Horas previstas     9077    hours   sexagesimal "HH:MM" (e.g. "176:00", "08:48")          always
Dias previstos      9078    days    int (1 per scheduled day)                             always
Horas trabalhadas   9079    hours   sexagesimal                                           always
Horas extras 50%    1050    hours   centesimal "HH,CC" (e.g. "01,50" = 1 h 30 min)        if > 0
Adicional noturno   1100    hours   centesimal                                            if > 0
Faltas              2010    hours   centesimal (absences in hours, the API's default)     if > 0
Atrasos             2020    hours   sexagesimal (short days: late arrival, early leave)   if > 0
DSR                 1200    days    int (Sundays of the employee's period)                monthly
Intervalo           ""      hours   sexagesimal (break time between periods)              if > 0 and
                                                                                          includeEmptyCode
=================== ======= ======= ===================================================== =========

Hours are at least two digits ("08:48", "176:00"). Every punch lies on a 3-minute grid, so every
amount is a whole number of 3-minute steps and a centesimal value is exact: ",05" is 3 minutes,
",50" is 30 minutes. The rules, which tests can check exactly:

* worked = sum of ``saida-k - entrada-k`` over the day's punches (``date`` + ``hour``);
* break ("Intervalo") = sum of ``entrada-(k+1) - saida-k``;
* night ("Adicional noturno") = worked minutes inside 22:00-05:00, clock minutes (no reduced hour);
* ``worked - expected`` beyond 10 minutes (CLT tolerance) is overtime when positive ("Horas extras
  50%") or "Atrasos" when negative; within 10 minutes both are 0;
* an absent day has no punches, worked 0 and "Faltas" = the day's expected hours;
* every monthly amount is the sum of the daily amounts of the same employee and competence.

Punches: ``type`` "O" (clock), "I" (manual entry: at the scheduled time) or "BI" (break records:
the break's ``saida-k``/``entrada-(k+1)`` of employees who clock their breaks separately). Labels
alternate ``entrada-1``, ``saida-1``, ``entrada-2``, ``saida-2``. A night shift belongs to the day
it starts: day 2025-04-10, ``entrada-1`` 2200 dated 2025-04-10, ``saida-2`` 0600 dated 2025-04-11.
What real clocks add, each drawn from its own hash so that no amount above depends on it:

* *double taps*: about one worked day in 32, one punch is listed twice in a row, either exactly
  (the same type) or with a manual inclusion "I" of the same time and label (of a clock punch "O"
  or a break record "BI"; an "I" punch is doubled by an "O" one);
* *pause records*: part-time employees record a 9 to 15 minute pause inside their first period on
  about half of their days, as "BI" punches labelled ``pausa`` (the pause start, and usually its
  end). A pause is paid rest: it changes neither the time worked nor the break ("Intervalo").

Choices where the API is silent:

* ``dismissed`` employees are dismissed *in the period being reckoned*, on its ``dismissal_day``-th
  day (their last day of data). They appear only with ``rescission=True`` (which, as in the API,
  requires ``registers``: :class:`ValueError` otherwise) and only when named.
* "No data" means no scheduled working day in the employee's period of the month (e.g. admitted
  after it). With ``allow_empty=True`` such an employee yields ``results: []`` / ``daily: []``.
* With ``daily.punches`` alone, an absent day is listed with ``punches: []`` so that every feature
  lists the same days. Days are working days only (Monday to Friday, plus alternate Saturdays for
  the employees whose horary has Saturdays); there are no holidays.
* Records follow the company's employee order, whatever the order of ``registers``.
"""

from __future__ import annotations

import calendar
import functools
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, NamedTuple

__all__ = [
    "DEFAULT_CLOSING_DAY",
    "EVENTS",
    "FEATURES",
    "Branch",
    "CostCenter",
    "Employee",
    "Event",
    "Horary",
    "JobRole",
    "Location",
    "SyntheticCompany",
    "make_cnpj",
    "make_cpf",
    "make_pis",
]

#: Features of a reckon, as the API names them.
FEATURES: tuple[str, ...] = ("daily.punches", "daily.totals", "monthly")
#: The day of the month on which the synthetic company closes its period (see :class:`SyntheticCompany`).
DEFAULT_CLOSING_DAY = 25

ShiftKind = Literal["day", "night", "part-time"]

# --------------------------------------------------------------------------------------------------
# Deterministic hashing (splitmix64): stateless, so any item can be generated on its own.
# --------------------------------------------------------------------------------------------------

_M64 = (1 << 64) - 1


def _mix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _hash(*parts: int) -> int:
    h = 0x5EED
    for part in parts:
        h = _mix(h ^ (part & _M64))
    return h


# --------------------------------------------------------------------------------------------------
# Brazilian identifiers with valid check digits.
# --------------------------------------------------------------------------------------------------

_CPF_SPACE = 10**9
_CPF_LIMIT = 10**8
_CPF_A, _CPF_B = 387_420_489, 123_456_789  # A coprime with 10: an affine permutation mod 10**9
_CNPJ_SPACE = 10**8
_CNPJ_A, _CNPJ_B = 43_046_721, 31_415_926
_PIS_A, _PIS_B = 282_475_249, 271_828_182


def _cpf_digits(base: str) -> str:
    nums = [ord(c) - 48 for c in base]
    d1 = sum(n * w for n, w in zip(nums, range(10, 1, -1), strict=True)) * 10 % 11 % 10
    nums.append(d1)
    d2 = sum(n * w for n, w in zip(nums, range(11, 1, -1), strict=True)) * 10 % 11 % 10
    return f"{base}{d1}{d2}"


def make_cpf(n: int) -> str:
    """A valid CPF (11 digits), deterministic and distinct for every ``n`` in ``0 <= n < 10**8``.

    The 9-digit base is an affine permutation of ``n + 1``, walked past the repeated-digit bases
    (``111111111``...) that :func:`is_valid_cpf` refuses, so the map stays one to one.
    """
    if not 0 <= n < _CPF_LIMIT:
        raise ValueError(f"make_cpf takes 0 <= n < {_CPF_LIMIT}, got {n}")
    y = n + 1
    while True:
        y = (y * _CPF_A + _CPF_B) % _CPF_SPACE
        if y % 111_111_111:
            return _cpf_digits(f"{y:09d}")


_CNPJ_W1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_W2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def make_cnpj(n: int, order: int = 1) -> str:
    """A valid CNPJ (14 digits), deterministic.

    ``n`` (``0 <= n < 10**8``) gives the 8-digit root (one company; distinct ``n``, distinct root),
    ``order`` (1..9999) the establishment: "0001" is the head office, branches follow.
    """
    if not 0 <= n < _CNPJ_SPACE:
        raise ValueError(f"make_cnpj takes 0 <= n < {_CNPJ_SPACE}, got {n}")
    if not 1 <= order <= 9999:
        raise ValueError(f"make_cnpj takes 1 <= order <= 9999, got {order}")
    root = (n * _CNPJ_A + _CNPJ_B) % _CNPJ_SPACE
    base = f"{root:08d}{order:04d}"
    nums = [ord(c) - 48 for c in base]
    rest = sum(a * w for a, w in zip(nums, _CNPJ_W1, strict=True)) % 11
    d1 = 0 if rest < 2 else 11 - rest
    nums.append(d1)
    rest = sum(a * w for a, w in zip(nums, _CNPJ_W2, strict=True)) % 11
    d2 = 0 if rest < 2 else 11 - rest
    return f"{base}{d1}{d2}"


_PIS_W = (3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def make_pis(n: int) -> str:
    """A valid PIS/PASEP/NIT (11 digits, starting with 1), distinct for every ``0 <= n < 10**9``."""
    if not 0 <= n < _CPF_SPACE:
        raise ValueError(f"make_pis takes 0 <= n < {_CPF_SPACE}, got {n}")
    base = f"1{(n * _PIS_A + _PIS_B) % _CPF_SPACE:09d}"
    total = sum((ord(c) - 48) * w for c, w in zip(base, _PIS_W, strict=True))
    check = 11 - total % 11
    return f"{base}{0 if check >= 10 else check}"


# --------------------------------------------------------------------------------------------------
# Master data.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Branch:
    """A branch office (PontoWeb subsidiary, Voors branch). Branches share the company's CNPJ root."""

    index: int
    cnpj: str
    razao_social: str
    nome_fantasia: str
    cep: str
    """8 digits."""
    endereco: str
    numero: str
    bairro: str
    cidade: str
    estado: str
    """Two lower-case letters."""
    ibge: str
    """IBGE code of the city, 7 digits."""
    ddd: str
    telefone: str


@dataclass(frozen=True, slots=True)
class CostCenter:
    """A cost center (PontoWeb ``/costcenter``); also a Voors department."""

    codigo: str
    nome: str


@dataclass(frozen=True, slots=True)
class Location:
    """A work site registered in PontoWeb (the reckon's ``locations`` filter takes its name)."""

    name: str
    branch: int


@dataclass(frozen=True, slots=True)
class JobRole:
    """A job role (cargo). Each has two job functions, levels I and II."""

    index: int
    title: str
    cbo: str
    salary: float

    @property
    def remote_id(self) -> str:
        return f"JR{self.index + 1:02d}"

    def function_remote_id(self, level: int) -> str:
        return f"JF{self.index + 1:02d}{level}"


@dataclass(frozen=True, slots=True)
class Horary:
    """A contractual horary. Periods are ``(start, end)`` in minutes from the day's midnight; an end
    past 1440 is on the next day (night shift)."""

    code: str
    title: str
    shift: ShiftKind
    periods: tuple[tuple[int, int], ...]
    saturday: tuple[tuple[int, int], ...] = ()
    """Saturday periods, worked on alternate Saturdays."""

    @property
    def daily_minutes(self) -> int:
        return sum(e - s for s, e in self.periods)


@dataclass(frozen=True, slots=True)
class Employee:
    index: int
    registration: str
    """Matrícula: "000123", or alphanumeric like "98a159Q" for some."""
    name: str
    cpf: str
    pis: str
    branch: int
    """Index in :attr:`SyntheticCompany.branches`."""
    cost_center: str
    """Code of the cost center (and Voors department)."""
    location: str
    """Name of the location."""
    admission: date
    dismissed: bool
    dismissal_day: int | None
    """Day of the reckoned month on which a dismissed employee leaves (their last day of data)."""
    shift: ShiftKind
    horary: str
    """Code of the horary in :attr:`SyntheticCompany.horaries`."""
    job_role: int
    job_level: int
    salary: float
    birth_date: date
    split_month: bool = False
    """PontoWeb gives this employee's days in two daily records (the period's first and second half)."""


class Event(NamedTuple):
    name: str
    code: str
    type: Literal["hours", "days"]
    format: Literal["sexagesimal", "centesimal", "number"]


#: Every event the sandbox produces, by a short key.
EVENTS: dict[str, Event] = {
    "expected": Event("Horas previstas", "9077", "hours", "sexagesimal"),
    "expected_days": Event("Dias previstos", "9078", "days", "number"),
    "worked": Event("Horas trabalhadas", "9079", "hours", "sexagesimal"),
    "overtime": Event("Horas extras 50%", "1050", "hours", "centesimal"),
    "night": Event("Adicional noturno", "1100", "hours", "centesimal"),
    "absence": Event("Faltas", "2010", "hours", "centesimal"),
    "late": Event("Atrasos", "2020", "hours", "sexagesimal"),
    "dsr": Event("DSR", "1200", "days", "number"),
    "break": Event("Intervalo", "", "hours", "sexagesimal"),
}

_CITIES: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    # cidade, estado, ibge, cep, ddd, street, bairro
    ("São Paulo", "sp", "3550308", "01310100", "11", "Avenida Paulista", "Bela Vista"),
    ("Curitiba", "pr", "4106902", "80010000", "41", "Rua XV de Novembro", "Centro"),
    ("Rio de Janeiro", "rj", "3304557", "20040020", "21", "Avenida Rio Branco", "Centro"),
    ("Belo Horizonte", "mg", "3106200", "30130010", "31", "Avenida Afonso Pena", "Centro"),
    ("Porto Alegre", "rs", "4314902", "90010150", "51", "Rua dos Andradas", "Centro Histórico"),
    ("Florianópolis", "sc", "4205407", "88010000", "48", "Rua Felipe Schmidt", "Centro"),
    ("Salvador", "ba", "2927408", "40020000", "71", "Avenida Sete de Setembro", "Comércio"),
    ("Recife", "pe", "2611606", "50010000", "81", "Avenida Guararapes", "Santo Antônio"),
    ("Fortaleza", "ce", "2304400", "60060000", "85", "Rua Barão do Rio Branco", "Centro"),
    ("Brasília", "df", "5300108", "70040010", "61", "Setor Comercial Sul", "Asa Sul"),
    ("Goiânia", "go", "5208707", "74003010", "62", "Avenida Goiás", "Setor Central"),
    ("Manaus", "am", "1302603", "69005000", "92", "Avenida Eduardo Ribeiro", "Centro"),
    ("Belém", "pa", "1501402", "66010000", "91", "Avenida Presidente Vargas", "Campina"),
    ("Campinas", "sp", "3509502", "13010000", "19", "Rua Barão de Jaguara", "Centro"),
    ("Joinville", "sc", "4209102", "89201000", "47", "Rua do Príncipe", "Centro"),
    ("Londrina", "pr", "4113700", "86010000", "43", "Avenida Paraná", "Centro"),
    ("Vitória", "es", "3205309", "29010000", "27", "Avenida Jerônimo Monteiro", "Centro"),
    ("Natal", "rn", "2408102", "59025000", "84", "Avenida Rio Branco", "Cidade Alta"),
    ("Campo Grande", "ms", "5002704", "79002000", "67", "Rua 14 de Julho", "Centro"),
    ("Cuiabá", "mt", "5103403", "78005000", "65", "Avenida Getúlio Vargas", "Centro"),
)
_SITES = ("Matriz", "Centro de Distribuição")
_COMPANY_NAMES = (
    "Sandbox Alimentos",
    "Sandbox Metalúrgica",
    "Sandbox Logística",
    "Sandbox Comércio Varejista",
    "Sandbox Têxtil",
)
_COST_CENTERS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    # codigo, nome, indexes of the job roles found there
    ("1000", "Diretoria", (0, 1)),
    ("1100", "Administrativo", (2, 3, 11)),
    ("1200", "Financeiro", (5, 2)),
    ("1300", "Recursos Humanos", (4, 2)),
    ("1400", "Tecnologia da Informação", (6,)),
    ("2000", "Produção", (9, 10, 13)),
    ("2100", "Manutenção", (10,)),
    ("2200", "Logística", (11, 12, 9)),
    ("3000", "Comercial", (7, 8)),
    ("3100", "Atendimento", (8, 3)),
    ("4000", "Segurança Patrimonial", (13, 14)),
)
_JOB_ROLES: tuple[tuple[str, str, float], ...] = (
    ("Diretor administrativo", "123105", 18000.0),
    ("Gerente administrativo", "142105", 12000.0),
    ("Assistente administrativo", "411010", 2800.0),
    ("Auxiliar de escritório", "411005", 2100.0),
    ("Analista de recursos humanos", "252405", 4500.0),
    ("Contador", "252210", 6500.0),
    ("Analista de desenvolvimento de sistemas", "212405", 7500.0),
    ("Vendedor de comércio varejista", "521110", 2200.0),
    ("Operador de caixa", "421125", 1900.0),
    ("Alimentador de linha de produção", "784205", 1800.0),
    ("Mecânico de manutenção de máquinas", "911305", 3500.0),
    ("Almoxarife", "414105", 2400.0),
    ("Motorista de caminhão", "782510", 3200.0),
    ("Vigilante", "517330", 2600.0),
    ("Porteiro de edifícios", "517410", 1900.0),
)
_NIGHT_ROLES = (9, 13, 14)
_NIGHT_COST_CENTERS = (5, 7, 10)  # Produção, Logística, Segurança Patrimonial

_HORARIES: tuple[Horary, ...] = (
    Horary("H01", "Comercial 44h (segunda a sexta)", "day", ((480, 720), (780, 1068))),
    Horary("H02", "Comercial 8h com sábados alternados", "day", ((480, 720), (780, 1020)), ((480, 720),)),
    Horary("H03", "Noturno 22h-06h", "night", ((1320, 1560), (1620, 1800))),
    Horary("H04", "Meio período 6h", "part-time", ((540, 720), (735, 915))),
)

_FIRST_NAMES_TEXT = (
    "Ana Maria João José Pedro Lucas Gabriel Mariana Juliana Fernanda Carlos Paulo Rafael "
    "Bruno Letícia Camila Beatriz Larissa Felipe Gustavo Rodrigo Thiago Vinícius Amanda "
    "Patrícia Aline Eduardo Marcelo Luiz Antônio Francisco Sebastião Raimunda Júlia Isabela "
    "Heloísa Enzo Davi Cecília Otávio"
)
_FIRST_NAMES: tuple[str, ...] = tuple(_FIRST_NAMES_TEXT.split())
_LAST_NAMES_TEXT = (
    "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro "
    "Martins Carvalho Almeida Lopes Soares Fernandes Vieira Barbosa Rocha Dias Nascimento "
    "Andrade Moreira Nunes Marques Machado Mendes Freitas Cardoso Ramos Gonçalves Santana "
    "Teixeira Araújo Pinto Monteiro Moura Cavalcanti"
)
_LAST_NAMES: tuple[str, ...] = tuple(_LAST_NAMES_TEXT.split())
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()

_EARLY_FROM = date(2012, 1, 2).toordinal()
_EARLY_SPAN = date(2023, 12, 31).toordinal() - _EARLY_FROM
_LATE_FROM = date(2024, 1, 1).toordinal()
_LATE_SPAN = date(2026, 12, 31).toordinal() - _LATE_FROM


# --------------------------------------------------------------------------------------------------
# Value formats.
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _sexagesimal(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@functools.lru_cache(maxsize=4096)
def _centesimal(minutes: int) -> str:
    # minutes on the 3-minute grid: (minutes % 60) * 100 / 60 is a whole number of hundredths
    return f"{minutes // 60:02d},{(minutes % 60) * 5 // 3:02d}"


_HHMM: tuple[str, ...] = tuple(f"{h:02d}{m:02d}" for h in range(24) for m in range(60))
_FORMATTERS = {"sexagesimal": _sexagesimal, "centesimal": _centesimal}


def _result(key: str, minutes_or_days: int) -> dict[str, Any]:
    ev = EVENTS[key]
    value: int | str = minutes_or_days if ev.format == "number" else _FORMATTERS[ev.format](minutes_or_days)
    return {"name": ev.name, "event": ev.code, "value": value, "type": ev.type}


# --------------------------------------------------------------------------------------------------
# Day simulation.
# --------------------------------------------------------------------------------------------------

_JITTER = (-9, -6, -3, 0, 0, 3, 6, 9)
_OVERTIME = (30, 30, 45, 60, 60, 90, 120, 150)
_LATE = (15, 21, 30, 45)
_BREAK_EXTRA = (0, 0, 0, 3, 3, 6, 6, 9)
_NIGHT_WINDOWS = ((0, 300), (1320, 1740))  # 00:00-05:00 and 22:00-05:00 of the next day
_TOLERANCE = 10
_PAUSE_KEY = 0x9A05E
_DOUBLE_TAP_KEY = 0xD0B1E7A9
_PAUSE_LABEL = "pausa"
_PAUSE_AFTER = (84, 90, 99, 105)  # minutes after the first entry (3-minute grid)
_PAUSE_LENGTH = (9, 12, 15, 15)


class _Day(NamedTuple):
    ordinal: int
    iso: str
    next_iso: str
    weekday: int
    week_parity: int


class _Month(NamedTuple):
    """The days of a competence's period (the calendar month, or the period closing on a day)."""

    year: int
    month: int
    first: date
    last: date
    days: list[_Day]


class _DaySim(NamedTuple):
    expected: int
    worked: int
    overtime: int
    late: int
    night: int
    breaks: int
    absence: int
    punches: list[tuple[int, str, str]]
    """(minute from the day's midnight, type, label) in the order PontoWeb lists them; empty when
    absent. Holds the day's double taps and pause records too."""


def _simulate_day(
    periods: tuple[tuple[int, int], ...], h: int, absence_rate: int, bi: bool, pauses: bool = False
) -> _DaySim:
    expected = sum(e - s for s, e in periods)
    if (h & 1023) < absence_rate:
        return _DaySim(expected, 0, 0, 0, 0, 0, expected, [])
    extra = _OVERTIME[(h >> 14) & 7] if ((h >> 10) & 15) == 0 else 0
    late = _LATE[(h >> 22) & 3] if ((h >> 17) & 31) == 0 else 0
    last = len(periods) - 1
    punches: list[tuple[int, str, str]] = []
    worked = breaks = night = 0
    prev_out = prev_end = 0
    for k, (start, end) in enumerate(periods):
        in_bits = h >> (24 + 6 * k)
        out_bits = h >> (27 + 6 * k)
        # entrada
        if k > 0 and bi:
            t_in, kind_in = prev_out + (start - prev_end) + _BREAK_EXTRA[(h >> (56 + 3 * k)) & 7], "BI"
        elif ((h >> (36 + 10 * k)) & 31) == 0:
            t_in, kind_in = start, "I"
        elif k == 0:
            t_in, kind_in = start + _JITTER[in_bits & 7] + late, "O"
        else:
            t_in, kind_in = prev_out + (start - prev_end) + _BREAK_EXTRA[(h >> (56 + 3 * k)) & 7], "O"
        # saida
        if k < last and bi:
            t_out, kind_out = end + _JITTER[out_bits & 7], "BI"
        elif ((h >> (41 + 10 * k)) & 31) == 0:
            t_out, kind_out = end, "I"
        else:
            t_out, kind_out = end + _JITTER[out_bits & 7] + (extra if k == last else 0), "O"
        if k > 0:
            breaks += t_in - prev_out
        worked += t_out - t_in
        for w_start, w_end in _NIGHT_WINDOWS:
            overlap = min(t_out, w_end) - max(t_in, w_start)
            if overlap > 0:
                night += overlap
        punches.append((t_in, kind_in, f"entrada-{k + 1}"))
        punches.append((t_out, kind_out, f"saida-{k + 1}"))
        prev_out, prev_end = t_out, end
    # Extras drawn from their own hashes, so that the figures above never depend on them.
    if pauses:
        hp = _mix(h ^ _PAUSE_KEY)
        if hp & 1:  # a pause inside the first period, recorded as break records ("BI", no entry/exit)
            t_in, t_out = punches[0][0], punches[1][0]
            begin = t_in + _PAUSE_AFTER[(hp >> 1) & 3]
            length = _PAUSE_LENGTH[(hp >> 3) & 3]
            if begin + length < t_out:
                records = [(begin, "BI", _PAUSE_LABEL)]
                if (hp >> 5) & 7:  # now and then the end of the pause was not recorded
                    records.append((begin + length, "BI", _PAUSE_LABEL))
                punches[1:1] = records
    hd = _mix(h ^ _DOUBLE_TAP_KEY)
    if (hd & 31) == 0:  # a double tap: the same punch twice, or a manual inclusion "I" of a punch
        labelled = [i for i, p in enumerate(punches) if p[2] != _PAUSE_LABEL]
        i = labelled[(hd >> 5) % len(labelled)]
        minute, kind, label = punches[i]
        copy = kind if (hd >> 12) & 1 else ("O" if kind == "I" else "I")
        punches.insert(i + 1, (minute, copy, label))
    diff = worked - expected
    overtime = diff if diff > _TOLERANCE else 0
    short = -diff if diff < -_TOLERANCE else 0
    return _DaySim(expected, worked, overtime, short, night, breaks, 0, punches)


def _parse_period(month: str | int, year: str | int) -> tuple[int, int]:
    try:
        m = int(month)
        y = int(year)
    except (TypeError, ValueError):
        raise ValueError(f"month and year must be 'MM' and 'YYYY', got {month!r}, {year!r}") from None
    if not 1 <= m <= 12:
        raise ValueError(f"month must be '01'..'12', got {month!r}")
    if not 1900 <= y <= 9998:
        raise ValueError(f"year must be 'YYYY', got {year!r}")
    return m, y


def _period_end(year: int, month: int, closing_day: int | None) -> date:
    last = calendar.monthrange(year, month)[1]
    return date(year, month, last if closing_day is None else min(closing_day, last))


@functools.lru_cache(maxsize=64)
def _month(year: int, month: int, closing_day: int | None = None) -> _Month:
    """The period of competence ``month/year``: it ends on ``closing_day`` (or the month's last day)
    and starts the day after the previous period ended."""
    end = _period_end(year, month, closing_day)
    if year == 1 and month == 1:
        first = date(1, 1, 1)
    else:
        prev_year, prev_month = (year - 1, 12) if month == 1 else (year, month - 1)
        first = _period_end(prev_year, prev_month, closing_day) + timedelta(days=1)
    n = (end - first).days + 1
    days = []
    for i in range(n + 1):
        d = first + timedelta(days=i)
        days.append((d, d.isoformat()))
    out = [
        _Day(d.toordinal(), iso, days[i + 1][1], d.weekday(), d.isocalendar()[1] & 1)
        for i, (d, iso) in enumerate(days[:n])
    ]
    return _Month(year, month, first, first + timedelta(days=n - 1), out)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


# --------------------------------------------------------------------------------------------------
# The company.
# --------------------------------------------------------------------------------------------------


class SyntheticCompany:
    """A deterministic synthetic company of ``employees`` employees.

    Same ``(employees, seed)``: same company, same records. Building is O(employees) and cheap
    (20 000 employees in a fraction of a second); reckon records are generated lazily.

    :param employees: number of employees (>= 0).
    :param seed: any integer; changes names, identifiers, shifts and every punch.
    :param company: PontoWeb company code (kept for the pages and answers built around the records).
    :param closing_day: the day of the month on which the company closes its period: a reckon of
        competence ``MM/YYYY`` covers the day after the previous period's close to this day of ``MM``
        (default :data:`DEFAULT_CLOSING_DAY`, 25: 04/2025 is 26/03/2025 to 25/04/2025); ``None``
        (or 31): the calendar month.
    """

    def __init__(
        self,
        employees: int = 50,
        seed: int = 42,
        company: str = "a000101",
        closing_day: int | None = DEFAULT_CLOSING_DAY,
    ) -> None:
        if employees < 0:
            raise ValueError(f"employees must be >= 0, got {employees}")
        if closing_day is not None and (
            isinstance(closing_day, bool) or not isinstance(closing_day, int) or not 1 <= closing_day <= 31
        ):
            raise ValueError(f"closing_day must be 1 to 31 or None, got {closing_day!r}")
        self.seed = seed
        self.company = company
        self.closing_day = None if closing_day == 31 else closing_day
        self._key = _hash(seed, 0xC0)
        self._cpf_offset = _hash(seed, 5) % _CPF_LIMIT
        self._pis_offset = _hash(seed, 6) % _CPF_SPACE
        name = _COMPANY_NAMES[_hash(seed, 1) % len(_COMPANY_NAMES)]
        self.name = f"{name} LTDA"
        root = _hash(seed, 2) % _CNPJ_SPACE
        n_branches = min(len(_CITIES), 1 + employees // 25)
        city_offset = _hash(seed, 3) % len(_CITIES)
        self.branches: list[Branch] = []
        for b in range(n_branches):
            cidade, estado, ibge, cep, ddd, street, bairro = _CITIES[(city_offset + b) % len(_CITIES)]
            hb = _hash(seed, 4, b)
            self.branches.append(
                Branch(
                    index=b,
                    cnpj=make_cnpj(root, b + 1),
                    razao_social=self.name,
                    nome_fantasia=f"{name} {cidade}",
                    cep=cep,
                    endereco=street,
                    numero=str(10 + hb % 1990),
                    bairro=bairro,
                    cidade=cidade,
                    estado=estado,
                    ibge=ibge,
                    ddd=ddd,
                    telefone=f"3{(hb >> 16) % 10_000_000:07d}",
                )
            )
        self.locations: list[Location] = [
            Location(f"{br.cidade} - {site}", br.index) for br in self.branches for site in _SITES
        ]
        self.cost_centers: list[CostCenter] = [CostCenter(c, n) for c, n, _ in _COST_CENTERS]
        self.job_roles: list[JobRole] = [JobRole(i, t, c, s) for i, (t, c, s) in enumerate(_JOB_ROLES)]
        self.horaries: list[Horary] = list(_HORARIES)
        self._horary_by_code = {h.code: h for h in self.horaries}
        self.employees: list[Employee] = [self._make_employee(i) for i in range(employees)]
        self._by_registration: dict[str, int] | None = None

    # ---------------------------------------------------------------------------------- employees

    def _make_employee(self, i: int) -> Employee:
        h = _mix(self._key ^ i)
        h2 = _mix(h)
        off = self._key
        # block patterns: exactly one night and one part-time employee in every 10, one dismissed in
        # every 25, one late admission and one alphanumeric registration in every 20, one split month
        # in every 10
        slot10 = (3 * i + off) % 10
        shift: ShiftKind
        if slot10 == 0:
            shift, horary = "night", "H03"
        elif slot10 == 1:
            shift, horary = "part-time", "H04"
        elif slot10 in (2, 3):
            shift, horary = "day", "H02"
        else:
            shift, horary = "day", "H01"
        dismissed = (7 * i + (off >> 8)) % 25 == 0
        late_admission = not dismissed and (11 * i + (off >> 16)) % 20 == 0
        if (13 * i + (off >> 24)) % 20 == 0:
            # like "98a159Q": digits from a permutation of i % 100000, the lower-case letter from
            # i // 100000 (so distinct employees never share one), the last letter free
            y = (i * 7919 + off) % 100_000
            lower = _LOWER[(i // 100_000 + off) % 26]
            registration = f"{y // 1000:02d}{lower}{y % 1000:03d}{_UPPER[(h >> 40) % 26]}"
        else:
            registration = f"{i + 1:06d}"
        name = (
            f"{_FIRST_NAMES[h % len(_FIRST_NAMES)]} {_LAST_NAMES[(h >> 8) % len(_LAST_NAMES)]} "
            f"{_LAST_NAMES[(h >> 16) % len(_LAST_NAMES)]}"
        )
        if shift == "night":
            cc = _NIGHT_COST_CENTERS[(h >> 24) % len(_NIGHT_COST_CENTERS)]
            role = _NIGHT_ROLES[(h >> 28) % len(_NIGHT_ROLES)]
        else:
            cc = (h >> 24) % len(_COST_CENTERS)
            roles = _COST_CENTERS[cc][2]
            role = roles[(h >> 28) % len(roles)]
        branch = (h2 % len(self.branches)) if self.branches else 0
        location = self.locations[2 * branch + ((h2 >> 8) & 1)].name
        if late_admission:
            admission = date.fromordinal(_LATE_FROM + (h2 >> 12) % _LATE_SPAN)
        else:
            admission = date.fromordinal(_EARLY_FROM + (h2 >> 12) % _EARLY_SPAN)
        birth = date.fromordinal(admission.toordinal() - 365 * (18 + (h2 >> 32) % 35) - (h2 >> 40) % 365)
        level = 1 + ((h2 >> 50) & 1)
        salary = round(_JOB_ROLES[role][2] * (1.0 if level == 1 else 1.3) * (1 + ((h2 >> 52) % 20) / 100), 2)
        return Employee(
            index=i,
            registration=registration,
            name=name,
            cpf=make_cpf((self._cpf_offset + i) % _CPF_LIMIT),
            pis=make_pis((self._pis_offset + i) % _CPF_SPACE),
            branch=branch,
            cost_center=_COST_CENTERS[cc][0],
            location=location,
            admission=admission,
            dismissed=dismissed,
            dismissal_day=5 + (h2 >> 56) % 24 if dismissed else None,
            shift=shift,
            horary=horary,
            job_role=role,
            job_level=level,
            salary=salary,
            birth_date=birth,
            split_month=(17 * i + (off >> 32)) % 10 == 3,
        )

    def employee(self, registration: str) -> Employee | None:
        """The employee with this registration, or ``None``."""
        i = self._registration_index().get(registration)
        return None if i is None else self.employees[i]

    def horary(self, code: str) -> Horary:
        return self._horary_by_code[code]

    def _registration_index(self) -> dict[str, int]:
        if self._by_registration is None:
            self._by_registration = {e.registration: e.index for e in self.employees}
        return self._by_registration

    # ---------------------------------------------------------------------------------- reckon

    def _period(self, e: Employee, m: _Month) -> tuple[int, int]:
        """Indexes ``(start, end)`` of the employee's days in the period; ``start > end``: none."""
        n = len(m.days)
        if e.admission > m.last:
            return n, n - 1
        start = 0 if e.admission <= m.first else (e.admission - m.first).days
        end = (e.dismissal_day or n) - 1 if e.dismissed else n - 1
        return start, min(end, n - 1)

    def _periods_of(self, hor: Horary, day: _Day, parity: int) -> tuple[tuple[int, int], ...]:
        if day.weekday < 5:
            return hor.periods
        if day.weekday == 5 and hor.saturday and day.week_parity == parity:
            return hor.saturday
        return ()

    def _working_days(self, e: Employee, m: _Month, start: int, end: int) -> int:
        """How many scheduled days the employee has in ``start..end`` (capped at 2: enough to split)."""
        if end - start >= 6:
            return 2  # a whole week always holds weekdays
        hor = self._horary_by_code[e.horary]
        parity = (self._ekey(e.index) >> 5) & 1
        return min(2, sum(1 for k in range(start, end + 1) if self._periods_of(hor, m.days[k], parity)))

    def _has_data(self, e: Employee, m: _Month, start: int, end: int) -> bool:
        if end - start >= 6:
            return True  # a whole week always holds weekdays
        hor = self._horary_by_code[e.horary]
        parity = (self._ekey(e.index) >> 5) & 1
        return any(self._periods_of(hor, m.days[k], parity) for k in range(start, end + 1))

    def _select(
        self,
        m: _Month,
        registers: Iterable[str] | None,
        locations: Iterable[str] | None,
        rescission: bool,
        allow_empty: bool,
    ) -> Iterator[tuple[Employee, int, int, bool]]:
        """``(employee, start, end, has_data)`` of every employee the reckon covers, in order.

        Arguments are checked at once; employees are visited as the iterator is consumed.
        """
        if isinstance(registers, str) or isinstance(locations, str):
            raise ValueError("registers and locations must be lists of strings, not a string")
        wanted = [r for r in registers or () if r]
        if rescission and not wanted:
            raise ValueError(
                "rescission=True needs registers naming at least one employee "
                "(the API refuses a rescission reckon of the whole company)"
            )
        indexes: Iterable[int]
        if wanted:
            index = self._registration_index()
            indexes = sorted({index[r] for r in wanted if r in index})
        else:
            indexes = range(len(self.employees))
        return self._visit(m, indexes, set(locations or ()), rescission, allow_empty)

    def _visit(
        self, m: _Month, indexes: Iterable[int], locs: set[str], rescission: bool, allow_empty: bool
    ) -> Iterator[tuple[Employee, int, int, bool]]:
        employees = self.employees
        for i in indexes:
            e = employees[i]
            if e.dismissed and not rescission:
                continue
            if locs and e.location not in locs:
                continue
            start, end = self._period(e, m)
            has = start <= end and self._has_data(e, m, start, end)
            if has or allow_empty:
                yield e, start, end, has

    @staticmethod
    def _features(features: Iterable[str] | None) -> tuple[bool, bool, bool]:
        if isinstance(features, str):
            raise ValueError("features must be a list of feature names, not a string")
        feats = list(features) if features is not None else []
        unknown = [f for f in feats if f not in FEATURES]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; allowed: {list(FEATURES)}")
        if not feats:
            feats = ["monthly"]
        return "daily.punches" in feats, "daily.totals" in feats, "monthly" in feats

    def reckon_total(
        self,
        month: str,
        year: str,
        *,
        features: list[str] | None = None,
        registers: list[str] | None = None,
        locations: list[str] | None = None,
        rescission: bool = False,
        allow_empty: bool = False,
        include_empty_code: bool = False,
        payment_date: str | None = None,
        infotype: str = "0015",
    ) -> int:
        """How many records :meth:`reckon_records` yields for the same arguments, without making them."""
        punches, totals, monthly = self._features(features)
        daily = punches or totals
        mo, ye = _parse_period(month, year)
        m = _month(ye, mo, self.closing_day)
        count = 0
        for e, start, end, has in self._select(m, registers, locations, rescission, allow_empty):
            count += int(monthly)
            if daily:
                count += 2 if has and e.split_month and self._working_days(e, m, start, end) > 1 else 1
        return count

    def reckon_records(
        self,
        month: str,
        year: str,
        *,
        features: list[str] | None = None,
        registers: list[str] | None = None,
        locations: list[str] | None = None,
        rescission: bool = False,
        allow_empty: bool = False,
        include_empty_code: bool = False,
        payment_date: str | None = None,
        infotype: str = "0015",
    ) -> Iterator[dict[str, Any]]:
        """The ``data[]`` records of a reckon, lazily, in the documented shapes (see the module doc).

        Arguments are those of ``POST /reckons/process/start``. ``features`` defaults to
        ``["monthly"]``; ``paymentDate`` to the last day of the month. Arguments are checked at once
        (:class:`ValueError`), records are made as they are consumed.
        """
        punches, totals, monthly = self._features(features)
        mo, ye = _parse_period(month, year)
        m = _month(ye, mo, self.closing_day)
        if payment_date is None:
            payment_date = _period_end(ye, mo, None).isoformat()
        else:
            try:
                datetime.strptime(payment_date, "%Y-%m-%d")
            except (TypeError, ValueError):
                raise ValueError(f"payment_date must be 'YYYY-MM-DD', got {payment_date!r}") from None
        selected = self._select(m, registers, locations, rescission, allow_empty)
        return self._records(
            m, selected, punches, totals, monthly, include_empty_code, payment_date, infotype
        )

    def _records(
        self,
        m: _Month,
        selected: Iterator[tuple[Employee, int, int, bool]],
        want_punches: bool,
        want_totals: bool,
        want_monthly: bool,
        include_empty_code: bool,
        payment_date: str,
        infotype: str,
    ) -> Iterator[dict[str, Any]]:
        want_daily = want_punches or want_totals
        for e, start, end, has in selected:
            daily: list[dict[str, Any]] = []
            sums = [0] * 8  # expected, days, worked, overtime, night, absence, late, breaks
            dsr = 0
            if has:
                sims = self._simulate(e, m, start, end)
                for day, sim in sims:
                    sums[0] += sim.expected
                    sums[1] += 1
                    sums[2] += sim.worked
                    sums[3] += sim.overtime
                    sums[4] += sim.night
                    sums[5] += sim.absence
                    sums[6] += sim.late
                    sums[7] += sim.breaks
                    if want_daily:
                        entry: dict[str, Any] = {"day": day.iso}
                        if want_totals:
                            entry["results"] = _results(
                                (
                                    sim.expected,
                                    1,
                                    sim.worked,
                                    sim.overtime,
                                    sim.night,
                                    sim.absence,
                                    sim.late,
                                    sim.breaks,
                                ),
                                None,
                                include_empty_code,
                            )
                        if want_punches:
                            entry["punches"] = _punches(sim.punches, day)
                        daily.append(entry)
                dsr = sum(1 for k in range(start, end + 1) if m.days[k].weekday == 6)
            if want_daily:
                parts = [daily[: len(daily) // 2], daily[len(daily) // 2 :]] if e.split_month else [daily]
                for part in parts if all(parts) else [daily]:
                    yield {
                        "employee": e.registration,
                        "paymentDate": payment_date,
                        "infotype": infotype,
                        "daily": part,
                    }
            if want_monthly:
                results = _results(sums, dsr, include_empty_code) if has else []
                yield {
                    "employee": e.registration,
                    "paymentDate": payment_date,
                    "infotype": infotype,
                    "results": results,
                }

    def _ekey(self, index: int) -> int:
        """Key of an employee's days (punches, absences, Saturdays, break records)."""
        return _mix(_mix(self._key ^ index) ^ 0xDA7A)

    def _simulate(self, e: Employee, m: _Month, start: int, end: int) -> list[tuple[_Day, _DaySim]]:
        """The employee's scheduled days ``start..end`` (indexes in the month) and what happened."""
        hor = self._horary_by_code[e.horary]
        ekey = self._ekey(e.index)
        parity = (ekey >> 5) & 1
        absence_rate = 80 if (ekey & 7) == 0 else 20
        bi = e.shift == "part-time" or (e.shift == "day" and ((ekey >> 3) & 3) == 0)
        pauses = e.shift == "part-time"
        out = []
        for k in range(start, end + 1):
            day = m.days[k]
            periods = self._periods_of(hor, day, parity)
            if periods:
                out.append((day, _simulate_day(periods, _mix(ekey + day.ordinal), absence_rate, bi, pauses)))
        return out

    # ---------------------------------------------------------------------------------- master data

    def pontoweb_master_data(self) -> dict[str, list[dict[str, Any]]]:
        """Bodies of ``POST /costcenter`` and ``POST /subsidiaries`` (valid :class:`CostCenter` and
        :class:`Subsidiary` records of ``models.pontoweb``)."""
        return {
            "costcenter": [{"codigo": c.codigo, "nome": c.nome} for c in self.cost_centers],
            "subsidiaries": [
                {
                    "numeroCadastro": b.cnpj,
                    "razaoSocial": b.razao_social,
                    "telefoneDDD": b.ddd,
                    "telefone": b.telefone,
                    "cep": b.cep,
                    "endereco": f"{b.endereco}, {b.numero}",
                    "bairro": b.bairro,
                    "cidade": b.cidade,
                    "estado": b.estado,
                    "pais": "1058",
                    "ativacao": True,
                }
                for b in self.branches
            ],
        }

    def pontoweb_people(self) -> list[dict[str, Any]]:
        """Bodies of ``POST /people`` (valid ``models.pontoweb.Person`` records), one per employee."""
        return [
            {
                "matricula": e.registration,
                "nome": e.name,
                "pis": e.pis,
                "dataAdmissao": e.admission.strftime("%d/%m/%Y"),
            }
            for e in self.employees
        ]

    def leaders(self) -> dict[str, Employee]:
        """Cost center code -> its leader: the first active day-shift employee there (if any)."""
        out: dict[str, Employee] = {}
        for e in self.employees:
            if e.cost_center not in out and not e.dismissed and e.shift == "day":
                out[e.cost_center] = e
        return out

    def email(self, e: Employee) -> str:
        """A unique e-mail address: first.last.registration@company.example.com (ASCII)."""
        first, _, last = e.name.partition(" ")
        local = f"{_ascii(first)}.{_ascii(last.rsplit(' ', 1)[-1])}.{e.registration}".lower()
        return f"{local}@{self.company}.example.com"

    def voors_master_data(self) -> dict[str, list[dict[str, Any]]]:
        """Voors request bodies, in the order to send them (dict order), each list in its order.

        Keys are the resource names: ``branches``, ``departments`` (one per cost center, at the head
        office), ``jobRoles``, ``jobFunctions``, ``horaries``, ``users``. Relations use the remoteIds
        sent here; users come leaders first (the top leader, then each department's leader), and
        every other user's ``appraisedBy`` is the CPF of their department's leader.
        """
        hq = self.branches[0].cnpj if self.branches else None
        branches = [
            {
                "remoteId": b.cnpj,
                "name": b.razao_social,
                "tradingName": b.nome_fantasia,
                "cnpj": b.cnpj,
                "displayCode": b.index + 1,
                "address": b.endereco,
                "number": b.numero,
                "neighborhood": b.bairro,
                "zipcode": f"{b.cep[:5]}-{b.cep[5:]}",
                "phoneDDD": b.ddd,
                "phone": b.telefone,
                "city": b.ibge,
            }
            for b in self.branches
        ]
        departments = []
        for c in self.cost_centers:
            dep: dict[str, Any] = {
                "name": c.nome,
                "description": f"Centro de custo {c.codigo} - {c.nome}",
                "displayCode": c.codigo,
                "remoteId": c.codigo,
            }
            if hq:
                dep["branch"] = {"remoteId": hq}
            departments.append(dep)
        job_roles = [
            {"title": r.title, "description": r.title, "cbo": r.cbo, "remoteId": r.remote_id}
            for r in self.job_roles
        ]
        job_functions = [
            {
                "title": f"{r.title} {'I' * level}",
                "description": f"{r.title}, nível {'I' * level}",
                "displayCode": r.function_remote_id(level),
                "active": True,
                "cbo": r.cbo,
                "jobRole": {"id": r.remote_id},
                "remoteId": r.function_remote_id(level),
            }
            for r in self.job_roles
            for level in (1, 2)
        ]
        horaries = [_horary_body(h) for h in self.horaries]
        leaders = self.leaders()
        top = leaders.get(self.cost_centers[0].codigo) or next(iter(leaders.values()), None)
        ordered: list[Employee] = []
        if top is not None:
            ordered.append(top)
        ordered += [ld for ld in leaders.values() if ld is not top]
        leader_indexes = {e.index for e in ordered}
        ordered += [e for e in self.employees if e.index not in leader_indexes]
        users = []
        for e in ordered:
            branch = self.branches[e.branch]
            role = self.job_roles[e.job_role]
            first, _, last = e.name.partition(" ")
            user: dict[str, Any] = {
                "cpf": e.cpf,
                "firstName": first,
                "lastName": last,
                "email": self.email(e),
                "birthDate": e.birth_date.strftime("%d/%m/%Y"),
                "admissionDate": e.admission.strftime("%d/%m/%Y"),
                "displayCode": e.registration,
                "active": not e.dismissed,
                "pis": e.pis,
                "salary": e.salary,
                "city": branch.ibge,
                "zipcode": f"{branch.cep[:5]}-{branch.cep[5:]}",
                "department": {"id": e.cost_center},
                "jobRole": {"id": role.remote_id},
                "jobFunction": {"id": role.function_remote_id(e.job_level)},
                "horary": {"id": e.horary},
                "meta": {"employmentRelationships": [branch.cnpj]},
            }
            if top is not None and e is not top:
                leader = leaders.get(e.cost_center)
                user["appraisedBy"] = (leader if leader is not None and leader is not e else top).cpf
            users.append(user)
        return {
            "branches": branches,
            "departments": departments,
            "jobRoles": job_roles,
            "jobFunctions": job_functions,
            "horaries": horaries,
            "users": users,
        }


def _clock(minute: int) -> str:
    minute %= 1440
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _horary_body(h: Horary) -> dict[str, Any]:
    body: dict[str, Any] = {"title": h.title, "description": h.title, "active": True}
    for suffix, periods in (("", h.periods), ("Saturday", h.saturday), ("Sunday", ())):
        for k in (1, 2):
            period = periods[k - 1] if len(periods) >= k else None
            body[f"horaryEntry{k}{suffix}"] = _clock(period[0]) if period else ""
            body[f"horaryExit{k}{suffix}"] = _clock(period[1]) if period else ""
    body["remoteId"] = h.code
    return body


def _results(totals: Sequence[int], dsr: int | None, include_empty_code: bool) -> list[dict[str, Any]]:
    """Results of a day or a month. ``totals``: expected, days, worked, overtime, night, absence,
    late, breaks (minutes, days)."""
    expected, days, worked, overtime, night, absence, late, breaks = totals
    out = [_result("expected", expected), _result("expected_days", days), _result("worked", worked)]
    if overtime:
        out.append(_result("overtime", overtime))
    if night:
        out.append(_result("night", night))
    if absence:
        out.append(_result("absence", absence))
    if late:
        out.append(_result("late", late))
    if dsr is not None:
        out.append(_result("dsr", dsr))
    if include_empty_code and breaks:
        out.append(_result("break", breaks))
    return out


def _punches(punches: list[tuple[int, str, str]], day: _Day) -> list[dict[str, Any]]:
    out = []
    for minute, kind, label in punches:
        if minute >= 1440:
            when, minute = day.next_iso, minute - 1440
        else:
            when = day.iso
        out.append({"date": when, "hour": _HHMM[minute], "type": kind, "label": label})
    return out
