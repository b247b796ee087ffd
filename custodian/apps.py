from __future__ import annotations

from django.apps import AppConfig


class CustodianConfig(AppConfig):
    name = "custodian"
    verbose_name = "Customers and meter data"
