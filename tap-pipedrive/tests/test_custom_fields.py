"""Custom-field rules: column naming (readable, unique, ≤ 63 bytes, stable) and value shaping per type."""

from __future__ import annotations

from typing import Any

import pytest
from tap_pipedrive.custom_fields import (
    FieldInfo,
    assign_columns,
    build_field_map,
    custom_properties,
    flatten_custom_fields,
    normalize_field,
    slugify,
)

HASH_A = "a" * 40
HASH_B = "b" * 40
HASH_C = "c" * 40


def _field(code: str, name: str, field_type: str = "varchar", options: tuple = ()) -> FieldInfo:
    return FieldInfo(code, name, field_type, True, tuple((str(i), label) for i, label in options))


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        pytest.param("Deal Score", "deal_score", id="spaces"),
        pytest.param("deal score!", "deal_score", id="punctuation"),
        pytest.param("Größe des Geschäfts — 見込み", "grosse_des_geschafts", id="unicode"),
        pytest.param("2nd Currency Value", "f_2nd_currency_value", id="leading-digit"),
        pytest.param("Order", "order_field", id="reserved-word"),
        pytest.param("見込み", "", id="no-latin"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_colliding_names_get_numbered_deterministically() -> None:
    fields = [_field(HASH_B, "Deal Score"), _field(HASH_A, "deal score!")]
    columns = assign_columns(fields, {}, reserved=set())
    assert columns == {HASH_A: "deal_score", HASH_B: "deal_score_2"}
    assert assign_columns(list(reversed(fields)), {}, reserved=set()) == columns


def test_standard_property_names_are_reserved() -> None:
    columns = assign_columns([_field(HASH_A, "Value", "double")], {}, reserved={"value"})
    assert columns[HASH_A] == "value_2"


def test_composite_suffix_collision_is_avoided() -> None:
    fields = [_field(HASH_A, "Price", "monetary"), _field(HASH_B, "Price currency")]
    columns = assign_columns(fields, {}, reserved=set())
    assert columns[HASH_A] == "price"
    assert columns[HASH_B] == "price_currency_2"


def test_every_column_fits_in_63_bytes() -> None:
    fields = [
        _field(HASH_A, "Address " + "x" * 200, "address"),
        _field(HASH_B, "Address " + "x" * 200, "address"),
    ]
    columns = assign_columns(fields, {}, reserved=set())
    props = custom_properties({f.code: f for f in fields}, columns)
    assert len(props) == 2 * 11
    assert all(len(name.encode()) <= 63 for name in props)
    assert len(set(columns.values())) == 2


def test_stored_name_wins_after_rename_and_new_field_gets_new_column() -> None:
    stored = {HASH_A: "deal_score"}
    fields = [_field(HASH_A, "Opportunity Rating", "double"), _field(HASH_C, "Deal Score", "varchar")]
    columns = assign_columns(fields, stored, reserved=set())
    assert columns[HASH_A] == "deal_score"
    assert columns[HASH_C] == "deal_score_2"


def test_nameless_field_falls_back_to_its_key() -> None:
    assert assign_columns([_field(HASH_A, "見込み")], {}, reserved=set()) == {HASH_A: "field_aaaaaaaa"}


def test_normalize_field_reads_v2_and_v1_shapes() -> None:
    v2 = normalize_field(
        {
            "field_code": HASH_A,
            "field_name": "Tier",
            "field_type": "enum",
            "is_custom_field": True,
            "options": [{"id": 7, "label": "Gold"}],
        }
    )
    v1 = normalize_field(
        {
            "key": HASH_B,
            "name": "Tier",
            "field_type": "enum",
            "edit_flag": True,
            "options": [{"id": 7, "label": "Gold"}],
        }
    )
    note_flag = normalize_field(
        {"key": "pinned_to_deal_flag", "name": "Pinned", "field_type": "enum", "edit_flag": True}
    )
    assert (v2.code, v2.is_custom, v2.options) == (HASH_A, True, (("7", "Gold"),))
    assert (v1.code, v1.is_custom) == (HASH_B, True)
    assert note_flag.is_custom is False


SHAPES: list[tuple[str, str, tuple, Any, dict[str, Any]]] = [
    ("enum", "tier", ((7, "Gold"), (8, "Silver")), 8, {"tier": "Silver"}),
    ("set", "tags", ((1, "A"), (2, "B")), [1, 2], {"tags": ["A", "B"]}),
    ("monetary", "cv", (), {"value": 12.5, "currency": "EUR"}, {"cv": 12.5, "cv_currency": "EUR"}),
    (
        "daterange",
        "period",
        (),
        {"value": "2025-01-01", "until": "2025-02-01"},
        {"period": "2025-01-01", "period_until": "2025-02-01"},
    ),
    (
        "timerange",
        "window",
        (),
        {"value": "09:00:00", "until": "10:00:00", "timezone_id": 1},
        {"window": "09:00:00", "window_until": "10:00:00"},
    ),
    ("time", "at", (), {"value": "15:30:00", "timezone_id": 318}, {"at": "15:30:00"}),
    ("user", "owner", (), 1000003, {"owner": 1000003}),
    ("org", "partner", (), {"value": 12, "name": "Acme"}, {"partner": 12}),
    ("double", "score", (), "12.5", {"score": 12.5}),
    ("date", "kickoff", (), "2026-03-11", {"kickoff": "2026-03-11"}),
    ("varchar", "note", (), None, {"note": None}),
]


@pytest.mark.parametrize(
    ("field_type", "column", "options", "value", "expected"), SHAPES, ids=[shape[0] for shape in SHAPES]
)
def test_v2_values_are_shaped_by_type(
    field_type: str, column: str, options: tuple, value: Any, expected: dict[str, Any]
) -> None:
    field = _field(HASH_A, column, field_type, options)
    flat = flatten_custom_fields({HASH_A: value}, {HASH_A: field}, {HASH_A: column})
    assert flat == expected


def test_address_value_becomes_text_plus_components() -> None:
    field = _field(HASH_A, "Delivery", "address")
    value = {
        "value": "Narva mnt 7, Tallinn",
        "locality": "Tallinn",
        "country": "Estonia",
        "postal_code": "10117",
    }
    flat = flatten_custom_fields({HASH_A: value}, {HASH_A: field}, {HASH_A: "delivery"})
    assert flat["delivery"] == "Narva mnt 7, Tallinn"
    assert flat["delivery_locality"] == "Tallinn"
    assert flat["delivery_country"] == "Estonia"
    assert flat["delivery_route"] is None


def test_v1_values_read_composite_siblings_and_text_option_ids() -> None:
    fields = {
        HASH_A: _field(HASH_A, "cv", "monetary"),
        HASH_B: _field(HASH_B, "tags", "set", ((1, "A"), (2, "B"))),
        HASH_C: _field(HASH_C, "tier", "enum", ((7, "Gold"),)),
    }
    record = {HASH_A: 99, f"{HASH_A}_currency": "USD", HASH_B: "1,2", HASH_C: "7"}
    flat = flatten_custom_fields(
        record, fields, {HASH_A: "cv", HASH_B: "tags", HASH_C: "tier"}, v1_siblings=True
    )
    assert flat == {"cv": 99, "cv_currency": "USD", "tags": ["A", "B"], "tier": "Gold"}


def test_properties_are_typed() -> None:
    fields = build_field_map(
        [
            {"field_code": HASH_A, "field_name": "Score", "field_type": "double", "is_custom_field": True},
            {"field_code": HASH_B, "field_name": "Kickoff", "field_type": "date", "is_custom_field": True},
            {"field_code": HASH_C, "field_name": "Tags", "field_type": "set", "is_custom_field": True},
        ]
    )
    props = custom_properties(fields, {HASH_A: "score", HASH_B: "kickoff", HASH_C: "tags"})
    assert props["score"]["type"] == ["number", "null"]
    assert props["kickoff"] == {"type": ["string", "null"], "format": "date"}
    assert props["tags"]["items"] == {"type": "string"}
