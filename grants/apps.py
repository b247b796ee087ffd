from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GrantsConfig(AppConfig):
    name = "grants"
    verbose_name = _("Third parties and grants")

    def ready(self) -> None:
        from grants import log_redaction

        log_redaction.install()
