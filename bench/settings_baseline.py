"""Settings of the per-request baseline server only (``bench.api_overhead``): DRF + django-oauth-toolkit as shipped.

The portal's database, models and secret, but Django's ``startproject`` middleware, DOT's own
``OAuth2Validator``, DRF without throttles or our exception handler, and one URL
(``bench.urls_baseline``). Never used by the product.
"""

from __future__ import annotations

from custodian.settings import *  # noqa: F403
from custodian.settings import OAUTH2_PROVIDER, REST_FRAMEWORK

ROOT_URLCONF = "bench.urls_baseline"
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
OAUTH2_PROVIDER = {**OAUTH2_PROVIDER, "OAUTH2_VALIDATOR_CLASS": "oauth2_provider.oauth2_validators.OAuth2Validator"}
REST_FRAMEWORK = {
    key: value for key, value in REST_FRAMEWORK.items() if key not in ("DEFAULT_THROTTLE_CLASSES", "EXCEPTION_HANDLER")
}
