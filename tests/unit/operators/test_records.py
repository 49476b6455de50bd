"""operators/_records.py: where push operators read records from, and the failure report.

The ``.json`` array parser reads in chunks of ``_CHUNK`` characters; every chunk boundary is tried
by shrinking the chunk to a few characters and comparing with ``json.loads`` of the whole file.
"""

from __future__ import annotations

import io
import json
import os
import random
from pathlib import Path
from typing import Any

import fsspec
import pytest

from airflow_provider_ahgora.exceptions import AhgoraConfigError
from airflow_provider_ahgora.operators import _records
from airflow_provider_ahgora.operators._records import (
    RECORD_FORMATS,
    FailureReport,
    default_report_path,
    describe_source,
    iter_records,
    read_report,
)

pytestmark = pytest.mark.filterwarnings("ignore:in a future version of UPath:PendingDeprecationWarning")


@pytest.fixture
def memfs():
    fs = fsspec.filesystem("memory")
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
    yield fs
    fs.store.clear()


def write(path: Path, text: str, encoding: str = "utf-8") -> str:
    path.write_text(text, encoding=encoding)
    return str(path)


def parse(text: str, chunk: int | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> list[Any]:
    if chunk is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(_records, "_CHUNK", chunk)
    return list(_records._iter_json_array(io.StringIO(text), "test.json"))


# --------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------


class TestSources:
    def test_list_tuple_and_generator(self):
        records = [{"a": 1}, {"b": 2}]
        assert list(iter_records(records)) == records
        assert list(iter_records(tuple(records))) == records
        assert list(iter_records(r for r in records)) == records

    def test_it_is_lazy(self):
        def endless():
            i = 0
            while True:
                yield {"i": i}
                i += 1

        it = iter_records(endless())
        assert [next(it) for _ in range(3)] == [{"i": 0}, {"i": 1}, {"i": 2}]

    @pytest.mark.parametrize(
        ("source", "match"),
        [
            (None, "is None"),
            (b"[1]", "got bytes"),
            (bytearray(b"[]"), "got bytearray"),
            (42, "got int"),
            ({"records": []}, "without a 'path' key"),
            ({"path": 3}, "without a 'path' key"),
        ],
    )
    def test_wrong_kinds(self, source, match):
        with pytest.raises(AhgoraConfigError, match=match):
            list(iter_records(source, what="push: records"))

    @pytest.mark.parametrize("text", ['[{"a": 1}]', '{"path": "x.json"}', "  \n[1, 2]"])
    def test_json_looking_strings_are_refused(self, text):
        with pytest.raises(AhgoraConfigError, match="looks like JSON") as info:
            list(iter_records(text, what="push: records"))
        message = str(info.value)
        assert message.startswith("push: records")
        assert "render_template_as_native_obj=True" in message

    def test_path_mapping_and_pathlike(self, tmp_path):
        path = write(tmp_path / "r.jsonl", '{"a": 1}\n')
        assert list(iter_records({"path": path, "records": 1})) == [{"a": 1}]
        assert list(iter_records(Path(path))) == [{"a": 1}]
        assert list(iter_records({"path": Path(path)})) == [{"a": 1}]

    @pytest.mark.parametrize("name", ["r.txt", "r", "r.json.gz", "r.parquet"])
    def test_unknown_suffix(self, tmp_path, name):
        path = write(tmp_path / name, "[]")
        with pytest.raises(AhgoraConfigError, match="cannot tell the format"):
            list(iter_records(path))

    def test_suffixes_are_case_insensitive(self, tmp_path):
        assert list(iter_records(write(tmp_path / "R.JSON", "[1]"))) == [1]
        assert list(iter_records(write(tmp_path / "R.NDJSON", "2\n"))) == [2]
        assert ".ndjson" in RECORD_FORMATS

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            list(iter_records(str(tmp_path / "none.json")))

    def test_memory_uri(self, memfs):
        memfs.pipe("/bucket/r.jsonl", b'{"a": 1}\n{"a": 2}\n')
        memfs.pipe("/bucket/r.json", b'[{"a": 1}, {"a": 2}]')
        memfs.pipe("/bucket/r.csv", b"a,b\n1,\n")
        assert list(iter_records("memory://bucket/r.jsonl")) == [{"a": 1}, {"a": 2}]
        assert list(iter_records("memory://bucket/r.json")) == [{"a": 1}, {"a": 2}]
        assert list(iter_records("memory://bucket/r.csv")) == [{"a": "1"}]

    def test_describe_source(self, tmp_path):
        assert describe_source([1, 2]) == "a list of 2 records"
        assert describe_source({"path": "s3://b/k.json"}) == "s3://b/k.json"
        assert describe_source("/x/y.csv") == "/x/y.csv"
        assert describe_source(Path("/x/y.csv")) == "/x/y.csv"
        assert describe_source(iter([])) == "list_iterator"


# --------------------------------------------------------------------------------------------------
# JSON Lines
# --------------------------------------------------------------------------------------------------


class TestJsonLines:
    def test_blank_lines_and_crlf(self, tmp_path):
        path = tmp_path / "r.jsonl"
        path.write_bytes(b'{"a": 1}\r\n\r\n   \n{"a": "\xc3\xa7"}\n[1, 2]\n"s"')
        assert list(iter_records(str(path))) == [{"a": 1}, {"a": "ç"}, [1, 2], "s"]

    def test_bad_line_is_named(self, tmp_path):
        path = write(tmp_path / "r.jsonl", '{"a": 1}\n\n{"a": \n{"a": 3}\n')
        got: list[Any] = []
        with pytest.raises(AhgoraConfigError, match=r"r\.jsonl line 3 is not valid JSON") as info:
            got.extend(iter_records(path, what="push: records"))
        assert got == [{"a": 1}], "the lines before it were read; the caller decides to send nothing"
        assert str(info.value).startswith("push: records: ")

    def test_byte_order_mark(self, tmp_path):
        path = write(tmp_path / "r.jsonl", '{"a": 1}\n', encoding="utf-8-sig")
        assert list(iter_records(path)) == [{"a": 1}]

    def test_streams(self, tmp_path):
        path = write(tmp_path / "r.jsonl", "".join(f'{{"i": {i}}}\n' for i in range(1000)))
        it: Any = iter_records(path)
        assert next(it) == {"i": 0}
        it.close()  # the file is closed with the generator


# --------------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------------


class TestCsv:
    def test_rows_of_strings_empty_cells_dropped(self, tmp_path):
        path = write(tmp_path / "r.csv", 'codigo,nome,extra\n1,RH,\n2,,x\n"3","Ação, ""TI""",y\n')
        assert list(iter_records(path)) == [
            {"codigo": "1", "nome": "RH"},
            {"codigo": "2", "extra": "x"},
            {"codigo": "3", "nome": 'Ação, "TI"', "extra": "y"},
        ]

    def test_fewer_cells_than_the_header(self, tmp_path):
        path = write(tmp_path / "r.csv", "a,b,c\n1\n")
        assert list(iter_records(path)) == [{"a": "1"}]

    def test_more_cells_than_the_header(self, tmp_path):
        path = write(tmp_path / "r.csv", "a,b\n1,2\n1,2,3\n")
        with pytest.raises(AhgoraConfigError, match="line 3 has more cells than the header"):
            list(iter_records(path))

    def test_quoted_newline_bom_and_crlf(self, tmp_path):
        path = tmp_path / "r.csv"
        path.write_bytes('\ufeffa,b\r\n"line 1\r\nline 2",x\r\n'.encode())
        assert list(iter_records(str(path))) == [{"a": "line 1\r\nline 2", "b": "x"}]

    def test_empty_header_cells_dropped(self, tmp_path):
        path = write(tmp_path / "r.csv", "a,,b\n1,2,3\n")
        assert list(iter_records(path)) == [{"a": "1", "b": "3"}]

    def test_header_only(self, tmp_path):
        assert list(iter_records(write(tmp_path / "r.csv", "a,b\n"))) == []


# --------------------------------------------------------------------------------------------------
# The streamed JSON array
# --------------------------------------------------------------------------------------------------

DOCUMENTS = [
    "[]",
    "  [ ]  ",
    "\n[\n]\n",
    "[1]",
    "[1,2,3]",
    " [ 1 , 2 , 3 ] ",
    '[{"a": 1, "b": [1, 2, {"c": null}]}, {"d": "x"}]',
    '["a\\"b", "\\u00e7\\u00e3o", "ção", "\\\\", "]", ",", "[", "{"]',
    "[true, false, null, -1, 0, 12345678901234567890, 1.5, -1.5e3, 2E-2, 0.000001]",
    '[[], {}, [[]], [{}], {"": []}]',
    '[{"nome": "' + "x" * 300 + '"}, 123456789, "' + "é" * 50 + '"]',
    "[\t1\r\n,\n2\t]",
]


class TestJsonArray:
    @pytest.mark.parametrize("document", DOCUMENTS)
    @pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, 1 << 16])
    def test_every_chunk_boundary(self, monkeypatch, document, chunk):
        assert parse(document, chunk, monkeypatch) == json.loads(document)

    def test_random_documents_at_small_chunks(self, monkeypatch):
        rng = random.Random(7)

        def value(depth: int) -> Any:
            kind = rng.randrange(7 if depth < 3 else 4)
            if kind == 0:
                return rng.choice([True, False, None])
            if kind == 1:
                return rng.choice(
                    [0, -7, 10 ** rng.randrange(1, 25), rng.random() * 10 ** rng.randrange(-8, 8)]
                )
            if kind in (2, 3):
                return "".join(rng.choice('ab"\\/ç\n\t]},[{ ') for _ in range(rng.randrange(12)))
            if kind in (4, 5):
                return {f"k{i}": value(depth + 1) for i in range(rng.randrange(4))}
            return [value(depth + 1) for _ in range(rng.randrange(4))]

        for _ in range(60):
            records = [value(0) for _ in range(rng.randrange(6))]
            text = json.dumps(records, indent=rng.choice([None, 1, 2]), ensure_ascii=rng.random() < 0.5)
            for chunk in (1, 2, 3, 4, 9):
                assert parse(text, chunk, monkeypatch) == records, (text, chunk)

    @pytest.mark.parametrize("chunk", [1, 3, 1 << 16])
    def test_number_split_across_chunks_is_read_whole(self, monkeypatch, chunk):
        # "1" then ".5e3": a decoder that stopped at the chunk's end would read 1
        assert parse("[1.5e3,-20,300]", chunk, monkeypatch) == [1500.0, -20, 300]

    @pytest.mark.parametrize(
        ("document", "match"),
        [
            ("", "does not start with"),
            ("   ", "does not start with"),
            ('{"a": 1}', "does not start with"),
            ("[1, 2", "not closed"),
            ("[1, 2,", "element 2 is not valid JSON"),  # cut after a comma
            ("[", "element 0 is not valid JSON"),
            ("[1 2]", "expected ',' or ']' after element 0"),
            ('[{"a": 1} {"b": 2}]', "expected ',' or ']' after element 0"),
            ("[1, oops]", "element 1 is not valid JSON"),
            ("[1,]", "element 1 is not valid JSON"),
            ('[{"a": }]', "element 0 is not valid JSON"),
            ('["unterminated]', "element 0 is not valid JSON"),
            ("[1] x", "unexpected data after the closing"),
            ("[1][2]", "unexpected data after the closing"),
        ],
    )
    @pytest.mark.parametrize("chunk", [1, 4, 1 << 16])
    def test_errors(self, monkeypatch, document, match, chunk):
        with pytest.raises(AhgoraConfigError, match=match) as info:
            parse(document, chunk, monkeypatch)
        assert str(info.value).startswith("test.json")

    def test_elements_before_an_error_are_yielded(self, monkeypatch):
        monkeypatch.setattr(_records, "_CHUNK", 4)
        got: list[Any] = []
        with pytest.raises(AhgoraConfigError, match="element 2"):
            got.extend(_records._iter_json_array(io.StringIO('[{"a": 1}, 2, nope]'), "x"))
        assert got == [{"a": 1}, 2]

    def test_memory_is_bounded_by_the_chunk(self, monkeypatch):
        """The buffer holds at most one chunk plus the element being decoded."""
        monkeypatch.setattr(_records, "_CHUNK", 100)
        seen: list[int] = []

        class Spy(io.StringIO):
            def read(self, size: int | None = -1) -> str:
                assert size == 100, "never the whole stream"
                seen.append(size)
                return super().read(size)

        records = [{"i": i, "pad": "x" * 40} for i in range(2000)]
        it = _records._iter_json_array(Spy(json.dumps(records)), "x")
        assert next(it) == records[0]
        assert len(seen) == 1, "the first element is yielded after one chunk"
        assert list(it) == records[1:]

    def test_file_with_bom(self, tmp_path):
        path = write(tmp_path / "r.json", '[{"a": 1}]', encoding="utf-8-sig")
        assert list(iter_records(path)) == [{"a": 1}]

    def test_big_file_through_iter_records(self, tmp_path):
        records = [{"codigo": f"c{i:06d}", "nome": f"Centro {i} ç"} for i in range(20_000)]
        path = write(tmp_path / "r.json", json.dumps(records, ensure_ascii=False))
        assert list(iter_records(path)) == records


# --------------------------------------------------------------------------------------------------
# The failure report
# --------------------------------------------------------------------------------------------------


def partials(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".partial"))


class TestFailureReport:
    def test_commit(self, tmp_path):
        target = tmp_path / "deep" / "dir" / "failures.jsonl"
        report = FailureReport(str(target))
        report.add({"codigo": "1"}, "not sent: x", None, index=3)
        report.add({"codigo": "ç"}, "rejected", 2)
        assert not target.exists(), "nothing visible before the commit"
        assert len(partials(target.parent)) == 1
        assert report.count == 2
        assert not report.closed
        assert report.commit() == str(target)
        assert report.closed
        assert partials(target.parent) == []
        assert target.read_text(encoding="utf-8").splitlines() == [
            '{"record":{"codigo":"1"},"reason":"not sent: x","batch":null,"index":3}',
            '{"record":{"codigo":"ç"},"reason":"rejected","batch":2}',
        ]
        assert list(read_report(str(target))) == [
            {"record": {"codigo": "1"}, "reason": "not sent: x", "batch": None, "index": 3},
            {"record": {"codigo": "ç"}, "reason": "rejected", "batch": 2},
        ]

    def test_empty_report_is_written(self, tmp_path):
        target = tmp_path / "failures.jsonl"
        FailureReport(target).commit()
        assert target.read_text() == ""
        assert list(read_report(target)) == []

    def test_commit_replaces_an_earlier_report(self, tmp_path):
        target = tmp_path / "failures.jsonl"
        target.write_text('{"old": true}\n')
        report = FailureReport(target)
        report.add(1, "r")
        report.commit()
        assert list(read_report(target)) == [{"record": 1, "reason": "r", "batch": None}]

    def test_discard_leaves_the_earlier_report(self, tmp_path):
        target = tmp_path / "failures.jsonl"
        target.write_text('{"old": true}\n')
        report = FailureReport(target)
        report.add(1, "r")
        report.discard()
        assert report.closed
        assert partials(tmp_path) == []
        assert list(read_report(target)) == [{"old": True}]
        report.discard()  # twice is harmless

    def test_context_manager_discards_on_error(self, tmp_path):
        target = tmp_path / "failures.jsonl"

        def fail() -> None:
            with FailureReport(target) as report:
                report.add(1, "r")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fail()
        assert not target.exists()
        assert partials(tmp_path) == []

    def test_context_manager_keeps_a_committed_report(self, tmp_path):
        target = tmp_path / "failures.jsonl"
        with FailureReport(target) as report:
            report.add(1, "r")
            report.commit()
        assert list(read_report(target)) == [{"record": 1, "reason": "r", "batch": None}]

    def test_keep_extends_an_earlier_report(self, tmp_path):
        """What the deferred push does on resume: the report committed before the deferral, plus."""
        target = tmp_path / "failures.jsonl"
        first = FailureReport(target)
        first.add({"a": 1}, "invalid", None, index=0)
        first.commit()
        second = FailureReport(target, keep=read_report(target))
        assert second.count == 1
        second.add({"a": 2}, "rejected", 1, index=1)
        assert second.count == 2
        second.commit()
        assert [e["reason"] for e in read_report(target)] == ["invalid", "rejected"]

    def test_values_that_are_not_json_are_written_as_strings(self, tmp_path):
        import datetime

        target = tmp_path / "failures.jsonl"
        report = FailureReport(target)
        report.add({"when": datetime.date(2026, 1, 2)}, "r")
        report.commit()
        assert next(read_report(target))["record"] == {"when": "2026-01-02"}

    def test_a_directory_target_gets_failures_jsonl(self, tmp_path):
        report = FailureReport(str(tmp_path / "out") + "/")
        assert report.path == str(tmp_path / "out" / "failures.jsonl")
        report.commit()
        assert (tmp_path / "out" / "failures.jsonl").exists()
        assert list(read_report(str(tmp_path / "out") + "/")) == []

    def test_memory_target(self, memfs):
        report = FailureReport("memory://bucket/run/failures.jsonl")
        report.add({"a": 1}, "r", 1)
        assert not memfs.exists("/bucket/run/failures.jsonl")
        path = report.commit()
        assert path.startswith("memory://")
        assert memfs.cat("/bucket/run/failures.jsonl") == b'{"record":{"a":1},"reason":"r","batch":1}\n'
        assert not [p for p in memfs.find("/bucket") if p.endswith(".partial")]
        assert list(read_report("memory://bucket/run/failures.jsonl")) == [
            {"record": {"a": 1}, "reason": "r", "batch": 1}
        ]

    def test_absent_report_has_no_entries(self, tmp_path):
        assert list(read_report(tmp_path / "none.jsonl")) == []

    def test_default_report_path(self, monkeypatch, tmp_path):
        from types import SimpleNamespace

        monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
        ti = SimpleNamespace(
            dag_id="sync", run_id="manual__2026-11-01T00:00:00+00:00", task_id="push", map_index=-1
        )
        path = default_report_path({"ti": ti})
        assert path.startswith(os.path.join(str(tmp_path), "data", "ahgora", "sync"))
        assert path.endswith(os.path.join("push", "failures.jsonl"))
        ti.map_index = 4
        assert default_report_path({"ti": ti}).endswith(os.path.join("push", "4", "failures.jsonl"))
        assert default_report_path({"ti": ti}, "other.jsonl").endswith("other.jsonl")
