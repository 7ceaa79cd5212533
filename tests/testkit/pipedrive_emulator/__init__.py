"""A Pipedrive API emulator for tests and demos: seeded data served as Pipedrive's specs describe."""

from __future__ import annotations

from pipedrive_emulator.faults import FaultProfile
from pipedrive_emulator.requestlog import RequestRecord
from pipedrive_emulator.server import Emulator

__all__ = ["Emulator", "FaultProfile", "RequestRecord"]
