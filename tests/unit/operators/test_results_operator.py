"""PontoWebReckonResultsOperator: exactly once, streamed, committed only when complete.

`responses` stands in for PontoWeb with a small stateful fake of the results route: reading consumes
(each read returns the next records), reconsume rewinds, and faults can cut a read after the server
has consumed its page, which is what a real network does.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from typing import Any

import fsspec
import pytest
import requests
import responses
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, Asset, AssetAlias

from airflow_provider_ahgora.exceptions import AhgoraConfigError, AhgoraReadInterruptedError
from airflow_provider_ahgora.hooks.pontoweb import PontoWebHook
from airflow_provider_ahgora.operators import reckon as reckon_mod
from airflow_provider_ahgora.operators.reckon import (
    CSV_COLUMNS,
    PontoWebReckonResultsOperator,
    csv_rows,
    default_output_path,
)
from tests.conftest import PONTOWEB_BASE, SleepRecorder, alias_events, outlet_events

pytestmark = pytest.mark.filterwarnings("ignore:in a future version of UPath:PendingDeprecationWarning")

UNIQUE = "3234ca5d"
RESULTS_URL = re.compile(rf"^{re.escape(PONTOWEB_BASE)}/reckons/{UNIQUE}(\?.*)?$")
RECONSUME_URL = f"{PONTOWEB_BASE}/reckons/reconsume/{UNIQUE}"


def monthly(i: int) -> dict[str, Any]:
    return {
        "employee": f"E{i:05d}",
        "paymentDate": "2026-01-31",
        "infotype": "0015",
        "results": [
            {"name": "Horas previstas", "event": "9077", "value": "71:20", "type": "hours"},
            {"name": "Dias previstos", "event": "", "value": i, "type": "days"},
        ],
        "extra": {"kept": [1, 2.5, None]},
    }


def daily(i: int) -> dict[str, Any]:
    return {
        "employee": f"E{i:05d}",
        "paymentDate": "2026-01-31",
        "infotype": "0015",
        "daily": [
            {
                "day": "2026-01-05",
                "results": [
                    {"name": "Horas trabalhadas", "event": "9001", "value": "16,50", "type": "hours"}
                ],
                "punches": [
                    {"date": "2026-01-05", "hour": "2200", "type": "O", "label": "entrada-1"},
                    {"date": "2026-01-06", "hour": "0600", "type": "I", "label": "saida-1"},
                ],
            }
        ],
    }


class FakeResults:
    """The results of one reckon, as PontoWeb serves them: reading consumes, reconsume rewinds."""

    def __init__(
        self, records: list[dict[str, Any]], *, announce_total: bool = True, total: Any = None
    ) -> None:
        self.records = records
        #: what ``total`` announces (default: the number of records)
        self.total = total
        self.cursor = 0
        self.reads = 0
        self.reconsumes = 0
        self.events: list[str] = []
        self.announce_total = announce_total
        #: read number (1-based) -> what to do after consuming: "reset" | "503" | "malformed"
        self.faults: dict[int, str] = {}
        #: records silently consumed by "someone else" before the read of this number
        self.stolen: dict[int, int] = {}
        self.on_read: Any = None

    def install(self, rsps: Any) -> None:
        rsps.add_callback(responses.GET, RECONSUME_URL, callback=self._reconsume)
        rsps.add_callback(responses.GET, RESULTS_URL, callback=self._read)

    def _reconsume(self, request: Any) -> tuple[int, dict, str]:
        self.reconsumes += 1
        self.cursor = 0
        self.events.append("reconsume")
        return 200, {}, json.dumps({"company": "a000101", "unique": UNIQUE})

    def _read(self, request: Any) -> tuple[int, dict, str]:
        self.reads += 1
        self.events.append(f"read{self.reads}")
        if self.on_read is not None:
            self.on_read(self.reads)
        self.cursor += self.stolen.get(self.reads, 0)
        limit = int(request.params.get("limit", 1000))
        page = self.records[self.cursor : self.cursor + limit]
        self.cursor += len(page)  # consumed, whatever happens to the answer
        fault = self.faults.get(self.reads)
        if fault == "reset":
            raise requests.exceptions.ConnectionError("Connection reset by peer")
        if fault == "503":
            return 503, {}, json.dumps({"error": "Service Unavailable"})
        body: dict[str, Any] = {"company": "a000101", "unique": UNIQUE, "data": page}
        if self.announce_total:
            body["total"] = len(self.records) if self.total is None else self.total
        text = json.dumps(body)
        if fault == "malformed":
            text = text[: len(text) // 2]
        return 200, {}, text


class FakeTI:
    dag_id = "closing"
    run_id = "scheduled__2026-02-01T00:00:00+00:00"
    task_id = "results"

    def __init__(self, map_index: int = -1, try_number: int = 1) -> None:
        self.map_index = map_index
        self.try_number = try_number


@pytest.fixture
def hooks(monkeypatch, pontoweb_conn):
    def get_hook(self):
        hook = PontoWebHook(self.pontoweb_conn_id, retry_limit=2, retry_delay=0.01, retry_max_delay=0.01)
        hook.sleep = SleepRecorder()
        return hook

    monkeypatch.setattr(PontoWebReckonResultsOperator, "get_hook", get_hook)


@pytest.fixture
def memfs():
    fs = fsspec.filesystem("memory")
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
    yield fs
    fs.store.clear()


def make_op(**kwargs: Any) -> PontoWebReckonResultsOperator:
    """The operator, with ``total_reading="records"`` unless a test is about the readings of total (which
    then passes ``"any"``: the default, which reads twice when the count is ambiguous)."""
    options: dict[str, Any] = {
        "task_id": "results",
        "unique": UNIQUE,
        "page_size": 3,
        "total_reading": "records",
    }
    options.update(kwargs)
    return PontoWebReckonResultsOperator(**options)


def ctx(**kwargs: Any) -> dict[str, Any]:
    return {"ti": FakeTI(**kwargs), "run_id": FakeTI.run_id}


def read_lines(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle.read().splitlines()]


def leftovers(directory: str) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".partial"))


RECORDS = [monthly(i) for i in range(7)] + [daily(i) for i in range(3)]


# --------------------------------------------------------------------------------------------------


class TestConstruction:
    @pytest.mark.parametrize("size", [0, 1001, True, 2.5, "10"])
    def test_page_size_checked(self, size):
        with pytest.raises(AhgoraConfigError, match="page_size"):
            make_op(page_size=size)

    def test_templated_fields(self):
        assert {"unique", "output_path"} <= set(PontoWebReckonResultsOperator.template_fields)
        assert "output" not in PontoWebReckonResultsOperator.template_fields

    def test_render(self, tmp_path):
        op = make_op(unique="{{ params.u }}", output_path=str(tmp_path) + "/{{ ds_nodash }}/r.jsonl")
        op.render_template_fields({"params": {"u": UNIQUE}, "ds_nodash": "20260201"})
        assert op.unique == UNIQUE
        assert op.output_path == f"{tmp_path}/20260201/r.jsonl"


class TestHappyPath:
    def test_reconsumes_first_then_reads_every_page_once(self, hooks, tmp_path):
        fake = FakeResults(RECORDS)
        target = tmp_path / "out" / "results.jsonl"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op(output_path=str(target)).execute(ctx())
            limits = {c.request.params.get("limit") for c in rsps.calls if "reconsume" not in c.request.url}
        assert fake.events[0] == "reconsume"
        assert fake.reconsumes == 1
        assert fake.reads == 5  # 3 + 3 + 3 + 1, then the empty page that proves nothing is left
        assert limits == {"3"}
        assert result == {
            "path": str(target),
            "records": len(RECORDS),
            "csv_path": None,
            "total": len(RECORDS),
            "duplicates": 0,
            "company": "a000101",  # as the reconsume answered it
            "month": None,
        }
        assert read_lines(str(target)) == RECORDS  # exactly as received, once, in order
        assert leftovers(str(target.parent)) == []

    def test_each_line_is_the_record_as_sent(self, hooks, tmp_path):
        """The records are never decoded and encoded again: PontoWeb's own bytes (its spaces, its
        escapes, its number formats) are what the file holds, one record a line."""
        records = [{**monthly(0), "name": "Conceição", "rate": 1.50}, daily(1)]
        fake = FakeResults(records)
        target = tmp_path / "results.jsonl"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            make_op(output_path=str(target)).execute(ctx())
        sent = [json.dumps(r).encode() for r in records]  # how the fake serves them: ", " and "\u00e7"
        assert target.read_bytes() == b"".join(line + b"\n" for line in sent)

    def test_without_total_reads_until_an_empty_page(self, hooks, tmp_path, caplog, capsys):
        fake = FakeResults(RECORDS, announce_total=False)
        target = tmp_path / "results.jsonl"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op(output_path=str(target)).execute(ctx())
        assert result["records"] == len(RECORDS)
        assert fake.reads == 5  # the last one came back empty
        assert read_lines(str(target)) == RECORDS
        assert "cannot be checked" in caplog.text + capsys.readouterr().out

    def test_more_than_total_under_every_reading_is_all_kept(self, hooks, tmp_path, caplog, capsys):
        """Never stop at `total`: read until the empty page. More than announced however total is read
        (10 records, 7 employees, 3 days against 2) cannot have lost anything: kept, with a warning."""
        fake = FakeResults(RECORDS, total=2)
        target = tmp_path / "results.jsonl"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op(output_path=str(target), total_reading="any").execute(ctx())
        assert result["records"] == len(RECORDS)
        assert read_lines(str(target)) == RECORDS
        assert "more than the total" in caplog.text + capsys.readouterr().out

    def test_empty_results(self, hooks, tmp_path):
        fake = FakeResults([])
        target = tmp_path / "results.jsonl"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op(output_path=str(target), csv=True).execute(ctx())
        assert result["records"] == 0
        assert target.read_text() == ""
        assert (tmp_path / "results.csv").read_text().splitlines() == [",".join(CSV_COLUMNS)]

    def test_streams_page_by_page(self, hooks, tmp_path):
        """Each page is written before the next is requested: memory holds one page at most."""
        fake = FakeResults(RECORDS)
        target = tmp_path / "results.jsonl"
        seen: list[int] = []

        def on_read(n: int) -> None:
            partials = leftovers(str(tmp_path))
            if partials:
                with open(tmp_path / partials[0], encoding="utf-8") as handle:
                    seen.append(len(handle.read().splitlines()))

        fake.on_read = on_read
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            make_op(output_path=str(target)).execute(ctx())
        assert seen == [0, 3, 6, 9, 10]

    def test_default_path(self, hooks, monkeypatch, tmp_path):
        monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
        fake = FakeResults(RECORDS)
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op().execute(ctx())
        expected = tmp_path / "data/ahgora/closing/scheduled__2026-02-01T00_00_00_00_00/results/results.jsonl"
        assert result["path"] == str(expected)
        assert read_lines(str(expected)) == RECORDS

    def test_default_path_of_a_mapped_task(self, monkeypatch, tmp_path):
        monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
        path = default_output_path(ctx(map_index=4))
        assert path.endswith(
            os.path.join("closing", "scheduled__2026-02-01T00_00_00_00_00", "results", "4", "results.jsonl")
        )

    def test_directory_target(self, hooks, tmp_path):
        fake = FakeResults(RECORDS[:2])
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op(output_path=f"{tmp_path}/dir/").execute(ctx())
        assert result["path"] == f"{tmp_path}/dir/results.jsonl"

    def test_file_uri(self, hooks, tmp_path):
        fake = FakeResults(RECORDS)
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op(output_path=f"file://{tmp_path}/u/results.jsonl").execute(ctx())
        assert result["path"] == f"file://{tmp_path}/u/results.jsonl"
        assert read_lines(f"{tmp_path}/u/results.jsonl") == RECORDS

    def test_memory_filesystem(self, hooks, memfs):
        """A non-local target: fsspec's memory filesystem through ObjectStoragePath."""
        fake = FakeResults(RECORDS)
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op(output_path="memory://bucket/closing/results.jsonl", csv=True).execute(ctx())
        lines = memfs.cat("/bucket/closing/results.jsonl").decode("utf-8").splitlines()
        assert [json.loads(line) for line in lines] == RECORDS
        assert result["records"] == len(RECORDS)
        assert result["path"].startswith("memory://")
        assert result["csv_path"].endswith("/bucket/closing/results.csv")
        rows = list(csv.DictReader(io.StringIO(memfs.cat("/bucket/closing/results.csv").decode("utf-8"))))
        assert len(rows) == 7 * 2 + 3 * 3
        assert [p for p in memfs.find("/bucket") if p.endswith(".partial")] == []

    def test_memory_filesystem_interrupted_leaves_nothing(self, hooks, memfs):
        fake = FakeResults(RECORDS)
        fake.faults[2] = "reset"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            with pytest.raises(AhgoraReadInterruptedError):
                make_op(output_path="memory://bucket/x/results.jsonl").execute(ctx())
        assert memfs.find("/bucket") == []


class TestCsv:
    def test_csv_rows_of_each_kind(self):
        rows = list(csv_rows(monthly(1))) + list(csv_rows(daily(2)))
        assert [r["kind"] for r in rows] == ["monthly", "monthly", "daily", "punch", "punch"]
        assert rows[1] == {
            "employee": "E00001",
            "paymentDate": "2026-01-31",
            "infotype": "0015",
            "kind": "monthly",
            "event": "",
            "name": "Dias previstos",
            "value": 1,
            "type": "days",
        }
        assert rows[3]["day"] == "2026-01-05"
        assert rows[4]["date"] == "2026-01-06"  # a night shift: the punch's date is not its day
        assert rows[4]["hour"] == "0600"
        assert rows[4]["label"] == "saida-1"
        assert rows[4]["type"] == "I"

    def test_csv_file(self, hooks, tmp_path):
        fake = FakeResults(RECORDS)
        target = tmp_path / "results.jsonl"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op(output_path=str(target), csv=True).execute(ctx())
        assert result["csv_path"] == str(tmp_path / "results.csv")
        with open(tmp_path / "results.csv", encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
            rows = list(reader)
        assert len(rows) == 7 * 2 + 3 * 3
        assert rows[0]["employee"] == "E00000"
        assert rows[0]["value"] == "71:20"
        assert {r["kind"] for r in rows} == {"monthly", "daily", "punch"}
        assert leftovers(str(tmp_path)) == []

    def test_csv_name_for_other_suffixes(self, hooks, tmp_path):
        fake = FakeResults(RECORDS[:1])
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op(output_path=str(tmp_path / "out.data"), csv=True).execute(ctx())
        assert result["csv_path"] == str(tmp_path / "out.data.csv")


class TestAssetEvents:
    """Asset events for what was committed, on the task's aliases, only once committed."""

    ALIAS = AssetAlias("reckon_results")

    def test_one_event_per_file_with_the_month_the_company_and_the_counts(self, hooks, tmp_path):
        events = outlet_events()
        target = tmp_path / "2026-02-01" / "results.jsonl"
        with responses.RequestsMock() as rsps:
            FakeResults(RECORDS).install(rsps)
            op = make_op(output_path=str(target), csv=True, month="{{ params.month }}", outlets=[self.ALIAS])
            op.render_template_fields({"params": {"month": "2026-01"}})
            op.execute({**ctx(), "outlet_events": events})
        extra = {
            "month": "2026-01",
            "company": "a000101",
            "unique": UNIQUE,
            "records": len(RECORDS),
            "total": len(RECORDS),
            "duplicates": 0,
        }
        csv_path = target.with_suffix(".csv")
        assert alias_events(events, self.ALIAS) == [
            (target.as_uri(), {**extra, "path": str(target)}),
            (csv_path.as_uri(), {**extra, "path": str(csv_path)}),
        ]

    def test_a_static_asset_gets_the_extra(self, hooks, tmp_path):
        asset = Asset("s3://payroll/ahgora/results")
        events = outlet_events()
        with responses.RequestsMock() as rsps:
            FakeResults(RECORDS).install(rsps)
            make_op(output_path=str(tmp_path / "r.jsonl"), outlets=[asset]).execute(
                {**ctx(), "outlet_events": events}
            )
        assert events[asset].extra["records"] == len(RECORDS)
        assert events[asset].extra["path"] == str(tmp_path / "r.jsonl")

    def test_a_failed_try_emits_nothing(self, hooks, tmp_path):
        events = outlet_events()
        fake = FakeResults(RECORDS)
        fake.stolen = {2: 2}  # someone else consumed two records: the read is incomplete
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            with pytest.raises(AirflowException, match="went missing"):
                make_op(output_path=str(tmp_path / "r.jsonl"), outlets=[self.ALIAS]).execute(
                    {**ctx(), "outlet_events": events}
                )
        assert alias_events(events, self.ALIAS) == []
        assert not (tmp_path / "r.jsonl").exists()

    @pytest.mark.parametrize("month", ["01/2026", "2026-13", "2026-1", "january"])
    def test_month_is_year_dash_month(self, month):
        with pytest.raises(AhgoraConfigError, match="YYYY-MM"):
            make_op(month=month)
        op = make_op(month="{{ params.m }}")  # a template is checked once rendered
        op.month = month
        with pytest.raises(AirflowFailException, match="YYYY-MM"):
            op.execute(ctx())


class TestExactlyOnce:
    @pytest.mark.parametrize("fault", ["reset", "503", "malformed"])
    @pytest.mark.parametrize("read", [1, 2, 3, 4])
    def test_failure_at_any_page_then_the_retry(self, hooks, tmp_path, fault, read):
        fake = FakeResults(RECORDS)
        fake.faults[read] = fault
        target = tmp_path / "results.jsonl"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            with pytest.raises(AhgoraReadInterruptedError) as info:
                make_op(output_path=str(target), csv=True).execute(ctx())
            assert not isinstance(info.value, AirflowFailException)  # the task's retries apply
            assert not target.exists()  # no final file
            assert not (tmp_path / "results.csv").exists()
            assert leftovers(str(tmp_path)) == []  # and no temporary one either
            assert fake.reads == read  # the interrupted read was not repeated blindly

            result = make_op(output_path=str(target), csv=True).execute(ctx(try_number=2))
        assert fake.reconsumes == 2
        assert result["records"] == len(RECORDS)
        assert read_lines(str(target)) == RECORDS  # every record, once, in order

    def test_failure_keeps_an_earlier_complete_file_untouched(self, hooks, tmp_path):
        target = tmp_path / "results.jsonl"
        target.write_text('{"earlier": "run"}\n')
        fake = FakeResults(RECORDS)
        fake.faults[2] = "reset"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            with pytest.raises(AhgoraReadInterruptedError):
                make_op(output_path=str(target)).execute(ctx())
        assert target.read_text() == '{"earlier": "run"}\n'

    def test_records_consumed_by_someone_else_before_the_try(self, hooks, tmp_path):
        """A human or another task read some records: reconsume-first still gets them all."""
        fake = FakeResults(RECORDS)
        fake.cursor = 6
        target = tmp_path / "results.jsonl"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            make_op(output_path=str(target)).execute(ctx())
        assert read_lines(str(target)) == RECORDS

    def test_concurrent_reader_is_detected_and_nothing_committed(self, hooks, tmp_path):
        fake = FakeResults(RECORDS)
        fake.stolen[2] = 3  # someone consumed 3 records between our first and second reads
        target = tmp_path / "results.jsonl"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            with pytest.raises(AirflowException, match=r"read 7 records, .* announced a total of 10") as info:
                make_op(output_path=str(target)).execute(ctx())
        assert not isinstance(info.value, AirflowFailException)
        assert not target.exists()
        assert leftovers(str(tmp_path)) == []

    @pytest.mark.parametrize(
        ("records", "total", "reading"),
        [
            ([monthly(i) for i in range(5)], 5, "records and employees"),
            ([daily(i) for i in range(4)] + [monthly(i) for i in range(4)], 4, "employees and days"),
            (
                [
                    dict(
                        daily(0),
                        daily=[dict(daily(0)["daily"][0], day=f"2026-01-{d:02d}") for d in range(1, 23)],
                    )
                ],
                22,
                "days",
            ),
            ([monthly(0), daily(0), daily(1)], 3, "records"),
        ],
    )
    def test_a_complete_read_passes_under_every_documented_meaning_of_total(
        self, hooks, tmp_path, records, total, reading
    ):
        """Seed 001: total counts employees (monthly), days (daily.punches / daily.totals) or records
        (every example, the FAQ). With days, every try of a daily reckon used to fail."""
        fake = FakeResults(records, total=total)
        target = tmp_path / "results.jsonl"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op(output_path=str(target), total_reading="any").execute(ctx())
        assert result["records"] == len(records)
        assert read_lines(str(target)) == records
        # read twice when the count also fits a read that lost records under another meaning
        assert fake.reconsumes in (1, 2)

    @pytest.mark.parametrize("total", [11, 12, 40])
    def test_records_missing_under_every_reading_fail_the_try(self, hooks, tmp_path, total):
        fake = FakeResults(RECORDS, total=total)  # 10 records, 7 employees, 3 days: none is 11, 12, 40
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            with pytest.raises(AirflowException, match="matches none of them"):
                make_op(output_path=str(tmp_path / "r.jsonl"), total_reading="any").execute(ctx())
        assert not (tmp_path / "r.jsonl").exists()

    def test_less_than_total_under_one_reading_fails(self, hooks, tmp_path):
        """10 records and 7 employees against 4, but 3 days: a day may be missing under that reading."""
        fake = FakeResults(RECORDS, total=4)
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            with pytest.raises(AirflowException, match="matches none of them"):
                make_op(output_path=str(tmp_path / "r.jsonl"), total_reading="any").execute(ctx())

    def test_days_read_missing_records_still_fail(self, hooks, tmp_path):
        """total as days: a read that lost a daily record counts fewer days and fails."""
        records = [
            dict(daily(i), daily=[dict(daily(i)["daily"][0], day=f"2026-01-{d:02d}") for d in range(1, 11)])
            for i in range(5)
        ]
        fake = FakeResults(records, total=50)  # 5 employees x 10 days
        fake.stolen[2] = 1  # someone consumed one record (10 days) mid-read
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            with pytest.raises(AirflowException, match="40 days"):
                make_op(output_path=str(tmp_path / "r.jsonl"), total_reading="any").execute(ctx())

    @staticmethod
    def split_month() -> list[dict[str, Any]]:
        """Four employees, one of them with a month split in two daily records: 5 records, 4 employees."""
        records = [daily(i) for i in range(4)]
        split = daily(0)
        split["daily"][0]["day"] = "2026-01-20"
        return [*records, split]

    def test_a_count_that_fits_one_reading_and_falls_short_of_another_is_read_twice(self, hooks, tmp_path):
        """5 records and 4 employees against a total of 5: complete under the records reading, or short
        of one record under... no reading, but a read that lost one record of a split employee would
        count the same employees. A second read that writes nothing compares (found in review)."""
        fake = FakeResults(self.split_month(), total=5)
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op(output_path=str(tmp_path / "r.jsonl"), total_reading="any").execute(ctx())
        assert result["records"] == 5
        assert fake.reconsumes == 2, "the second read reconsumed first"

    def test_a_read_that_lost_a_record_of_a_split_employee_fails(self, hooks, tmp_path):
        """total counts employees (4): someone takes one record during the first read, so the 4 records
        read match 'records'... but the second read finds 5."""
        fake = FakeResults(self.split_month(), total=4)
        fake.stolen[2] = 1
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            with pytest.raises(AirflowException, match="read twice differ"):
                make_op(output_path=str(tmp_path / "r.jsonl"), total_reading="any").execute(ctx())
        assert not (tmp_path / "r.jsonl").exists()

    def test_what_total_counts_is_learnt_so_the_next_read_is_read_once(self, hooks, tmp_path, monkeypatch):
        from airflow_provider_ahgora.results import ReadingMemory
        from tests.unit.operators.conftest import FakeVariable

        FakeVariable.store = {}
        monkeypatch.setattr(ReadingMemory, "_variable", staticmethod(lambda: FakeVariable))
        first = FakeResults(self.split_month(), total=5)
        with responses.RequestsMock() as rsps:
            first.install(rsps)
            make_op(output_path=str(tmp_path / "1.jsonl"), total_reading="any").execute(ctx())
        assert first.reconsumes == 2
        [(key, value)] = FakeVariable.store.items()
        assert key.startswith("ahgora_total_reading__")
        learnt = json.loads(value)["readings"]
        assert "records" in learnt
        assert "employees" not in learnt  # 4 employees against a total of 5: not what total counts
        second = FakeResults(self.split_month(), total=5)
        with responses.RequestsMock() as rsps:
            second.install(rsps)
            make_op(output_path=str(tmp_path / "2.jsonl"), total_reading="any").execute(ctx())
        assert second.reconsumes == 1, "learnt: read once"
        # a read that lost records no longer fits what was learnt: checked the full way, and failed
        lossy = FakeResults(self.split_month(), total=5)
        lossy.stolen[2] = 1
        with responses.RequestsMock() as rsps:
            lossy.install(rsps)
            with pytest.raises(AirflowException):
                make_op(output_path=str(tmp_path / "3.jsonl"), total_reading="any").execute(ctx())

    def test_a_pinned_reading_is_not_read_twice(self, hooks, tmp_path):
        fake = FakeResults(self.split_month(), total=5)
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            make_op(output_path=str(tmp_path / "r.jsonl"), total_reading="records").execute(ctx())
        assert fake.reconsumes == 1

    def test_a_record_served_twice_is_committed_once(self, hooks, tmp_path, caplog, capsys):
        """Someone reconsumed while this try was reading: the server starts over, and the records already
        read come again. Each is written once, and the count checks out (it used to commit 9 lines for
        5 employees, with a warning)."""
        records = [monthly(i) for i in range(5)]
        fake = FakeResults(records)

        def someone_reconsumes(read: int) -> None:
            if read == 2:
                fake.cursor = 0

        fake.on_read = someone_reconsumes
        target = tmp_path / "results.jsonl"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            result = make_op(output_path=str(target), total_reading="any").execute(ctx())
        assert read_lines(str(target)) == records
        assert (result["records"], result["duplicates"]) == (5, 3)
        assert "served twice" in caplog.text + "".join(capsys.readouterr())

    @pytest.mark.parametrize("reading", ["records", "employees"])
    def test_a_pinned_reading_is_the_only_one_accepted(self, hooks, tmp_path, reading):
        records = [monthly(i) for i in range(3)] + [monthly(i) for i in range(3, 5)]
        fake = FakeResults(records, total=5)
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            assert (
                make_op(output_path=str(tmp_path / "r.jsonl"), total_reading=reading).execute(ctx())[
                    "records"
                ]
                == 5
            )
        fake = FakeResults([daily(i) for i in range(3)], total=3)  # 3 records = 3 employees = 3 days
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            make_op(output_path=str(tmp_path / "d.jsonl"), total_reading="days").execute(ctx())

    def test_total_reading_is_checked(self):
        with pytest.raises(AhgoraConfigError, match="total_reading"):
            make_op(total_reading="lines")

    def test_numbers_stay_numbers_in_the_file(self, hooks, tmp_path):
        """The file is the records as received: a punch hour sent as the number 30 stays 30 (the model
        used to turn it into the string "30", which the transforms refuse as ambiguous)."""
        record = daily(0)
        record["daily"][0]["punches"][0]["hour"] = 30
        record["daily"][0]["results"][0]["value"] = 16.5
        fake = FakeResults([record])
        target = tmp_path / "results.jsonl"
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            make_op(output_path=str(target)).execute(ctx())
        [line] = read_lines(str(target))
        assert line["daily"][0]["punches"][0]["hour"] == 30
        assert line["daily"][0]["results"][0]["value"] == 16.5

    def test_leftovers_of_killed_tries_are_removed_on_success(self, hooks, tmp_path):
        (tmp_path / ".results.jsonl.1-deadbeef.partial").write_text("half")
        (tmp_path / ".results.csv.1-deadbeef.partial").write_text("half")
        (tmp_path / "unrelated.partial").write_text("keep")
        fake = FakeResults(RECORDS)
        with responses.RequestsMock() as rsps:
            fake.install(rsps)
            make_op(output_path=str(tmp_path / "results.jsonl"), csv=True).execute(ctx(try_number=2))
        assert leftovers(str(tmp_path)) == ["unrelated.partial"]


class TestDeadEnds:
    @pytest.mark.parametrize(
        ("where", "status", "body", "match"),
        [
            ("reconsume", 410, {"error": "The results expired"}, "expired"),
            ("reconsume", 400, {"error": "Process not found"}, "does not know"),
            ("read", 410, {"error": "The results expired"}, "expired"),
            ("read", 400, {"error": "Process not found"}, "does not know"),
            (
                "reconsume",
                400,
                {"error": "The reconsume limit of 1000 has been reached"},
                "refused to reconsume",
            ),
        ],
    )
    def test_fail_at_once(self, hooks, tmp_path, where, status, body, match):
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            if where == "reconsume":
                rsps.get(RECONSUME_URL, status=status, json=body)
            else:
                rsps.get(RECONSUME_URL, json={"company": "a000101", "unique": UNIQUE})
                rsps.get(RESULTS_URL, status=status, json=body)
            with pytest.raises(AirflowFailException, match=match) as info:
                make_op(output_path=str(tmp_path / "results.jsonl")).execute(ctx())
        assert "start a new reckon" in str(info.value)
        assert os.listdir(tmp_path) == []

    def test_still_processing_is_retryable(self, hooks, tmp_path):
        with responses.RequestsMock() as rsps:
            rsps.get(RECONSUME_URL, json={"company": "a000101", "unique": UNIQUE})
            rsps.get(RESULTS_URL, status=400, json={"error": "The reckon is still processing: wait"})
            with pytest.raises(AirflowException) as info:
                make_op(output_path=str(tmp_path / "results.jsonl")).execute(ctx())
        assert not isinstance(info.value, AirflowFailException)

    @pytest.mark.parametrize("unique", ["", None, "  "])
    def test_empty_unique(self, hooks, unique):
        with pytest.raises(AirflowFailException, match="unique is empty"):
            make_op(unique=unique).execute(ctx())


def test_module_exports():
    assert set(reckon_mod.__all__) >= {
        "PontoWebReckonOperator",
        "PontoWebReckonResultsOperator",
        "PontoWebReconsumeOperator",
    }
