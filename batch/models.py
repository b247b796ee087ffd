"""Batch submissions: one row per batch POST as received (see batch.services)."""

from __future__ import annotations
