"""The count of the results engine reads a record's bytes without decoding them: it must count exactly
what the decoded record counts, whatever the record holds (the count decides whether a read commits)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from airflow_provider_ahgora.results import Counts

_numbers = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
_scalars = st.none() | st.booleans() | _numbers | st.text()
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
#: an array of punches or results as the documents have them, or any other JSON value
_items = st.lists(st.dictionaries(st.sampled_from(["type", "hour", "value"]), _scalars), max_size=3) | _json
_entry = st.fixed_dictionaries(
    {}, optional={"day": st.text(max_size=10), "punches": _items, "results": _items}
)
_record = st.fixed_dictionaries(
    {},
    optional={
        "employee": _scalars,
        "results": _items,
        "daily": st.lists(_entry | _json, max_size=4) | _json,
        "other": _json,
    },
)


def _counted(records: list[Any]) -> dict[str, Any]:
    counts = Counts()
    for record in records:
        counts.add(record)
    return {
        **counts.readings(),
        "kinds": sorted(counts.kinds),
        "employee ids": sorted(counts.employees),
    }


@settings(max_examples=300, deadline=None)
@given(records=st.lists(_record, max_size=5), indent=st.sampled_from([None, 1]), ascii=st.booleans())
def test_the_bytes_count_as_the_decoded_record(records, indent, ascii):
    lines = [json.dumps(r, indent=indent, ensure_ascii=ascii).encode("utf-8") for r in records]
    assert _counted(lines) == _counted(records)


@example(b'{"employee": 1e999, "results": [1]}')  # out of msgspec's range: the decoded path
@example(b'{"employee": 123456789012345678901234567890, "daily": [{"punches": [{}]}, 3]}')
@example(b'{"employee": "E1", "results": "x", "daily": {"punches": [1]}}')
@given(st.just(b'{"employee": "E1", "daily": [{"results": [], "punches": [{"hour": "0800"}]}]}'))
def test_documented_and_odd_shapes(line):
    assert _counted([line]) == _counted([json.loads(line)])
