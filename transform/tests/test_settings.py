"""Where the transform finds its database and schemas (pure, no database)."""

from __future__ import annotations

import pytest
from pipeboard_transform.settings import DEFAULT_MODELS_DIR, SettingsError, resolve


def test_the_utility_setting_wins_over_the_loader_and_the_environment_wide_url():
    env = {
        "PIPEBOARD_TRANSFORM_DATABASE_URL": "",
        "TARGET_PIPEBOARD_POSTGRES_DATABASE_URL": "postgresql://loader/db",
        "DATABASE_URL": "postgresql://wide/db",
    }
    assert resolve(env).database_url == "postgresql://loader/db"
    assert resolve({"DATABASE_URL": "postgresql://wide/db"}).database_url == "postgresql://wide/db"
    assert resolve(env, database_url="postgresql://cli/db").database_url == "postgresql://cli/db"


def test_the_url_is_built_from_the_loaders_parts_with_the_password_escaped():
    env = {
        "TARGET_PIPEBOARD_POSTGRES_HOST": "db.internal",
        "TARGET_PIPEBOARD_POSTGRES_PORT": "6543",
        "TARGET_PIPEBOARD_POSTGRES_USER": "bi",
        "TARGET_PIPEBOARD_POSTGRES_PASSWORD": "p@ss/word",
        "TARGET_PIPEBOARD_POSTGRES_DATABASE": "analytics",
        "TARGET_PIPEBOARD_POSTGRES_SSLMODE": "require",
    }
    assert (
        resolve(env).database_url
        == "postgresql://bi:p%40ss%2Fword@db.internal:6543/analytics?sslmode=require"
    )


def test_schemas_follow_the_loader_unless_set():
    env = {"DATABASE_URL": "postgresql://x/y", "TARGET_PIPEBOARD_POSTGRES_DEFAULT_TARGET_SCHEMA": "crm"}
    settings = resolve(env)
    assert (settings.source_schema, settings.target_schema) == ("crm", "crm")
    assert resolve({**env, "PIPEBOARD_TRANSFORM_TARGET_SCHEMA": "bi"}).target_schema == "bi"
    assert resolve({"DATABASE_URL": "postgresql://x/y"}).source_schema == "pipedrive"
    assert resolve(env).models_dir == DEFAULT_MODELS_DIR


def test_a_missing_database_url_is_a_settings_error_naming_the_variables():
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        resolve({})


def test_a_missing_models_folder_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="models_dir"):
        resolve({"DATABASE_URL": "postgresql://x/y"}, models_dir=tmp_path / "nope")
