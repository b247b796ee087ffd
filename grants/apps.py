from __future__ import annotations

from django.apps import AppConfig


class GrantsConfig(AppConfig):
    name = "grants"
    verbose_name = "Third parties and grants"

    def ready(self) -> None:
        from grants import log_redaction

        log_redaction.install()
