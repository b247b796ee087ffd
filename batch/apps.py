from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class BatchConfig(AppConfig):
    name = "batch"
    verbose_name = _("Batch submissions")

    def ready(self) -> None:
        from batch.staff_groups import sync_after_migrate

        # The last installed app: every other app's permissions exist when this runs.
        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="batch.staff_groups")
