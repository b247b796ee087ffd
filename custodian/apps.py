from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustodianConfig(AppConfig):
    name = "custodian"
    verbose_name = _("Customers and meter data")
