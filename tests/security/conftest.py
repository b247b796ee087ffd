"""The GET side's small world (customers, grants of every state, tokens of each kind) for the security tests."""

from __future__ import annotations

from tests.feeds.conftest import shared, world  # noqa: F401
