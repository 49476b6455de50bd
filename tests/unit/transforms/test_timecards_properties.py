"""Property tests of a day's punches: any permutation or duplication of them gives the same worked
time, or the same refusal (a named ValueError); pauses change nothing; numbers and text agree."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from airflow_provider_ahgora.transforms import TransformError, day_slots, time_card, worked_minutes

fast = settings(deadline=None, max_examples=150, database=None)

DAY = date(2025, 4, 10)
TYPES = ("O", "I", "BI", None)


def punch(
    minute: int, label: str | None, type_: str | None, dated: bool, as_number: bool = False, day: date = DAY
) -> dict:
    """A punch ``minute`` minutes after ``day``'s midnight (1560 is 02:00 of the next day)."""
    clock = minute % 1440
    out: dict[str, Any] = {
        "hour": clock // 60 * 100 + clock % 60 if as_number else f"{clock // 60:02d}{clock % 60:02d}"
    }
    if dated:
        out["date"] = (day + timedelta(days=minute // 1440)).isoformat()
    if type_ is not None:
        out["type"] = type_
    if label is not None:
        out["label"] = label
    return out


def outcome(punches: list[dict]) -> int | str:
    """The worked minutes, or "refused" (a ValueError that names a field)."""
    try:
        return worked_minutes({"day": DAY.isoformat(), "punches": punches})
    except ValueError as exc:
        if not str(exc).startswith(("punches", "day")):  # a refusal names the field
            raise AssertionError(f"unnamed refusal: {exc}") from exc
        return "refused"


@st.composite
def valid_days(draw: st.DrawFn) -> tuple[list[dict], int]:
    """A day of 1 to 4 labelled periods (entrada-k/saida-k), possibly across midnight, some punches
    dated and some not, types O, I, BI or none; and the minutes it worked."""
    periods = draw(st.integers(1, 4))
    at = draw(st.integers(0, 1439))
    worked = 0
    punches = []
    as_number = draw(st.booleans())
    for k in range(1, periods + 1):
        if k > 1:
            at += draw(st.integers(0, 60))
        length = draw(st.integers(0, 300))  # 4 x 300 + 3 x 60 < 1440: the day spans less than a day
        for minute, label in ((at, f"entrada-{k}"), (at + length, f"saida-{k}")):
            punches.append(punch(minute, label, draw(st.sampled_from(TYPES)), draw(st.booleans()), as_number))
        at += length
        worked += length
    return punches, worked


@st.composite
def perturbed(draw: st.DrawFn, punches: list[dict], day: date = DAY) -> list[dict]:
    """The same punches repeated (exactly, or as another type: a double tap, a manual inclusion),
    with pause records (BI, no entry/exit label) added, in any order."""
    out = list(punches)
    for p in punches:
        for _ in range(draw(st.integers(0, 2))):
            copy = dict(p)
            new_type = draw(st.sampled_from(TYPES))
            if new_type is None:
                copy.pop("type", None)
            else:
                copy["type"] = new_type
            out.append(copy)
    for _ in range(draw(st.integers(0, 3))):
        minute = draw(st.integers(0, 2879))
        label = draw(st.sampled_from(["pausa", None, "intervalo", "", "Pausa-1"]))
        out.append(punch(minute, label, draw(st.sampled_from(["BI", "bi"])), draw(st.booleans()), day=day))
    return draw(st.permutations(out))


@fast
@given(st.data(), valid_days())
def test_any_permutation_or_duplication_of_a_valid_day_gives_its_worked_time(data, day):
    punches, worked = day
    assert outcome(punches) == worked
    assert outcome(data.draw(perturbed(punches))) == worked


@fast
@given(st.data(), valid_days())
def test_slots_do_not_depend_on_the_order_nor_on_repeats(data, day):
    punches, _ = day
    entry = {"day": DAY.isoformat(), "punches": punches}
    slots = day_slots(entry)
    assert day_slots({"day": DAY.isoformat(), "punches": data.draw(perturbed(punches))}) == slots
    assert list(slots) == [f"{kind}{k}" for k in range(1, len(slots) // 2 + 1) for kind in ("entry", "exit")]


ANY_PUNCH = st.builds(
    punch,
    st.sampled_from([0, 480, 481, 720, 780, 1020, 1320, 1500, 1800]),
    st.sampled_from(["entrada-1", "saida-1", "entrada-2", "saida-2", "Entrada 1", "x", "", None]),
    st.sampled_from(TYPES),
    st.booleans(),
)


@fast
@given(st.lists(ANY_PUNCH, max_size=6), st.randoms(use_true_random=False))
@example(  # the double tap: two entrada-1 a minute apart
    [
        punch(480, "entrada-1", "O", True),
        punch(481, "entrada-1", "O", True),
        punch(720, "saida-1", "O", True),
    ],
    random.Random(0),
)
def test_any_day_gives_the_same_figure_or_the_same_refusal_in_any_order(punches, rnd):
    expected = outcome(punches)
    shuffled = [*punches, *(dict(p) for p in punches if rnd.random() < 0.5)]
    rnd.shuffle(shuffled)
    assert outcome(shuffled) == expected


@fast
@given(valid_days())
def test_numbers_and_text_and_json_lines_agree(day):
    punches, worked = day
    as_text = [{**p, "hour": f"{p['hour']:04d}"} if isinstance(p["hour"], int) else p for p in punches]
    as_number = [{**p, "hour": int(p["hour"])} for p in as_text]
    through_a_file = json.loads(json.dumps(as_number))
    assert outcome(as_text) == outcome(as_number) == outcome(through_a_file) == worked


@fast
@given(st.data(), st.lists(valid_days(), min_size=1, max_size=4))
def test_a_card_does_not_depend_on_the_order_of_its_days_and_punches(data, days):
    entries = [
        {
            "day": (DAY + timedelta(days=2 * i)).isoformat(),
            "punches": [{**p, "date": _shift(p, 2 * i)} for p in d[0]],
        }
        for i, d in enumerate(days)
    ]
    record = {"employee": "1", "cpf": "52998224725", "daily": entries}
    card = time_card(record, company="a1")
    shuffled = [
        {**e, "punches": data.draw(perturbed(e["punches"], date.fromisoformat(e["day"])))}
        for e in data.draw(st.permutations(entries))
    ]
    other = time_card({**record, "daily": shuffled}, company="a1")
    assert {k: v for k, v in other.items() if k != "observations"} == card
    assert [t["total"] for t in card["totals"]] == [_hmm(sum(w for _, w in days))]


def _shift(p: dict, days: int) -> str | None:
    if "date" not in p:
        return None
    return (date.fromisoformat(p["date"]) + timedelta(days=days)).isoformat()


def _hmm(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def test_refusals_name_the_day_in_a_card():
    record = {
        "employee": "1",
        "cpf": "52998224725",
        "daily": [
            {
                "day": "2025-04-10",
                "punches": [punch(480, "entrada-1", "O", True), punch(481, "entrada-1", "I", True)],
            }
        ],
    }
    with pytest.raises(TransformError, match="a double tap") as info:
        time_card(record, company="a1")
    assert (info.value.employee, info.value.day, info.value.field) == (
        "1",
        "2025-04-10",
        "daily[0].punches[1]",
    )
