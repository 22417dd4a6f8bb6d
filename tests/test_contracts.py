"""Contract rules, one hand-made bad row each, and file-level problems with their messages."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path

import duckdb
import pytest

from core.collection import FileProblem, MissingSource, collect_partition
from core.collection.contracts import ContractError, load_contract, load_contracts
from tests.conftest import CONTRACTS, PROJECT_ROOT

DAY = dt.date(2026, 2, 10)

CONTRACT = """
source: shipments
optional: true
key: [shipment_id]
event_time: shipped_at
allowed_lateness_days: 2
columns:
  - {name: shipment_id, type: string, required: true, pattern: '^S\\d+$'}
  - {name: shipped_at, type: timestamp, required: true}
  - {name: carrier, type: string, allowed: [sf, jd, ems]}
  - {name: parcels, type: integer, min: 1, max: 50}
  - {name: weight_kg, type: decimal, scale: 3, min: 0}
  - {name: insured, type: boolean}
  - {name: ship_date, type: date}
mapping:
  file_glob: "{date}*.csv"
  timestamp_formats: ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]
"""

HEADER = "shipment_id,shipped_at,carrier,parcels,weight_kg,insured,ship_date"
GOOD = "S1,2026-02-10 08:00:00,sf,2,1.250,true,2026-02-10"

# (line, expected quarantine reason)
BAD_ROWS = [
    (",2026-02-10 08:00:00,sf,2,1.0,true,2026-02-10", "missing_required:shipment_id"),
    ("S3,,sf,2,1.0,true,2026-02-10", "missing_required:shipped_at"),
    ("S4,10/02/2026 08:00,sf,2,1.0,true,2026-02-10", "invalid_timestamp:shipped_at"),
    ("S5,2026-02-10 08:00:00,ups,2,1.0,true,2026-02-10", "not_allowed:carrier"),
    ("S6,2026-02-10 08:00:00,sf,two,1.0,true,2026-02-10", "invalid_integer:parcels"),
    ("S7,2026-02-10 08:00:00,sf,0,1.0,true,2026-02-10", "out_of_range:parcels"),
    ("S8,2026-02-10 08:00:00,sf,51,1.0,true,2026-02-10", "out_of_range:parcels"),
    ("S9,2026-02-10 08:00:00,sf,2,heavy,true,2026-02-10", "invalid_decimal:weight_kg"),
    ("S10,2026-02-10 08:00:00,sf,2,-0.5,true,2026-02-10", "out_of_range:weight_kg"),
    ("S11,2026-02-10 08:00:00,sf,2,1.0,perhaps,2026-02-10", "invalid_boolean:insured"),
    ("S12,2026-02-10 08:00:00,sf,2,1.0,true,10.02.2026", "invalid_timestamp:ship_date"),
    ("X13,2026-02-10 08:00:00,sf,2,1.0,true,2026-02-10", "pattern:shipment_id"),
    ("S14,2026-02-07 23:59:59,sf,2,1.0,true,2026-02-10", "outside_window:shipped_at"),
    ("S15,2026-02-11 00:00:00,sf,2,1.0,true,2026-02-10", "outside_window:shipped_at"),
    ("S16,2026-02-10 08:00:00,sf", "malformed"),
    ("S17,2026-02-10 08:00:00,sf,2,1.0,true,2026-02-10,surplus", "malformed"),
    (GOOD, "duplicate"),
]


@pytest.fixture()
def shipments(tmp_path) -> tuple:
    path = tmp_path / "shipments.yaml"
    path.write_text(CONTRACT)
    contract = load_contract(path)
    landing = tmp_path / "landing"
    (landing / "shipments").mkdir(parents=True)
    return contract, landing, tmp_path / "lake"


def _write(landing: Path, text: str | bytes, name: str = f"{DAY}.csv") -> Path:
    path = landing / "shipments" / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _quarantine(lake: Path) -> list[tuple]:
    path = lake / "quarantine" / "shipments" / f"dt={DAY}" / "part-0.parquet"
    return duckdb.sql(f"select raw_record, line_number, reason, duplicate_of_record from '{path}'").fetchall()


def test_each_rule_quarantines_its_row_with_its_reason(shipments):
    contract, landing, lake = shipments
    lines = [HEADER, GOOD, "S2,2026-02-09T23:30:00+08:00,jd,,,,", *[line for line, _ in BAD_ROWS]]
    _write(landing, "\n".join(lines) + "\n")
    result = collect_partition(contract, DAY, landing, lake)

    got = {}
    for raw, line_number, reason, duplicate_of in _quarantine(lake):
        got.setdefault(raw, []).append(reason)
        if reason == "duplicate":
            assert duplicate_of == 1, "a duplicate points at the row it repeats"
        if reason == "malformed":
            assert line_number is not None
    for line, reason in BAD_ROWS:
        assert reason in got[line], f"{line!r}: expected {reason}, got {got.get(line)}"
    assert result.rows_read == len(lines) - 1
    assert result.rows_loaded == 2
    assert result.rows_quarantined == len(BAD_ROWS)

    rows = duckdb.sql(
        f"select shipment_id, shipped_at, parcels, weight_kg, insured "
        f"from '{lake}/raw/shipments/*/*.parquet' order by 1"
    ).fetchall()
    assert rows[0] == ("S1", dt.datetime(2026, 2, 10, 8, 0), 2, pytest.approx(1.25), True)
    # +08:00 is converted to UTC; empty optional fields are null.
    assert rows[1] == ("S2", dt.datetime(2026, 2, 9, 15, 30), None, None, None)


def test_null_tokens_value_codes_and_timezone_from_a_mapping(shipments, tmp_path):
    contract, landing, lake = shipments
    mapping = tmp_path / "mappings" / "shipments.yaml"
    mapping.parent.mkdir()
    mapping.write_text(
        textwrap.dedent("""
        mapping:
          delimiter: "|"
          null_tokens: ["", "n/a"]
          timezone: Asia/Shanghai
          timestamp_formats: ["%d.%m.%Y %H:%M"]
          columns: {shipment_id: id, shipped_at: ts}
          values: {carrier: {SF-EXPRESS: sf}}
    """)
    )
    contract = load_contract(contract.path, mapping)
    _write(landing, "id|ts|carrier|parcels\nS1|10.02.2026 09:00|SF-EXPRESS|n/a\n")
    collect_partition(contract, DAY, landing, lake)
    row = duckdb.sql(
        f"select shipment_id, shipped_at, carrier, parcels, weight_kg from '{lake}/raw/shipments/*/*.parquet'"
    ).fetchall()[0]
    assert row == ("S1", dt.datetime(2026, 2, 10, 1, 0), "sf", None, None)


@pytest.mark.parametrize(
    "content, problem, fix",
    [
        (b"", "empty (0 bytes)", "re-export"),
        ((HEADER + "\n" + GOOD).encode(), "truncated", "re-export"),
        (
            (HEADER.replace(",", ";") + "\n" + GOOD.replace(",", ";") + "\n").encode(),
            "looks ';'-delimited",
            "mapping.delimiter",
        ),
        (b"shipment_id,carrier\nS1,sf\n", "required column(s) ['shipped_at'] are missing", "mapping.columns"),
        (
            (HEADER + "\n" + GOOD + "\n").encode() + b"S2,2026-02-10 08:00:00,\xff\xfe,1,1.0,true,2026-02-10\n",
            "not valid utf-8",
            "mapping.encoding",
        ),
    ],
    ids=["empty", "truncated", "wrong-delimiter", "missing-required-column", "undecodable-bytes"],
)
def test_file_level_problems_fail_the_partition_and_keep_what_was_there(shipments, content, problem, fix):
    contract, landing, lake = shipments
    _write(landing, HEADER + "\n" + GOOD + "\n")
    collect_partition(contract, DAY, landing, lake)
    before = (lake / "raw" / "shipments" / f"dt={DAY}" / "part-0.parquet").read_bytes()

    path = _write(landing, content)
    with pytest.raises(FileProblem) as info:
        collect_partition(contract, DAY, landing, lake)
    message = str(info.value)
    assert str(path) in message and problem in message and fix in message
    after = (lake / "raw" / "shipments" / f"dt={DAY}" / "part-0.parquet").read_bytes()
    assert after == before, "the previous partition is untouched"


def test_declared_encoding_is_decoded_and_wrong_encoding_reported(shipments, tmp_path):
    contract, landing, lake = shipments
    mapping = tmp_path / "m" / "shipments.yaml"
    mapping.parent.mkdir()
    mapping.write_text("mapping:\n  encoding: gbk\n")
    gbk = load_contract(contract.path, mapping)
    _write(landing, (HEADER + "\nS1,2026-02-10 08:00:00,sf,2,1.0,true,2026-02-10\n").encode("gbk"))
    assert collect_partition(gbk, DAY, landing, lake).rows_loaded == 1
    _write(landing, HEADER.encode() + b"\nS1,2026-02-10 08:00:00,\x80\xff,2,1.0,true,2026-02-10\n")
    with pytest.raises(FileProblem, match="cannot be decoded as gbk"):
        collect_partition(gbk, DAY, landing, lake)


def test_missing_required_source_and_missing_optional_source(contracts, tmp_path):
    with pytest.raises(MissingSource, match=r"no orders export for 2026-02-10: expected a file matching"):
        collect_partition(contracts["orders"], DAY, tmp_path / "landing", tmp_path / "lake")
    result = collect_partition(contracts["nps_surveys"], DAY, tmp_path / "landing", tmp_path / "lake")
    assert (result.rows_read, result.rows_loaded) == (0, 0)
    columns = duckdb.sql(f"describe select * from '{result.raw_path}'").fetchall()
    assert [c[0] for c in columns][:5] == ["response_id", "customer_id", "responded_at", "score", "comment"]


def test_jsonl_malformed_lines_and_non_objects_are_quarantined(contracts, tmp_path):
    landing = tmp_path / "landing"
    (landing / "events").mkdir(parents=True)
    good = (
        '{"event_id": "E1", "event_at": "2026-02-10 10:00:00", "event_type": "page_view", '
        '"session_id": "S1", "scene": "content"}'
    )
    (landing / "events" / f"{DAY}.jsonl").write_text(
        "\n".join([good, '{"event_id": "E2", "event_at": "2026', "[1, 2]", "", good]) + "\n"
    )
    result = collect_partition(contracts["events"], DAY, landing, tmp_path / "lake")
    assert (result.rows_read, result.rows_loaded) == (4, 1)
    assert result.reasons == {"malformed": 2, "duplicate": 1}


def test_jsonl_values_are_taken_as_text_trimmed_and_null_tokens_cleared(contracts, tmp_path):
    landing = tmp_path / "landing"
    (landing / "events").mkdir(parents=True)
    lines = [
        # a number and a nested object for string columns arrive as their JSON text; padding is
        # trimmed; a null token and JSON null are both missing; a key differing in case is absent
        '  {"event_id": 17, "event_at": "2026-02-10 10:00:00", "event_type": " page_view ", '
        '"session_id": {"k": 1}, "scene": "content", "customer_id": "NULL", "channel": null, "Platform": "app"}',
        "   ",
        '{"event_id": "E2", "event_at": "2026-02-10 11:00:00", "event_type": "page_view", '
        '"session_id": "N/A", "scene": "content"}',
        '{"event_id": "E3"} {"event_id": "E4"}',
    ]
    (landing / "events" / f"{DAY}.jsonl").write_text("\n".join(lines) + "\n")
    result = collect_partition(contracts["events"], DAY, landing, tmp_path / "lake")
    assert (result.rows_read, result.rows_loaded) == (3, 1)
    assert result.reasons == {"malformed": 1, "missing_required:session_id": 1}
    row = duckdb.sql(
        f"select event_id, event_type, session_id, customer_id, channel, platform, _record_number "
        f"from '{result.raw_path}'"
    ).fetchall()
    assert row == [("17", "page_view", '{"k":1}', None, None, None, 1)]
    quarantined = duckdb.sql(
        f"select record_number, reason, raw_record from '{result.quarantine_path}' order by record_number"
    ).fetchall()
    assert [(n, r) for n, r, _ in quarantined] == [(2, "missing_required:session_id"), (3, "malformed")]
    assert quarantined[1][2] == lines[3]


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("source: x\nkey: [a]\ncolumns:\n  - {name: a, type: text}\n", "type 'text' is not one of"),
        ("source: x\nkey: [b]\ncolumns:\n  - {name: a, type: string}\n", "key column 'b' is not among"),
        ("source: x\nkey: [a]\ncolumns:\n  - {name: a, type: string, min: 1}\n", "'min' only applies"),
        ("source: x\nkey: [a]\ncolumns:\n  - {name: a, type: string}\n", "key column 'a' must be required"),
        (
            "source: x\nkey: [a]\ncolumns:\n  - {name: a, type: string, required: true}\nmapping: {delimiter: ';;'}\n",
            "mapping.delimiter: must be one character",
        ),
        (
            "source: x\nkey: [a]\ncolumns:\n  - {name: a, type: string, required: true}\nmapping: {timezone: Mars/Base}\n",
            "unknown timezone 'Mars/Base'",
        ),
        (
            "source: x\nkey: [a]\ncolumns:\n  - {name: a, type: string, required: true}\nmapping: {columns: {zz: y}}\n",
            "unknown contract column(s) ['zz']",
        ),
    ],
)
def test_invalid_contracts_are_reported_with_file_and_field(tmp_path, yaml_text, message):
    path = tmp_path / "x.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ContractError) as info:
        load_contract(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_every_shipped_contract_loads_and_only_orders_is_required():
    contracts = load_contracts(CONTRACTS)
    assert set(contracts) == {
        "orders",
        "users",
        "events",
        "marketing_spend",
        "products",
        "inventory",
        "nps_surveys",
        "support_tickets",
        "experiments",
    }
    assert [s for s, c in contracts.items() if not c.optional] == ["orders"]
    for c in contracts.values():
        assert all(col.description for col in c.columns), c.source


def test_orders_only_worked_example(tmp_path):
    example = PROJECT_ROOT / "examples" / "orders_only"
    contract = load_contracts(CONTRACTS, example / "mappings")["orders"]
    result = collect_partition(contract, dt.date(2026, 1, 5), example / "landing", tmp_path / "lake")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (8, 5, 3)
    assert result.reasons == {"duplicate": 1, "invalid_integer:quantity": 1, "not_allowed:status": 1}
    rows = dict(
        duckdb.sql(
            f"select order_line_id, (ordered_at, status, quantity, customer_id) from '{result.raw_path}'"
        ).fetchall()
    )
    assert rows["A-1001-1"] == (dt.datetime(2026, 1, 5, 1, 30), "completed", 2, "VIP0001")  # 09:30 Shanghai
    assert rows["A-0990-1R"][1:3] == ("returned", -1)
    assert rows["A-1002-1"][3] is None  # guest checkout


# (parcels, weight_kg) as written in the export -> the reason it is quarantined, or the typed values loaded
NUMBER_FORMS = [
    ("2", "1.25", (2, 1.25)),
    ("2.0", "1.250000", (2, 1.25)),  # integral float and trailing zeros hold the value exactly
    ("+3", ".5", (3, 0.5)),
    ("1.5", "1.0", "inexact_integer:parcels"),
    ("0x10", "1.0", "invalid_integer:parcels"),
    ("1e1", "1.0", "invalid_integer:parcels"),
    ("1_0", "1.0", "invalid_integer:parcels"),
    ("99999999999999999999", "1.0", "inexact_integer:parcels"),
    ("2", "0.0004", "decimal_scale:weight_kg"),
    ("2", "12.3456", "decimal_scale:weight_kg"),
    ("2", "1e3", "invalid_decimal:weight_kg"),
    ("2", "1_000", "invalid_decimal:weight_kg"),
    ("2", "0x10", "invalid_decimal:weight_kg"),
]


@pytest.mark.parametrize("parcels,weight,expected", NUMBER_FORMS)
def test_numbers_load_exactly_or_are_quarantined_with_their_reason(shipments, parcels, weight, expected):
    contract, landing, lake = shipments
    _write(landing, f"{HEADER}\nS1,2026-02-10 08:00:00,sf,{parcels},{weight},true,2026-02-10\n")
    result = collect_partition(contract, DAY, landing, lake)
    assert result.rows_read == 1 == result.rows_loaded + result.rows_quarantined
    if isinstance(expected, str):
        assert [reason for _, _, reason, _ in _quarantine(lake)] == [expected]
    else:
        rows = duckdb.sql(f"select parcels, weight_kg from '{lake}/raw/shipments/*/*.parquet'").fetchall()
        assert [(r[0], float(r[1])) for r in rows] == [expected]


def test_a_mapping_declares_the_exports_decimal_places_and_ranges(shipments, tmp_path):
    contract, landing, lake = shipments
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("mapping:\n  scale: {weight_kg: 4}\n  ranges: {parcels: {min: 1, max: 5000}}\n")
    wider = load_contract(contract.path, mapping)
    assert wider.column("weight_kg").sql_type == "DECIMAL(18,4)"
    _write(landing, f"{HEADER}\nS1,2026-02-10 08:00:00,sf,4000,12.3456,true,2026-02-10\n")
    assert collect_partition(wider, DAY, landing, lake).rows_loaded == 1
    loaded = duckdb.sql(f"select parcels, weight_kg::varchar from '{lake}/raw/shipments/*/*.parquet'").fetchall()
    assert loaded == [(4000, "12.3456")], "four decimal places kept, not rounded to the contract's three"
    assert collect_partition(contract, DAY, landing, lake).reasons == {"out_of_range:parcels": 1}


@pytest.mark.parametrize(
    "mapping_text,message",
    [
        ("mapping:\n  scale: {carrier: 2}\n", "only decimal columns have a scale"),
        ("mapping:\n  scale: {weight_kg: 40}\n", "mapping.scale.weight_kg"),
        ("mapping:\n  ranges: {parcels: {least: 1}}\n", "mapping.ranges.parcels"),
        ("mapping:\n  ranges: {nothing: {min: 1}}\n", "unknown contract column(s) ['nothing']"),
    ],
)
def test_invalid_scale_or_range_mappings_name_the_field(shipments, tmp_path, mapping_text, message):
    contract, _, _ = shipments
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(mapping_text)
    with pytest.raises(ContractError, match=re.escape(message)):
        load_contract(contract.path, mapping)


def test_ids_written_as_integral_floats_are_the_integer(contracts, tmp_path):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    (landing / "orders").mkdir(parents=True)
    header = "order_line_id,order_id,customer_id,ordered_at,recorded_at,status,product_id,quantity,unit_price"
    rows = [
        "1.0,536365.0,17850.0,2026-01-10 08:00:00,2026-01-10 08:00:00,completed,P1,1,2.55",
        "2,536366,17850.00,2026-01-10 08:00:00,2026-01-10 08:00:00,completed,P1,1,2.55",
        "3,536367,00123,2026-01-10 08:00:00,2026-01-10 08:00:00,completed,P1.5,1,2.55",
        "4,536368,1.5,2026-01-10 08:00:00,2026-01-10 08:00:00,completed,P1,1,2.55",
    ]
    (landing / "orders" / "2026-01-10.csv").write_text("\n".join([header, *rows]) + "\n")
    collect_partition(contracts["orders"], dt.date(2026, 1, 10), landing, lake)
    got = duckdb.sql(
        f"select order_line_id, order_id, customer_id, product_id from '{lake}/raw/orders/*/*.parquet' "
        "order by order_line_id"
    ).fetchall()
    assert got == [
        ("1", "536365", "17850", "P1"),
        ("2", "536366", "17850", "P1"),
        ("3", "536367", "00123", "P1.5"),
        ("4", "536368", "1.5", "P1"),
    ]


def test_a_retail_export_needs_only_its_mapping(tmp_path):
    """No line id, no status, float customer ids, wholesale quantities, three-decimal prices."""
    example = PROJECT_ROOT / "examples" / "retail_export"
    contracts = load_contracts(CONTRACTS, example / "mappings")
    lake = tmp_path / "lake"
    result = collect_partition(contracts["orders"], dt.date(2026, 1, 10), example / "landing", lake)
    assert (result.rows_read, result.rows_loaded, result.reasons) == (7, 7, {})
    rows = duckdb.sql(
        f"select order_line_id, order_id, customer_id, status, quantity, unit_price::varchar "
        f"from '{lake}/raw/orders/*/*.parquet' order by _record_number"
    ).fetchall()
    assert rows == [
        ("2026-01-10.csv:1", "536365", "17850", "completed", 6, "2.550"),
        ("2026-01-10.csv:2", "536365", "17850", "completed", 6, "3.390"),
        ("2026-01-10.csv:3", "536366", "13047", "completed", 12000, "0.125"),
        ("2026-01-10.csv:4", "536367", None, "completed", 32, "1.690"),
        ("2026-01-10.csv:5", "C536379", "14527", "cancelled", -1, "27.500"),
        ("2026-01-10.csv:6", "536380", "13047", "returned", -2, "2.100"),
        ("2026-01-10.csv:7", "536381", "12583", "returned", -1, "2.100"),
    ]
    again = collect_partition(contracts["orders"], dt.date(2026, 1, 10), example / "landing", tmp_path / "lake2")
    assert again.rows_loaded == 7, "derived line ids are the same on a re-run"


@pytest.mark.parametrize(
    "mapping_text,message",
    [
        ("mapping:\n  derived_keys: {order_line_id: random}\n", "mapping.derived_keys.order_line_id"),
        ("mapping:\n  cancelled_when: {order_id: '(['}\n", "mapping.cancelled_when.order_id"),
        ("mapping:\n  returns: guess\n", "'negative_quantity', 'status' or 'sign'"),
    ],
)
def test_invalid_derivations_name_the_field(tmp_path, mapping_text, message):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "orders.yaml").write_text(mapping_text)
    with pytest.raises(ContractError, match=re.escape(message)):
        load_contracts(CONTRACTS, mappings)


def test_a_line_id_hashed_from_chosen_columns_finds_repeated_lines(tmp_path):
    example = PROJECT_ROOT / "examples" / "retail_export"
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    text = (example / "mappings" / "orders.yaml").read_text()
    (mappings / "orders.yaml").write_text(
        text.replace(
            "derived_keys: {order_line_id: record}", "derived_keys: {order_line_id: {hash: [InvoiceNo, StockCode]}}"
        )
    )
    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    export = (example / "landing" / "orders" / "2026-01-10.csv").read_text().splitlines()
    (landing / "orders" / "2026-01-10.csv").write_text("\n".join([*export, export[1]]) + "\n")  # a line twice
    contract = load_contracts(CONTRACTS, mappings)["orders"]
    result = collect_partition(contract, dt.date(2026, 1, 10), landing, tmp_path / "lake")
    assert (result.rows_read, result.rows_loaded, result.reasons) == (8, 7, {"duplicate": 1})
    ids = duckdb.sql(f"select order_line_id from '{tmp_path}/lake/raw/orders/*/*.parquet'").fetchall()
    assert all(len(i) == 32 for (i,) in ids) and len(set(ids)) == 7


def test_collection_reports_the_value_of_what_it_quarantined(contracts, tmp_path):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    (landing / "orders").mkdir(parents=True)
    header = "order_line_id,order_id,customer_id,ordered_at,recorded_at,status,product_id,quantity,unit_price"
    line = "{i},O{i},C1,2026-01-10 08:00:00,2026-01-10 08:00:00,completed,P1,{q},{p}"
    rows = [line.format(i=1, q=2, p="10.00"), line.format(i=2, q="1.5", p="100.00"), line.format(i=3, q=-1, p="5.00")]
    (landing / "orders" / "2026-01-10.csv").write_text("\n".join([header, *rows]) + "\n")
    result = collect_partition(contracts["orders"], dt.date(2026, 1, 10), landing, lake)
    assert result.reasons == {"inexact_integer:quantity": 1}
    assert (result.value_read, result.value_quarantined) == (20.0 + 150.0 + 5.0, 150.0)


def test_a_quarantined_csv_record_keeps_its_original_text(contracts, tmp_path):
    """Quotes and an embedded line break are kept as the file has them, not re-joined fields."""
    header = (
        "order_line_id,order_id,customer_id,ordered_at,recorded_at,status,product_id,quantity,unit_price,"
        "discount_amount,order_channel,original_line_id\n"
    )
    first = 'L1,O1,"C,1\n7",2026-01-10 08:59:00,2026-01-10 09:00:00,completed,P1,1.5,19.90,0,web,'
    second = 'L3,"O3",C17,2026-01-10 08:59:00,2026-01-10 09:00:00,shipped,P1,2,19.90,0,web,'
    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    (landing / "orders" / "2026-01-10.csv").write_text(header + first + "\n\n" + second + "\n")
    result = collect_partition(contracts["orders"], dt.date(2026, 1, 10), landing, tmp_path / "lake")
    rows = duckdb.sql(f"select reason, raw_record from '{result.quarantine_path}' order by record_number").fetchall()
    assert rows == [("inexact_integer:quantity", first), ("not_allowed:status", second)]
