"""operators/_records.py: where push operators read records from, and the failure report.

The ``.json`` array parser reads in chunks of ``_CHUNK`` characters; every chunk boundary is tried
by shrinking the chunk to a few characters and comparing with ``json.loads`` of the whole file.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import logging
import os
import random
import tracemalloc
from pathlib import Path
from typing import Any
from unittest import mock

import fsspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
        """Refused: DictReader filled the missing cells with None and the values silently vanished."""
        path = write(tmp_path / "r.csv", "a,b,c\n1,2,3\n1\n")
        got: list[Any] = []
        with pytest.raises(AhgoraConfigError, match="line 3 has fewer cells than the header: 1 against 3"):
            got.extend(iter_records(path, what="push: records"))
        assert got == [{"a": "1", "b": "2", "c": "3"}]

    def test_more_cells_than_the_header(self, tmp_path):
        path = write(tmp_path / "r.csv", "a,b\n1,2\n1,2,3\n")
        with pytest.raises(AhgoraConfigError, match="line 3 has more cells than the header"):
            list(iter_records(path))

    def test_quoted_newline_bom_and_crlf(self, tmp_path):
        path = tmp_path / "r.csv"
        path.write_bytes('\ufeffa,b\r\n"line 1\r\nline 2",x\r\n'.encode())
        assert list(iter_records(str(path))) == [{"a": "line 1\r\nline 2", "b": "x"}]

    def test_empty_header_cells_with_empty_values_are_fine(self, tmp_path):
        """A trailing delimiter on every line (spreadsheet exports) leaves an unnamed, empty column."""
        path = write(tmp_path / "r.csv", "a;b;\n1;2;\n3;;\n")
        assert list(iter_records(path)) == [{"a": "1", "b": "2"}, {"a": "3"}]

    def test_a_value_under_an_empty_header_is_refused(self, tmp_path):
        """It used to vanish silently (found in review)."""
        path = write(tmp_path / "r.csv", "codigo;;nome\n0001;;Vendas\n0002;IMPORTANT;RH\n")
        got: list[Any] = []
        with pytest.raises(
            AhgoraConfigError, match=r"line 3 has a value in column 2 \(B\), whose header cell is empty"
        ):
            got.extend(iter_records(path))
        assert got == [{"codigo": "0001", "nome": "Vendas"}]

    @pytest.mark.parametrize("header", ["codigo;nome;codigo", "codigo;nome;;codigo"])
    def test_a_column_named_twice_is_refused(self, tmp_path, header):
        """One value silently replaced the other: the wrong cost center code was pushed (found in review)."""
        cells = header.count(";") + 1
        row = ";".join(["0001", "Vendas"] + [""] * (cells - 3) + ["9999"])
        path = write(tmp_path / "r.csv", f"{header}\n{row}\n")
        with pytest.raises(AhgoraConfigError, match=r"names 'codigo' twice, in column 1 \(A\) and column"):
            list(iter_records(path))

    def test_spreadsheet_column_names(self):
        assert [_records._column(i) for i in (0, 25, 26, 701, 702)] == [
            "column 1 (A)",
            "column 26 (Z)",
            "column 27 (AA)",
            "column 702 (ZZ)",
            "column 703 (AAA)",
        ]

    def test_header_only(self, tmp_path):
        assert list(iter_records(write(tmp_path / "r.csv", "a,b\n"))) == []


# --------------------------------------------------------------------------------------------------
# Files from HR systems: encodings
# --------------------------------------------------------------------------------------------------

#: Names as Brazilian HR exports carry them (all in Latin-1 and Windows-1252).
NAMES = ["José da Conceição", "João Gonçalves", "Márcia Ângela", "Inês Úrsula", "ÇÃO ÕES ÀÉÍÓÚ"]


def wbytes(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def csv_text(names: list[str], delimiter: str = ";", newline: str = "\n") -> str:
    lines = [f"matricula{delimiter}nome"] + [f"{i}{delimiter}{name}" for i, name in enumerate(names)]
    return newline.join(lines) + newline


def records_of(names: list[str]) -> list[dict[str, str]]:
    return [{"matricula": str(i), "nome": name} for i, name in enumerate(names)]


def error_of(source: Any, **options: Any) -> tuple[list[Any], str]:
    """The records yielded before the AhgoraConfigError, and its message."""
    got: list[Any] = []
    with pytest.raises(AhgoraConfigError) as info:
        got.extend(iter_records(source, what="push: records", **options))
    return got, str(info.value)


class TestOptions:
    def test_normalised(self):
        assert _records.check_read_options() == ("auto", None)
        assert _records.check_read_options(None, None) == ("auto", None)
        assert _records.check_read_options(" AUTO ") == ("auto", None)
        assert _records.check_read_options("Latin-1", ";") == ("iso8859-1", ";")
        assert _records.check_read_options("windows-1252", "\t") == ("cp1252", "\t")
        assert _records.check_read_options("utf-8-sig") == ("utf-8", None)

    @pytest.mark.parametrize("encoding", ["nope", "base64", "rot13", "zlib", 8])
    def test_unknown_encoding(self, encoding):
        with pytest.raises(AhgoraConfigError, match="unknown text encoding") as info:
            _records.check_read_options(encoding, what="push: records")
        assert str(info.value).startswith("push: records: ")
        assert "'cp1252'" in str(info.value)

    @pytest.mark.parametrize("delimiter", ["", ";;", '"', "\n", "\r", 1])
    def test_bad_delimiter(self, delimiter):
        with pytest.raises(AhgoraConfigError, match="delimiter must be one character"):
            _records.check_read_options("auto", delimiter)

    @pytest.mark.parametrize("delimiter", ["\\t", "tab"])
    def test_tab_spelled_out_gets_a_hint(self, delimiter):
        with pytest.raises(AhgoraConfigError, match="For a tab, pass the tab character itself"):
            _records.check_read_options("auto", delimiter)

    def test_checked_even_for_a_list(self):
        with pytest.raises(AhgoraConfigError, match="unknown text encoding"):
            list(iter_records([{"a": 1}], encoding="utf-9"))
        assert list(iter_records([{"a": 1}], encoding="latin-1", delimiter=";")) == [{"a": 1}]

    def test_options_follow_a_path_mapping(self, tmp_path):
        path = wbytes(tmp_path / "r.csv", csv_text(NAMES).encode("cp850"))
        assert list(iter_records({"path": path}, encoding="cp850", delimiter=";")) == records_of(NAMES)

    def test_shown_paths_carry_no_query_string_or_password(self):
        shown = _records._shown
        assert shown("s3://bucket/dir/r.csv?X-Amz-Signature=abc&token=t#frag") == "s3://bucket/dir/r.csv"
        assert shown("s3://aws_default@bucket/r.csv") == "s3://aws_default@bucket/r.csv"
        assert shown("https://user:secret@host/r.csv?sig=1") == "https://user:***@host/r.csv"
        # a token as the user part (raw-file hosts take one): masked whole (found in review)
        assert (
            shown("https://ghp_SECRET123@raw.example.com/hr/cc.csv")
            == "https://***@raw.example.com/hr/cc.csv"
        )
        assert shown("HTTPS://tok@h/x.csv") == "HTTPS://***@h/x.csv"
        assert "ghp_SECRET123" not in describe_source({"path": "https://ghp_SECRET123@h/x.json"})
        assert shown("/data/a?b.csv") == "/data/a?b.csv", "a local name is shown as it is"
        assert describe_source({"path": "gs://b/k.csv?token=x"}) == "gs://b/k.csv"


class TestEncodings:
    def test_latin1_csv_auto_and_explicit(self, tmp_path, caplog):
        path = wbytes(tmp_path / "r.csv", csv_text(NAMES).encode("latin-1"))
        with caplog.at_level(logging.INFO, logger=_records.__name__):
            assert list(iter_records(path)) == records_of(NAMES)
        chosen = [r.getMessage() for r in caplog.records if "Windows-1252" in r.getMessage()]
        assert len(chosen) == 1, "the choice is logged once per file"
        assert "line 2, byte 6 of the line (0xE9, offset 20 in the file)" in chosen[0]
        assert list(iter_records(path, encoding="latin-1")) == records_of(NAMES)
        assert list(iter_records(path, encoding="cp1252", delimiter=";")) == records_of(NAMES)

    def test_cp1252_signs(self, tmp_path):
        names = ["Preço “especial” – 10 €", "Ana’s … ™", "Œuvre Š ž Ÿ"]
        path = wbytes(tmp_path / "r.csv", csv_text(names).encode("cp1252"))
        assert list(iter_records(path)) == records_of(names)
        assert list(iter_records(path, encoding="windows-1252")) == records_of(names)

    def test_latin1_first_non_ascii_late(self, tmp_path):
        """The decision is taken at the first non-ASCII byte, however far into the file."""
        names = [f"Pessoa {i}" for i in range(3000)] + ["Último"]
        path = wbytes(tmp_path / "r.csv", csv_text(names).encode("latin-1"))
        assert list(iter_records(path)) == records_of(names)

    def test_explicit_encoding_wins(self, tmp_path):
        path = wbytes(tmp_path / "r.csv", csv_text(["Zé"]).encode("utf-8"))
        assert list(iter_records(path, encoding="latin-1")) == records_of(["ZÃ©"])

    @pytest.mark.parametrize("encoding", ["auto", "utf-8", "utf-8-sig"])
    def test_utf8_with_bom(self, tmp_path, encoding):
        path = wbytes(tmp_path / "r.csv", csv_text(NAMES).encode("utf-8-sig"))
        got = list(iter_records(path, encoding=encoding))
        assert got == records_of(NAMES)
        assert "matricula" in got[0], "the byte order mark is not part of the first column's name"

    @pytest.mark.parametrize(
        ("bom", "codec"),
        [
            (codecs.BOM_UTF16_LE, "utf-16-le"),
            (codecs.BOM_UTF16_BE, "utf-16-be"),
            (codecs.BOM_UTF32_LE, "utf-32-le"),
            (codecs.BOM_UTF32_BE, "utf-32-be"),
        ],
    )
    def test_utf16_and_utf32_with_bom(self, tmp_path, bom, codec):
        """Excel's "Unicode text" is UTF-16 LE with a byte order mark, tab-separated, CRLF."""
        path = wbytes(tmp_path / "r.csv", bom + csv_text(NAMES, "\t", "\r\n").encode(codec))
        assert list(iter_records(path)) == records_of(NAMES)

    def test_utf16_given_without_bom(self, tmp_path):
        path = wbytes(tmp_path / "r.csv", csv_text(NAMES).encode("utf-16-be"))
        _, message = error_of(path, encoding="utf-16")
        assert "has no UTF-16 byte order mark, so encoding='utf-16' cannot tell its byte order" in message
        assert "pass encoding='utf-16-le' (what Windows writes) or 'utf-16-be'" in message
        assert list(iter_records(path, encoding="utf-16-be")) == records_of(NAMES)

    def test_utf16_json_from_powershell(self, tmp_path):
        records = records_of(NAMES)
        path = wbytes(tmp_path / "r.json", json.dumps(records, indent=2, ensure_ascii=False).encode("utf-16"))
        assert list(iter_records(path)) == records

    def test_utf16_with_a_broken_unit_is_refused(self, tmp_path):
        data = "a,b\r\n1,x\r\n2,".encode("utf-16-le") + b"\x00\xd8" + "\r\n".encode("utf-16-le")
        path = wbytes(tmp_path / "r.csv", codecs.BOM_UTF16_LE + data)
        got, message = error_of(path)
        assert got == [{"a": "1", "b": "x"}]
        assert "is not valid utf-16 (its byte order mark says utf-16) at line 3 (0x00, offset 26" in message

    def test_utf16_without_bom_is_refused_with_a_hint(self, tmp_path):
        path = wbytes(tmp_path / "r.csv", csv_text(NAMES).encode("utf-16-le"))
        _, message = error_of(path)
        assert "has a NUL byte at line 1, byte 2 of the line (0x00, offset 1 in the file)" in message
        assert "encoding='utf-16-le'" in message
        assert list(iter_records(path, encoding="utf-16-le")) == records_of(NAMES)

    def test_corrupted_byte_far_into_a_utf8_file(self, tmp_path):
        """Refused at the bad line, naming it: the push operators read everything before sending,
        so raising there means nothing is sent (the records before it were only validated)."""
        lines = ["matricula;nome"] + [f"{i};José {i}" for i in range(5000)]
        bad = 4000  # index in lines: physical line 4001
        raw = [line.encode() for line in lines]
        raw[bad] = raw[bad].replace(b"\xc3\xa9", b"\xe9")  # one Latin-1 é in a UTF-8 file
        data = b"\n".join(raw) + b"\n"
        path = wbytes(tmp_path / "r.csv", data)
        offset = len(b"\n".join(raw[:bad])) + 1 + raw[bad].index(b"\xe9")
        got, message = error_of(path)
        assert len(got) == bad - 1, "every record before the bad line, none after"
        assert got[-1] == {"matricula": "3998", "nome": "José 3998"}
        assert message.startswith(f"push: records: {path} is not valid UTF-8 at line 4001, byte 9 of the")
        assert f"(0xE9, offset {offset} in the file)" in message
        assert "but line 2 has UTF-8 characters" in message
        assert "encoding=" in message
        _, message = error_of(path, encoding="utf-8")
        assert "is not valid utf-8 (encoding= says utf-8) at line 4001, byte 9 of the line" in message
        assert f"(0xE9, offset {offset} in the file): invalid continuation byte" in message

    def test_utf8_and_invalid_byte_on_the_same_line(self, tmp_path):
        path = wbytes(tmp_path / "r.csv", b"a,b\nJo\xc3\xa3o,Jos\xe9\n")
        _, message = error_of(path)
        assert (
            "at line 2, byte 10 of the line (0xE9, offset 13 in the file), but the same line has" in message
        )

    def test_windows_1252_then_utf8_is_refused(self, tmp_path):
        data = csv_text(["José"]).encode("cp1252") + csv_text(["João"]).encode("utf-8").split(b"\n", 1)[1]
        path = wbytes(tmp_path / "r.csv", data)
        got, message = error_of(path)
        assert got == [{"matricula": "0", "nome": "José"}]
        assert "has a UTF-8 character at line 3, byte 5 of the line (0xC3, offset 26 in the file)" in message
        assert "mixes encodings" in message

    def test_byte_undefined_in_windows_1252_is_refused(self, tmp_path):
        path = wbytes(tmp_path / "r.csv", b"a,b\n1,Jos\xe9\n2,x\x81y\n")
        got, message = error_of(path)
        assert got == [{"a": "1", "b": "José"}]
        assert "is neither UTF-8 nor Windows-1252: line 3, byte 4 of the line (0x81" in message
        assert list(iter_records(path, encoding="latin-1"))[1] == {"a": "2", "b": "x\x81y"}

    def test_dos_code_page_is_not_read_as_windows_1252(self, tmp_path):
        path = wbytes(tmp_path / "r.csv", csv_text(NAMES).encode("cp850"))
        _, message = error_of(path)
        assert (
            "does not look like Windows-1252 at line 2, byte 6 of the line (0x82, offset 20 in the file)"
            in message
        )
        assert "encoding='cp850'" in message
        assert list(iter_records(path, encoding="cp850")) == records_of(NAMES)

    def test_dos_uppercase_cedilla(self, tmp_path):
        path = wbytes(tmp_path / "r.csv", csv_text(["GONÇALVES"]).encode("cp850"))
        _, message = error_of(path)
        assert "(0x80, offset" in message

    def test_jsonl_in_latin1(self, tmp_path):
        records = records_of(NAMES)
        data = "".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in records).encode("latin-1")
        path = wbytes(tmp_path / "r.jsonl", data)
        assert list(iter_records(path)) == records
        assert list(iter_records(path, encoding="latin-1")) == records

    def test_json_array_in_windows_1252(self, tmp_path):
        records = records_of(NAMES)
        path = wbytes(tmp_path / "r.json", json.dumps(records, ensure_ascii=False).encode("cp1252"))
        assert list(iter_records(path)) == records

    def test_json_array_decode_error_names_line(self, tmp_path):
        data = '[\n  {"nome": "Zé"},\n  {"nome": "'.encode() + b"Jo\xe3o" + b'"}\n]'
        path = wbytes(tmp_path / "r.json", data)
        got, message = error_of(path)
        assert got == [{"nome": "Zé"}]
        assert "is not valid UTF-8 at line 3, byte 15 of the line (0xE3" in message

    def test_a_bad_token_early_in_a_big_array_fails_at_once(self, tmp_path, monkeypatch):
        """The reader used to read (and re-copy) the rest of the file before giving up on element 0:
        memory grew with the file, time quadratically (found in review). Now it reads one chunk."""
        good = b'{"codigo":"0001","nome":"Centro de custo de exemplo"},'
        path = tmp_path / "r.json"
        with open(path, "wb") as fh:
            fh.write(b'[{"codigo": 0001},')  # a leading zero: not JSON
            fh.write(good * 200_000)  # ~10 MiB
            fh.write(good[:-1] + b"]")
        reads: list[int] = []
        original = _records._TextReader.read

        def counting_read(self: Any, size: int = -1) -> str:
            text = original(self, size)
            reads.append(len(text))
            return text

        monkeypatch.setattr(_records._TextReader, "read", counting_read)
        with pytest.raises(AhgoraConfigError, match="element 0 is not valid JSON: Expecting ',' delimiter"):
            list(iter_records(str(path)))
        assert sum(reads) <= 4 * _records._CHUNK, f"read {sum(reads)} characters to refuse element 0"

    def test_a_huge_element_is_decoded_in_linear_time(self, tmp_path, monkeypatch):
        """An element spanning many chunks: the buffer grows geometrically, so it is decoded a few
        times, not once per chunk."""
        monkeypatch.setattr(_records, "_CHUNK", 64)
        element = {"codigo": "1", "nome": "x" * 200_000}
        path = wbytes(tmp_path / "r.json", json.dumps([element, {"codigo": "2"}]).encode())
        decodes = 0
        real = _records._DECODER.raw_decode

        class Counting:
            @staticmethod
            def raw_decode(text: str, pos: int = 0) -> Any:
                nonlocal decodes
                decodes += 1
                return real(text, pos)

        monkeypatch.setattr(_records, "_DECODER", Counting)
        assert list(iter_records(path)) == [element, {"codigo": "2"}]
        assert decodes < 40, f"{decodes} decodes for one 200 KB element in 64-character chunks"

    @pytest.mark.parametrize("chunk", [1, 2, 3, 4, 5, 7, 64])
    @pytest.mark.parametrize(
        ("name", "data"),
        [
            ("r.csv", csv_text(NAMES, ";", "\r\n").encode("cp1252")),
            ("r.csv", csv_text(NAMES, ";", "\r").encode("latin-1")),
            ("r.csv", csv_text(NAMES, "|", "\r\n").encode("utf-8-sig")),
            ("r.csv", csv_text(NAMES, "\t", "\r\n").encode("utf-16")),
            ("r.csv", csv_text(NAMES).encode() + b"9;Jos\xe9\n"),
            ("r.csv", b"a;b\r\n1;x\r\n2;" + "José".encode("cp850") + b"\r\n"),
            ("r.csv", b"a;b\r\n1;Jos\xe9\r\r\n\n2;Jo\xc3\xa3o\n"),
            ("r.csv", b"a,b\r\n1,x\r\n2,y\x00\r\n"),
            ("r.csv", b"a,b\r\n1,\xe9\xc3"),
            ("r.csv", b"a,b\r\n1,\xc3"),
            (
                "r.jsonl",
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records_of(NAMES)).encode(
                    "latin-1"
                ),
            ),
            ("r.json", json.dumps(records_of(NAMES), indent=1, ensure_ascii=False).encode("cp1252")),
            ("r.json", json.dumps(records_of(NAMES), ensure_ascii=False).encode("utf-32")),
        ],
    )
    def test_every_chunk_boundary(self, tmp_path, monkeypatch, chunk, name, data):
        """Records, and the line and offset in messages, do not depend on where the chunks are cut."""
        path = wbytes(tmp_path / name, data)

        def outcome() -> tuple[list[Any], str | None]:
            got: list[Any] = []
            try:
                got.extend(iter_records(path))
            except AhgoraConfigError as exc:
                return got, str(exc)
            return got, None

        expected = outcome()
        monkeypatch.setattr(_records, "_CHUNK", chunk)
        assert outcome() == expected


# --------------------------------------------------------------------------------------------------
# Files from HR systems: delimiters and shape
# --------------------------------------------------------------------------------------------------


class TestDelimiters:
    def test_semicolon_file_for_a_route_without_a_model(self, tmp_path):
        """The issue's file: read as one column it was sent as {"matricula;dataPagamento": ...}."""
        path = write(tmp_path / "r.csv", "matricula;dataPagamento\n123;2025-05-05\n")
        assert list(iter_records(path)) == [{"matricula": "123", "dataPagamento": "2025-05-05"}]

    @pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
    def test_each_candidate_is_sniffed(self, tmp_path, delimiter):
        path = write(tmp_path / "r.csv", csv_text(NAMES, delimiter))
        assert list(iter_records(path)) == records_of(NAMES)

    def test_header_with_two_candidates_is_refused(self, tmp_path):
        path = write(tmp_path / "r.csv", "\n\nmatricula,nome;cargo\n1,2;3\n")
        got, message = error_of(path)
        assert got == []
        assert "cannot tell the delimiter: the header (line 3) has ',' and ';' outside quotes" in message
        assert "'matricula,nome;cargo'" in message
        assert "Pass delimiter=" in message
        assert list(iter_records(path, delimiter=",")) == [{"matricula": "1", "nome;cargo": "2;3"}]

    def test_tab_and_pipe_named_in_the_refusal(self, tmp_path):
        path = write(tmp_path / "r.csv", "a\tb|c\n")
        _, message = error_of(path)
        assert "has tab and '|' outside quotes" in message

    def test_candidates_inside_quotes_do_not_count(self, tmp_path):
        path = write(tmp_path / "r.csv", '"nome; completo","a|b",x\n"Silva; Zé","1|2",3\n')
        assert list(iter_records(path)) == [{"nome; completo": "Silva; Zé", "a|b": "1|2", "x": "3"}]
        path = write(tmp_path / "s.csv", '"say ""a,b""";c\n1;2\n')
        assert list(iter_records(path)) == [{'say "a,b"': "1", "c": "2"}]

    def test_no_candidate_is_one_column(self, tmp_path):
        path = write(tmp_path / "r.csv", "matricula\n123\n456\n")
        assert list(iter_records(path)) == [{"matricula": "123"}, {"matricula": "456"}]
        path = write(tmp_path / "s.csv", "matricula\n123\n4,5\n")
        _, message = error_of(path)
        assert "line 3 has more cells than the header: 2 against 1 (delimiter ',', sniffed" in message

    def test_explicit_delimiter_wins(self, tmp_path):
        path = write(tmp_path / "r.csv", "a;b\n1,2;3\n")
        assert list(iter_records(path, delimiter=";")) == [{"a": "1,2", "b": "3"}]
        _, message = error_of(path, delimiter=",")
        assert "line 2 has more cells than the header: 2 against 1 (delimiter ',')." in message
        assert "sniffed" not in message

    def test_quoted_delimiters_and_newlines(self, tmp_path):
        text = 'matricula;nome;obs\r\n1;"Silva; José";"linha 1\r\nlinha 2; ""fim"""\r\n2;Ana;\r\n'
        path = write(tmp_path / "r.csv", text)
        assert list(iter_records(path)) == [
            {"matricula": "1", "nome": "Silva; José", "obs": 'linha 1\r\nlinha 2; "fim"'},
            {"matricula": "2", "nome": "Ana"},
        ]

    def test_line_numbers_are_physical_lines(self, tmp_path):
        text = '\na;b\n1;"x\ny\nz"\n\n2;3;4\n'
        path = write(tmp_path / "r.csv", text)
        got, message = error_of(path)
        assert got == [{"a": "1", "b": "x\ny\nz"}]
        assert "the row on line 7 has more cells than the header: 3 against 2" in message
        path = write(tmp_path / "s.csv", 'a;b\n1;2\n"3\n4"\n')
        _, message = error_of(path)
        assert "the row on lines 3-4 has fewer cells than the header: 1 against 2" in message
        assert "'a;;c'" in message

    def test_unclosed_quote_is_refused(self, tmp_path):
        path = write(tmp_path / "r.csv", 'a,b\n1,2\n3,"cut\n4,5\n')
        got, message = error_of(path)
        assert got == [{"a": "1", "b": "2"}]
        assert "the row on lines 3-4 opens a quoted cell that is never closed" in message

    def test_csv_error_is_a_config_error(self, tmp_path):
        path = write(tmp_path / "r.csv", "a,b\n1,2\n" + '3,"' + "x" * 200_000 + "\n")
        got, message = error_of(path)
        assert got == [{"a": "1", "b": "2"}]
        assert "the row on line 3 is not valid CSV: field larger than field limit" in message

    def test_old_mac_line_breaks(self, tmp_path):
        path = wbytes(tmp_path / "r.csv", csv_text(NAMES, ";", "\r").encode("latin-1"))
        assert list(iter_records(path)) == records_of(NAMES)

    def test_empty_file_and_blank_lines(self, tmp_path):
        assert list(iter_records(write(tmp_path / "r.csv", ""))) == []
        assert list(iter_records(write(tmp_path / "s.csv", "\n \n"))) == []
        assert list(iter_records(write(tmp_path / "t.csv", "\na;b\n\n1;2\n\n"))) == [{"a": "1", "b": "2"}]


# --------------------------------------------------------------------------------------------------
# Memory, object storage, properties
# --------------------------------------------------------------------------------------------------


def peak_while_reading(source: Any, **options: Any) -> tuple[int, int]:
    """The records read and the peak of memory allocated while reading them (none kept)."""
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_records(source, **options))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


class TestMemory:
    ROWS = 120_000

    def test_large_latin1_csv(self, tmp_path):
        path = tmp_path / "r.csv"
        with path.open("w", encoding="latin-1", newline="") as handle:
            handle.write("matricula;nome;cargo\r\n")
            for i in range(self.ROWS):
                handle.write(f'{i};"José da Conceição {i}";Analista de Recursos Humanos Sênior\r\n')
        size = path.stat().st_size
        assert size > 7_000_000
        count, peak = peak_while_reading(str(path))
        assert count == self.ROWS
        assert peak < size / 8, f"peak {peak} bytes for a file of {size}"

    def test_large_one_line_json_array(self, tmp_path):
        path = tmp_path / "r.json"
        records = [{"matricula": str(i), "nome": f"João {i}"} for i in range(self.ROWS)]
        path.write_bytes(json.dumps(records, ensure_ascii=False).encode("utf-8"))
        del records
        size = path.stat().st_size
        count, peak = peak_while_reading(str(path))
        assert count == self.ROWS
        assert peak < size / 10, f"peak {peak} bytes for a file of {size} (one line: never split in lines)"

    def test_read_once_in_chunks(self, tmp_path, monkeypatch):
        """One pass over the bytes, a chunk at a time: no second read, no read of the whole file."""
        path = wbytes(tmp_path / "r.csv", csv_text(NAMES * 200).encode("latin-1"))
        sizes: list[int] = []
        real_open = Path.open

        class Spy:
            def __init__(self, handle: Any) -> None:
                self.handle = handle

            def read(self, size: int = -1) -> bytes:
                sizes.append(size)
                return self.handle.read(size)

            def __enter__(self) -> Spy:
                return self

            def __exit__(self, *exc: Any) -> None:
                self.handle.close()

        from airflow.providers.common.compat.sdk import ObjectStoragePath

        monkeypatch.setattr(_records, "_CHUNK", 1000)
        monkeypatch.setattr(
            ObjectStoragePath, "open", lambda self, mode="r", **kw: Spy(real_open(Path(path), mode))
        )
        assert list(iter_records(path)) == records_of(NAMES * 200)
        assert set(sizes) == {1000}
        assert len(sizes) == -(-os.path.getsize(path) // 1000) + 1, "each chunk once, then the end"


class TestObjectStorage:
    """Through ObjectStoragePath, as the operators read them: memory:// and file:// on both lines."""

    def test_memory_uri(self, memfs):
        memfs.pipe("/bucket/r.csv", csv_text(NAMES).encode("latin-1"))
        memfs.pipe(
            "/bucket/r.jsonl", "".join(json.dumps(r) + "\n" for r in records_of(NAMES)).encode("cp1252")
        )
        memfs.pipe("/bucket/r.json", json.dumps(records_of(NAMES), ensure_ascii=False).encode("utf-16"))
        memfs.pipe("/bucket/t.csv", csv_text(NAMES, "\t").encode("utf-8-sig"))
        for name in ("r.csv", "r.jsonl", "r.json", "t.csv"):
            assert list(iter_records(f"memory://bucket/{name}")) == records_of(NAMES), name
        assert list(iter_records("memory://bucket/r.csv", encoding="latin-1")) == records_of(NAMES)

    def test_memory_uri_errors_name_the_uri(self, memfs):
        memfs.pipe("/bucket/r.csv", csv_text(["José"]).encode() + b"9;Jos\xe9\n")
        _, message = error_of("memory://bucket/r.csv")
        assert message.startswith("push: records: memory://bucket/r.csv is not valid UTF-8 at line 3")

    def test_object_storage_path_object(self, memfs):
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        memfs.pipe("/bucket/r.csv", csv_text(NAMES, "|").encode("cp1252"))
        path = ObjectStoragePath("memory://bucket/r.csv")
        assert list(iter_records(path)) == records_of(NAMES)
        assert list(iter_records({"path": "memory://bucket/r.csv"})) == records_of(NAMES)

    def test_file_uri(self, tmp_path):
        wbytes(tmp_path / "r.csv", csv_text(NAMES, ";", "\r\n").encode("latin-1"))
        assert list(iter_records(f"file://{tmp_path}/r.csv")) == records_of(NAMES)
        wbytes(tmp_path / "s.csv", b"a;b\n1\n")
        _, message = error_of(f"file://{tmp_path}/s.csv")
        assert f"file://{tmp_path}/s.csv: the row on line 2 has fewer cells" in message


#: Keys a sniffed header may have: no candidate delimiter, quote or line break in them, not all blank
#: (blank lines before the header are skipped).
KEY = st.text(
    alphabet=st.characters(codec="cp1252", exclude_characters=',;\t|"\r\n\x00'), min_size=1, max_size=8
).filter(str.strip)
#: Any value Windows-1252 can hold (delimiters, quotes, line breaks included), but NUL.
VALUE = st.text(alphabet=st.characters(codec="cp1252", exclude_characters="\x00"), max_size=12)
#: What Windows-1252 text looks like to the auto mode: letters (accented too), digits, punctuation,
#: delimiters, quotes, line breaks; no sign from 0x80-0xBF (they could form a UTF-8 sequence).
TEXT_CHARS = list("abcXYZ019 .-_/'") + [chr(c) for c in range(0xC0, 0x100) if c not in (0xD7, 0xF7)]
LETTERS = st.text(alphabet=st.sampled_from([*TEXT_CHARS, *',;\t|"\r\n']), max_size=12)
LETTERS_KEY = st.text(alphabet=st.sampled_from(TEXT_CHARS), min_size=1, max_size=8).filter(str.strip)
properties = settings(
    deadline=None,
    max_examples=150,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # memfs: each example rewrites its file
)


def csv_bytes(keys: list[str], rows: list[list[str]], delimiter: str, encoding: str) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(keys)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def expected_records(keys: list[str], rows: list[list[str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in zip(keys, row, strict=True) if v != ""} for row in rows]


def told(keys: list[str], delimiter: str) -> str | None:
    """The delimiter to pass: none (sniffed), but for one column, where the header cannot tell it and
    a writer does not quote the other candidates (``,`` in a one-column ``;`` file)."""
    return delimiter if len(keys) == 1 else None


@st.composite
def tables(draw: Any, value: Any = VALUE, key: Any = KEY) -> tuple[list[str], list[list[str]]]:
    keys = draw(st.lists(key, min_size=1, max_size=4, unique=True))
    rows = draw(st.lists(st.lists(value, min_size=len(keys), max_size=len(keys)), max_size=6))
    return keys, rows


class TestProperties:
    @properties
    @given(
        table=tables(),
        delimiter=st.sampled_from(_records.CSV_DELIMITERS),
        encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
        chunk=st.sampled_from([1, 2, 3, 7, 1 << 16]),
    )
    def test_any_csv_reads_back_with_its_encoding(self, memfs, table, delimiter, encoding, chunk):
        keys, rows = table
        memfs.pipe("/p/r.csv", csv_bytes(keys, rows, delimiter, encoding))
        given_encoding = "cp1252" if encoding == "cp1252" else "auto"
        with mock.patch.object(_records, "_CHUNK", chunk):
            got = list(
                iter_records("memory://p/r.csv", encoding=given_encoding, delimiter=told(keys, delimiter))
            )
        assert got == expected_records(keys, rows)

    @properties
    @given(
        table=tables(LETTERS, LETTERS_KEY),
        delimiter=st.sampled_from(_records.CSV_DELIMITERS),
        encoding=st.sampled_from(["utf-8", "latin-1", "cp1252"]),
        chunk=st.sampled_from([1, 2, 5, 1 << 16]),
    )
    def test_auto_reads_utf8_and_windows_1252_text(self, memfs, table, delimiter, encoding, chunk):
        keys, rows = table
        memfs.pipe("/p/r.csv", csv_bytes(keys, rows, delimiter, encoding))
        with mock.patch.object(_records, "_CHUNK", chunk):
            got = list(iter_records("memory://p/r.csv", delimiter=told(keys, delimiter)))
        assert got == expected_records(keys, rows)

    @properties
    @given(
        records=st.lists(st.dictionaries(KEY, VALUE, max_size=3), max_size=5),
        encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]),
        chunk=st.sampled_from([1, 3, 1 << 16]),
    )
    def test_any_jsonl_and_json_read_back(self, memfs, records, encoding, chunk):
        memfs.pipe(
            "/p/r.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode(encoding)
        )
        memfs.pipe("/p/r.json", json.dumps(records, ensure_ascii=False).encode(encoding))
        with mock.patch.object(_records, "_CHUNK", chunk):
            assert list(iter_records("memory://p/r.jsonl")) == records
            assert list(iter_records("memory://p/r.json")) == records

    @properties
    @given(
        data=st.binary(max_size=80),
        chunk=st.sampled_from([1, 2, 3, 1 << 16]),
        encoding=st.sampled_from(["auto", "utf-8", "utf-16", "utf-32-be", "cp1252", "shift_jis", "ascii"]),
    )
    def test_any_bytes_give_records_or_a_config_error(self, memfs, data, chunk, encoding):
        """Never a raw UnicodeDecodeError, csv.Error or ValueError, whatever the bytes."""
        for name in ("r.csv", "r.jsonl", "r.json"):
            memfs.pipe(f"/p/{name}", data)
            with mock.patch.object(_records, "_CHUNK", chunk), contextlib.suppress(AhgoraConfigError):
                list(iter_records(f"memory://p/{name}", encoding=encoding))


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
