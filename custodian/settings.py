"""Settings for the Green Button Data Custodian portal.

One module, read from environment variables once at import. Development needs none of them:
an embedded SQLite database and a development secret key are the defaults. Production sets
``DJANGO_SECRET_KEY``, ``DJANGO_ALLOWED_HOSTS``, ``DATABASE_URL`` and leaves ``DJANGO_DEBUG`` unset;
``python manage.py check --deploy --fail-level WARNING`` then passes.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use 1 or 0.")


def env_int(name: str, default: int) -> int:
    """Read an integer environment variable."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated list."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# SQLite: every transaction takes the write lock when it begins (BEGIN IMMEDIATE) and waits up to 20 s
# for it. With the default deferred transactions, a request that read first and then writes while
# another thread commits (the request counter written as a response closes) gets "database is locked"
# at once, without waiting: SQLite's deadlock avoidance. PostgreSQL is unaffected.
_SQLITE_OPTIONS = {"timeout": 20, "transaction_mode": "IMMEDIATE"}


def batch_results_storage(environ: Any, *, directory: Path) -> dict[str, Any]:
    """Return the ``STORAGES`` entry for built bulk results: an S3 bucket if ``BATCH_RESULTS_S3_BUCKET`` is set, else ``directory``."""
    bucket = environ.get("BATCH_RESULTS_S3_BUCKET", "").strip()
    if not bucket:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": directory, "base_url": None, "file_permissions_mode": 0o600},
        }
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": environ.get("BATCH_RESULTS_S3_PREFIX", "batch-results"),
            "region_name": environ.get("AWS_S3_REGION_NAME") or None,
            "endpoint_url": environ.get("AWS_S3_ENDPOINT_URL") or None,
            # Private objects: parts are served by the portal after the token and grant checks, never by URL.
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": True,
        },
    }


def database_from_url(url: str | None, *, sqlite_path: Path) -> dict[str, Any]:
    """Turn ``DATABASE_URL`` into a Django ``DATABASES['default']`` entry.

    No URL means the embedded SQLite database. ``postgres://`` and ``postgresql://`` URLs
    select PostgreSQL; ``sqlite:///path`` an SQLite file. Anything else is a configuration error
    that names the variable, so a typo never silently falls back to SQLite.
    """
    if url is None or url.strip() == "":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": sqlite_path, "OPTIONS": dict(_SQLITE_OPTIONS)}
    parts = urlsplit(url.strip())
    if parts.scheme == "sqlite":
        # As dj-database-url: sqlite:////absolute/path.db, or sqlite:///relative/path.db.
        path = unquote(parts.path)[1:]
        if parts.netloc or not path or path == "/":
            raise ImproperlyConfigured("DATABASE_URL for SQLite must look like sqlite:////absolute/path.db")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": dict(_SQLITE_OPTIONS)}
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL scheme {parts.scheme!r} is not supported: use postgresql://user@host:port/name or sqlite:////path."
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL names no database: add /name after the host.")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured("DATABASE_URL has a port that is not a number.") from None
    options: dict[str, Any] = dict(parse_qsl(parts.query))
    if env_bool("DJANGO_DB_PREPARED_STATEMENTS", True):
        # Parameters bound by the server and a statement prepared once a connection has run it twice: the
        # API's few small queries skip PostgreSQL's parse and plan (+20% small Batch/Subscription reads per
        # second, bench api_overhead). Off (0) behind a pooler that cannot keep prepared statements
        # (PgBouncer before 1.21 in transaction mode).
        options.setdefault("server_side_binding", True)
        options.setdefault("prepare_threshold", 2)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(port or ""),
        "CONN_MAX_AGE": env_int("DJANGO_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": options,
    }


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-development-only-key-do-not-deploy")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# The public base URL third parties use (ESPI resourceURI, authorizationURI, notifications).
PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# The ESPI dataCustodianId this portal announces in ApplicationInformation.
DATA_CUSTODIAN_ID = os.environ.get("DATA_CUSTODIAN_ID", "greenbutton-portal")
# The Green Button Alliance certificate id; when set, ESPI documents link to the certificate (CERT001-004).
GBA_CERTIFICATION_ID = os.environ.get("GBA_CERTIFICATION_ID", "").strip()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "grants.apps.OAuthToolkitConfig",  # oauth2_provider, its admin section named for staff
    "axes",
    "custodian",
    "grants",
    "batch",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost but security: every ESPI request's outcome is counted, the 400s below it included.
    "batch.middleware.ApiRequestOutcomeMiddleware",
    "custodian.middleware.RejectNulCharactersMiddleware",
    "custodian.middleware.EspiTrailingSlashMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "custodian.middleware.PortalLocaleMiddleware",  # Django's LocaleMiddleware; API URLs in English
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "custodian.middleware.ContentSecurityPolicyMiddleware",
    # Last, as django-axes requires: it answers a locked-out login.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "custodian.urls"
WSGI_APPLICATION = "custodian.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"), sqlite_path=BASE_DIR / "db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "custodian.User"
# django-axes checks every login attempt (customer and admin) before the password is tried.
AUTHENTICATION_BACKENDS = ["custodian.throttle.LoginThrottleBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Customer pages and e-mails in English and Spanish: the browser's language or the header's switch.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The utility's time zone: dates customers choose and read ("until 30 June 2027") are its local days.
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "var" / "static"))
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "var" / "media"))
# Built bulk results (the parts of an asynchronous Batch GET): the file system under
# BATCH_RESULTS_DIR by default; with BATCH_RESULTS_S3_BUCKET set, an S3 (or S3-compatible) bucket
# through django-storages, credentials from the usual AWS_* variables or the instance role.
BATCH_RESULTS_DIR = Path(os.environ.get("BATCH_RESULTS_DIR", MEDIA_ROOT / "batch-results"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "batch_results": batch_results_storage(os.environ, directory=BATCH_RESULTS_DIR),
}

# Security headers. Consent and login pages must never be framed (RFC 9700 section 4.16).
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# A portal session reaches a customer's energy data and consent: a working day, not Django's two weeks.
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_SECONDS", 8 * 3600)
CSRF_COOKIE_SAMESITE = "Lax"
# No script reads the CSRF cookie (forms carry the token), so scripts may not read it either.
CSRF_COOKIE_HTTPONLY = True
# Forms post to the portal only. The consent screen adds the one redirect URI its answer redirects
# to (browsers apply form-action to the redirect that follows a form post): see grants.views.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# Shared cache: rate limits (the OAuth token endpoint, each Third Party's ESPI API calls) count here. With several
# gunicorn workers or hosts set REDIS_URL so they all count into one place.
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "custodian"}
    )
}

# Login throttling (django-axes, counted in the database so every worker sees every failure): after
# LOGIN_FAILURE_LIMIT failures an account is locked from everywhere, and a client address for every
# account, for LOGIN_COOLOFF_MINUTES. A successful login clears the account's count.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "custodian.throttle.login_lockout_response"
AXES_CLIENT_IP_CALLABLE = "custodian.throttle.client_ip"
AXES_VERBOSE = False
# Behind a proxy, the request.META key of the header it sets to the client address (e.g. HTTP_X_REAL_IP).
CLIENT_IP_HEADER = os.environ.get("DJANGO_CLIENT_IP_HEADER", "").strip()
# Token requests per client (client_id) per minute at /oauth/token.
OAUTH_TOKEN_REQUESTS_PER_MINUTE = env_int("OAUTH_TOKEN_REQUESTS_PER_MINUTE", 30)

# DJANGO_HTTPS=1 says the portal is served over TLS: redirect http, secure cookies, HSTS.
HTTPS = env_bool("DJANGO_HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# OAuth 2.0 authorization server, configured to RFC 9700 (BCP 240).
OAUTH2_PROVIDER_APPLICATION_MODEL = "grants.ThirdParty"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER_DEVICE_GRANT_MODEL = "oauth2_provider.DeviceGrant"
OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("OAUTH_ACCESS_TOKEN_SECONDS", 3600),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "REFRESH_TOKEN_EXPIRE_SECONDS": env_int("OAUTH_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "REQUEST_APPROVAL_PROMPT": "force",
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"] if DEBUG else ["https"],
    "ALLOWED_GRANT_TYPES": ["authorization_code", "client_credentials", "refresh_token"],
    # Server metadata (RFC 8414) advertises only these.
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "client_credentials", "refresh_token"],
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": not DEBUG,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    # ESPI rules (grants/oauth.py): scope strings as scopes, grant-bound tokens, S256-only PKCE.
    "OAUTH2_VALIDATOR_CLASS": "grants.oauth.EspiOAuth2Validator",
    "OAUTH2_SERVER_CLASS": "grants.oauth.EspiServer",
    "SCOPES_BACKEND_CLASS": "grants.oauth.EspiScopes",
    "SCOPES": {},
    "DEFAULT_SCOPES": [],
    # RFC 9207 issuer identifier sent as `iss` in every authorization response.
    "OIDC_ISS_ENDPOINT": PORTAL_BASE_URL,
}
# Mail to customers (grants, password reset, invitations): SMTP when EMAIL_HOST is set, else the console.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Green Button portal <no-reply@localhost>")

# How long a customer's consent lasts unless they choose a shorter period.
GRANT_DEFAULT_DAYS = env_int("GRANT_DEFAULT_DAYS", 365)
# The ESPI function blocks this Data Custodian offers: a request for others is narrowed to these, and
# approval to Production refuses a Third Party that registered others (grants.approval).
ESPI_FUNCTION_BLOCKS = os.environ.get(
    "ESPI_FUNCTION_BLOCKS", "1_3_4_5_13_14_15_16_17_18_19_27_28_31_32_33_35_36_37_39_40_41_44_45_46_47_50"
)
# The Green Button Alliance certificate of this portal: with it set, ApplicationInformation, the Authorization
# feed and entries carry <link rel="related" href="https://cert.greenbuttonalliance.org/certificate/{id}"/>.
GBA_CERTIFICATION_ID = os.environ.get("GBA_CERTIFICATION_ID", "")
# RFC 7591 dynamic registration at /oauth/register (FB 36): off unless staff turn it on.
OAUTH_DYNAMIC_REGISTRATION = env_bool("OAUTH_DYNAMIC_REGISTRATION", False)
# Dynamic registrations accepted per client address and hour (the endpoint needs no credentials).
OAUTH_REGISTRATIONS_PER_HOUR = env_int("OAUTH_REGISTRATIONS_PER_HOUR", 10)
# Lifetime of a registration_access_token issued by staff or dynamic registration (RFC 7592 section 3).
REGISTRATION_TOKEN_SECONDS = env_int("REGISTRATION_TOKEN_SECONDS", 365 * 24 * 3600)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["oauth2_provider.contrib.rest_framework.OAuth2Authentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "custodian.api_errors.exception_handler",
    # Each Third Party's calls per second, hour and day (set in the admin), on the shared cache.
    "DEFAULT_THROTTLE_CLASSES": ["grants.throttling.ThirdPartyRateThrottle"],
    "UNAUTHENTICATED_USER": None,
}

# Batch POST limits: the whole body is capped in bytes, checked before it is read.
BATCH_MAX_BODY_BYTES = env_int("BATCH_MAX_BODY_BYTES", 512 * 1024 * 1024)
# SQLite only (development): an in-progress submission older than this is taken as abandoned by its
# worker. On PostgreSQL the worker's database session holds the lease (an advisory lock) instead.
BATCH_LEASE_SECONDS = env_int("BATCH_LEASE_SECONDS", 3600)
# A batch POST with `Prefer: respond-async` queued this long without a worker taking it is sent
# to the workers again (its task may have been lost before it reached the broker).
BATCH_ASYNC_REQUEUE_SECONDS = env_int("BATCH_ASYNC_REQUEUE_SECONDS", 600)
ESPI_MAX_DEPTH = env_int("ESPI_MAX_DEPTH", 64)
# Asynchronous Batch GET (batch.async_rules, batch.services_async): a request whose work is at least
# BATCH_ASYNC_USAGE_POINT_DAYS (usage points x days of data asked for), or that sends
# `Prefer: respond-async`, is answered 202 and built by workers in ranges of BATCH_RANGE_USAGE_POINTS
# usage points, each written as parts of at most BATCH_CHUNK_BYTES, kept BATCH_RESULT_DAYS days.
# Default: more than a full synchronous page (ESPI_BULK_MAX_RESULTS, 500 usage points) of three years
# (the usual HistoryLength); a grant without one counts as three years (async_rules.UNBOUNDED_HISTORY_DAYS).
BATCH_ASYNC_USAGE_POINT_DAYS = env_int("BATCH_ASYNC_USAGE_POINT_DAYS", 500 * 1098 + 1)
BATCH_RANGE_USAGE_POINTS = env_int("BATCH_RANGE_USAGE_POINTS", 500)
BATCH_CHUNK_BYTES = env_int("BATCH_CHUNK_BYTES", 200 * 1024 * 1024)
BATCH_RESULT_DAYS = env_int("BATCH_RESULT_DAYS", 2)
BATCH_EXPIRY_SECONDS = env_int("BATCH_EXPIRY_SECONDS", 3600)
ESPI_MAX_TEXT_BYTES = env_int("ESPI_MAX_TEXT_BYTES", 64 * 1024)

# Error reports (500 mails, debug pages) never show credential form fields.
DEFAULT_EXCEPTION_REPORTER_FILTER = "custodian.error_reports.CredentialSafeExceptionReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    # django-axes logs every login at INFO; lockouts and failures stay (WARNING).
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# Workers: Celery with Redis as broker and result backend. No broker means development: every task runs
# in the calling process (task_always_eager), so `make run` needs nothing more.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "").strip()
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "").strip() or CELERY_BROKER_URL or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
# A task is acknowledged when it has finished, and given back to the broker if its worker dies, so a
# killed worker's job runs again on another one; tasks are written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "custodian")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis hands an unacknowledged task to another worker after this many seconds (longer than any task).
CELERY_VISIBILITY_TIMEOUT_SECONDS = env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS,
    # Look for tasks of dead workers a few times per visibility timeout.
    "unacked_restore_interval": max(1, min(60, CELERY_VISIBILITY_TIMEOUT_SECONDS // 4)),
    "unacked_restore_throttle": 1,
}
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT_SECONDS", 1800)
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The beat schedule (`celery -A custodian beat`): the outbox every few seconds (retries are rows due
# again), expiry every GRANT_EXPIRY_SECONDS, the daily "new data ready" notice at NOTIFICATION_DAILY_HOUR UTC.
NOTIFICATION_DELIVERY_SECONDS = env_int("NOTIFICATION_DELIVERY_SECONDS", 10)
NOTIFICATION_DAILY_HOUR = env_int("NOTIFICATION_DAILY_HOUR", 6)
NOTIFICATION_BACKOFF_BASE_SECONDS = env_int("NOTIFICATION_BACKOFF_BASE_SECONDS", 30)
GRANT_EXPIRY_SECONDS = env_int("GRANT_EXPIRY_SECONDS", 60)
# Grants per transaction of the expiry and lifecycle sweeps (grants.services): short transactions, bounded queries.
GRANT_SWEEP_BATCH_SIZE = env_int("GRANT_SWEEP_BATCH_SIZE", 500)
CELERY_BEAT_SCHEDULE = {
    "deliver-notifications": {
        "task": "grants.tasks.deliver_notifications",
        "schedule": float(NOTIFICATION_DELIVERY_SECONDS),
        # A round nobody ran within a few minutes is dropped: the next one delivers the same rows.
        "options": {"expires": float(max(300, 5 * NOTIFICATION_DELIVERY_SECONDS))},
    },
    "expire-grants": {
        "task": "grants.tasks.expire_grants",
        "schedule": float(GRANT_EXPIRY_SECONDS),
        "options": {"expires": 300.0},
    },
    "expire-batch-results": {
        "task": "batch.tasks.expire_results",
        "schedule": float(BATCH_EXPIRY_SECONDS),
        "options": {"expires": 300.0},
    },
    # Lifecycle sweeps are queued when a Third Party is put On Hold or revoked; this picks up any lost one.
    "lifecycle-sweeps": {
        "task": "grants.tasks.lifecycle_sweeps",
        "schedule": float(GRANT_EXPIRY_SECONDS),
        "options": {"expires": 300.0},
    },
    "daily-new-data-notices": {
        "task": "grants.tasks.daily_new_data_notices",
        "schedule": crontab(minute=0, hour=NOTIFICATION_DAILY_HOUR),
    },
    "requeue-batch-submissions": {
        "task": "batch.tasks.requeue_submissions",
        "schedule": float(max(60, BATCH_ASYNC_REQUEUE_SECONDS // 2)),
        "options": {"expires": 300.0},
    },
}
