"""singer-sdk standard tap tests, run against a Pipedrive emulator started for this module."""

from __future__ import annotations

import atexit

from pipedrive_emulator import Emulator
from singer_sdk.testing import get_tap_test_class
from tap_pipedrive.tap import TapPipedrive

_EMULATOR = Emulator(deals=120, seed=11, rate_limits=False)
_EMULATOR.start()
atexit.register(_EMULATOR.stop)

TestTapPipedrive = get_tap_test_class(
    TapPipedrive,
    config={
        "api_token": _EMULATOR.token,
        "api_url": _EMULATOR.base_url,
        "start_date": "2015-01-01T00:00:00Z",
        "organization_relationships": True,  # opt-in (20 tokens per organization): on, so it has records
    },
)
