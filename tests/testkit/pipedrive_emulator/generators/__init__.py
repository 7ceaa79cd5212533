"""Seeded generators for the emulator's records, one module per entity family (used by ``data.generate``)."""
