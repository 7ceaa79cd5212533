"""tap-pipedrive: a singer-sdk tap that copies a Pipedrive company's CRM data."""

from __future__ import annotations
