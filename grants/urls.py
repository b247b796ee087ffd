"""OAuth endpoints and the customer's consent and grant pages."""

from __future__ import annotations

urlpatterns: list = []
