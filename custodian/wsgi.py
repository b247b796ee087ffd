"""WSGI entry point: ``gunicorn custodian.wsgi``."""

from __future__ import annotations

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "custodian.settings")

application = get_wsgi_application()

# Import every view now rather than on the first request, then move everything loaded so far out of
# the cyclic garbage collector's sight (gc.freeze): a full collection during a large upload then walks
# the objects of that request only, not the whole framework (tens of milliseconds each time).
get_resolver().url_patterns  # noqa: B018 - evaluated for its imports
gc.freeze()
