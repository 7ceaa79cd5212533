"""Pipeboard's shared test support: real Postgres databases and Redis connections for every test suite."""
