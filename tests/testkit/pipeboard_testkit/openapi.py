"""Pipedrive's official OpenAPI documents for conformance tests: where they are, loaded once, refs inlined."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]


def spec_dir() -> Path:
    """The folder holding ``v1.yaml``/``v2.yaml``; skips the test, saying where it looked, when absent.

    The specs are Pipedrive's documents, not ours, so the repository does not carry them: set
    ``PIPEBOARD_PIPEDRIVE_SPEC_DIR`` or keep them in ``../shared/pipedrive-api`` beside the clone (CI does).
    """
    path = Path(os.environ.get("PIPEBOARD_PIPEDRIVE_SPEC_DIR", REPO_ROOT.parent / "shared" / "pipedrive-api"))
    if not (path / "v2.yaml").is_file():
        pytest.skip(f"Pipedrive spec files not found in {path} (set PIPEBOARD_PIPEDRIVE_SPEC_DIR)")
    return path


@cache
def load_spec(api: str) -> dict[str, Any]:
    """The parsed document of ``api`` (``"v1"`` or ``"v2"``)."""
    return yaml.load((spec_dir() / f"{api}.yaml").read_bytes(), Loader=yaml.CSafeLoader)


def inline_refs(spec: dict[str, Any], node: Any) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points at (the specs have no cycles there)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return inline_refs(spec, target)
        return {key: inline_refs(spec, value) for key, value in node.items()}
    if isinstance(node, list):
        return [inline_refs(spec, value) for value in node]
    return node
