"""ESPI resources about authorization: ApplicationInformation, Authorization, ReadServiceStatus."""

from __future__ import annotations

urlpatterns: list = []
