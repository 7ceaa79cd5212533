"""Pipeboard's transform: runs the SQL models in `transform/models/` over the loaded Pipedrive tables."""
