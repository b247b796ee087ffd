"""ESPI Batch endpoints."""

from __future__ import annotations

urlpatterns: list = []
