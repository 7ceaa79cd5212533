"""Model files: header settings, references and dependency order (pure, no database)."""

from __future__ import annotations

import pytest
from pipeboard_transform.models import ModelError, load_models, parse_model
from pipeboard_transform.settings import DEFAULT_MODELS_DIR


def test_parse_model_reads_header_settings_and_references():
    text = (
        "-- A model.\n-- materialized: table\n-- unique_key: id, other\n"
        "SELECT * FROM {{ ref('stg_a') }} JOIN {{source('deals')}} USING (id);\n"
    )

    model = parse_model("main_x", text)

    assert model.materialized == "table"
    assert model.unique_key == ("id", "other")
    assert model.refs == {"stg_a"}
    assert model.sources == {"deals"}
    assert not model.sql.endswith(";")


def test_models_default_to_ephemeral():
    assert parse_model("stg_a", "SELECT 1").materialized == "ephemeral"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("Bad-Name", "SELECT 1"),
        ("stg_a", "-- materialized: view\nSELECT 1"),
        ("stg_a", "-- unique_key: id\nSELECT 1"),
    ],
    ids=["bad-name", "unknown-materialization", "unique-key-on-ephemeral"],
)
def test_parse_model_rejects_invalid_headers(name, text):
    with pytest.raises(ModelError):
        parse_model(name, text)


def test_load_models_orders_dependencies_first(tmp_path):
    (tmp_path / "c.sql").write_text("SELECT * FROM {{ ref('b') }}")
    (tmp_path / "a.sql").write_text("SELECT 1")
    (tmp_path / "b.sql").write_text("SELECT * FROM {{ ref('a') }}")

    assert [m.name for m in load_models(tmp_path)] == ["a", "b", "c"]


def test_load_models_rejects_cycles_and_unknown_references(tmp_path):
    (tmp_path / "a.sql").write_text("SELECT * FROM {{ ref('b') }}")
    (tmp_path / "b.sql").write_text("SELECT * FROM {{ ref('a') }}")
    with pytest.raises(ModelError, match="cycle"):
        load_models(tmp_path)

    (tmp_path / "b.sql").write_text("SELECT * FROM {{ ref('nope') }}")
    with pytest.raises(ModelError, match="unknown"):
        load_models(tmp_path)


def test_the_shipped_models_build_main_bi_last():
    models = load_models(DEFAULT_MODELS_DIR)

    assert models[-1].name == "main_bi"
    assert [m.name for m in models if m.materialized == "table"] == ["main_bi"]
