"""CSV import/export: validation, duplicates, broken encodings, formula cells, a report with line numbers."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from test_mailer_support import make_settings, open_test_store

from mailer.csv_io import CsvReport, neutralise, parse_csv
from mailer.subscribers import export_csv, import_csv
from responsemaster.addresses import InvalidAddress, validate_address
from responsemaster.cli.mailer_cmd import mailer


@pytest.mark.parametrize("cell, expected", [
    ("a@example.com", "a@example.com"),
    ("  Ann <Ann.Lee@Example.COM> ", "Ann.Lee@example.com"),
    ("o'brien+news@example.co.uk", "o'brien+news@example.co.uk"),
    ("user@bücher.example", "user@xn--bcher-kva.example"),
])
def test_valid_addresses(cell, expected):
    assert validate_address(cell) == expected


@pytest.mark.parametrize("cell", [
    "", "plainaddress", "@example.com", "a@", "a@localhost", "a..b@example.com", ".a@example.com",
    "a@-example.com", "a@example..com", "a b@example.com", "a@example.com, b@example.com",
    "a@example.com\nBcc: x@evil.example", "x" * 65 + "@example.com", "a@1.2.3.4", '"quoted"@example.com',
])
def test_invalid_addresses(cell):
    with pytest.raises(InvalidAddress):
        validate_address(cell)


def _parse(data: bytes):
    report = CsvReport()
    rows = list(parse_csv(data, report))
    return rows, report


def test_report_lists_rejected_rows_with_line_numbers_and_duplicates():
    data = (b"Email,Name,First Name\r\n"
            b"ann@example.com,Ann,Ann\r\n"
            b"not-an-address,Bob,Bob\r\n"
            b"\r\n"
            b"ANN@example.com,Ann again,Ann\r\n"
            b'"multi@example.com","Line\nbreak",M\r\n'
            b"cat@example.com,Cat,Cat,extra\r\n"
            b"dan@example.com,Dan,Dan\r\n")
    rows, report = _parse(data)
    assert [r.address for r in rows] == ["ann@example.com", "multi@example.com", "dan@example.com"]
    assert rows[0].fields == {"first_name": "Ann"} and rows[1].name == "Line break"
    assert [(r.line, r.reason.split(":")[0]) for r in report.rejected] == [
        (3, "not an address"), (5, "duplicate of line 2"), (8, "4 cells, header has 3")]
    assert report.rows == 6 and report.valid == 3 and report.duplicates == 1
    assert rows[2].line == 9


def test_encodings_utf8_bom_cp1252_latin1():
    utf8 = "\ufeffemail;name\nzoe@example.com;Zoë\n".encode("utf-8")
    rows, report = _parse(utf8)
    assert rows[0].name == "Zoë" and report.encoding == "utf-8" and not report.encoding_note
    cp1252 = "email,name\nrene@example.com,René “Quote”\n".encode("cp1252")
    rows, report = _parse(cp1252)
    assert rows[0].name == "René “Quote”" and report.encoding == "cp1252" and "not valid UTF-8" in report.encoding_note
    latin1 = b"email,name\nx@example.com,caf\xe9 \x81\n"  # 0x81 is undefined in cp1252
    rows, report = _parse(latin1)
    assert report.encoding == "latin-1" and rows[0].name.startswith("café")


def test_file_without_address_column_is_refused():
    with pytest.raises(ValueError, match="no address column"):
        _parse(b"name,city\nAnn,Paris\n")


def test_formula_cells_are_neutralised_on_export(tmp_path):
    assert [neutralise(v) for v in ("=1+1", "+x", "-2", "@SUM(A1)", "\tx", "\rx", "ok", "a=b")] == [
        "'=1+1", "'+x", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "ok", "a=b"]
    store = open_test_store(make_settings(tmp_path))
    data = b'email,name,note\nevil@example.com,"=HYPERLINK(""http://x"",""y"")",@cmd\n'
    import_csv(store, data, "news")
    out = io.StringIO()
    assert export_csv(store, "news", out, ["note"]) == 1
    line = out.getvalue().splitlines()[1]
    assert line.startswith("evil@example.com,\"'=HYPERLINK(") and line.endswith(",'@cmd")


def test_adding_one_subscriber_keeps_what_was_typed(tmp_path):
    """``mailer add`` goes through the import path; the export writer's ``'`` must not reach the stored row."""
    from sqlalchemy import select

    from mailer.subscribers import add_subscriber
    from responsemaster.store.subscribers import Subscriber

    store = open_test_store(make_settings(tmp_path))
    for address, name in (("-ann@example.org", "Ann"), ("bob@example.org", "=Bob"), ("+c@example.org", "Smith, J")):
        assert add_subscriber(store, "news", address, name).created == 1
    with store.reader() as session:
        rows = {(s.address, s.name) for s in session.execute(select(Subscriber)).scalars()}
    assert rows == {("-ann@example.org", "Ann"), ("bob@example.org", "=Bob"), ("+c@example.org", "Smith, J")}


def test_import_is_idempotent_and_never_reactivates(tmp_path):
    settings = make_settings(tmp_path)
    store = open_test_store(settings)
    data = b"email,name\na@example.com,A\nb@example.com,B\n"
    first = import_csv(store, data, "news")
    assert (first.created, first.added_to_list) == (2, 2)
    second = import_csv(store, data, "news")
    assert (second.created, second.existing, second.added_to_list) == (0, 2, 0)


def test_cli_import_prints_the_report(tmp_path, monkeypatch):
    settings_path = tmp_path / "responsemaster.toml"
    make_settings(tmp_path)
    csv_file = tmp_path / "subs.csv"
    csv_file.write_bytes("email,name\nok@example.com,Ok\nbad@,Bad\n".encode("cp1252"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(mailer, ["import", str(csv_file), "--list", "news", "--config", str(settings_path)])
    assert result.exit_code == 0, result.output
    assert "rows: 2, valid: 1, rejected: 1" in result.output
    assert "line 3: " in result.output
