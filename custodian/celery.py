"""The project's Celery app: tasks of every app, configured from Django settings (``CELERY_*``).

With ``CELERY_BROKER_URL`` set (Redis in production), tasks go to workers (``celery -A custodian
worker``) and periodic ones come from beat (``celery -A custodian beat``). With none, settings turn
on ``task_always_eager``: a task runs in the calling process, so development needs no broker.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "custodian.settings")

app = Celery("custodian")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
