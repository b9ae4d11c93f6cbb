"""Settings for the chat, read from the environment.

With nothing set, ``manage.py runserver`` runs on SQLite and the in-memory
channel layer, with DEBUG on. A deployment sets:

- ``DATABASE_URL``: e.g. ``postgres://user:pass@host:5432/name`` (SQLite when unset).
- ``REDIS_URL``: e.g. ``redis://host:6379/0``; several, comma-separated, shard the
  channel layer. Unset means the in-memory layer, which only ``runserver`` can use.
- ``REDIS_SENTINELS`` and ``REDIS_SENTINEL_MASTER`` (with the optional
  ``REDIS_SENTINEL_DB`` and ``REDIS_SENTINEL_PASSWORD``): Redis through Sentinel
  instead of ``REDIS_URL``; one master, no sharding (docs/operations.md).
- ``SECRET_KEY``: required whenever DEBUG is off.
- ``DEBUG``: ``0``, ``false``, ``no`` or ``off`` turn it off; ``1``, ``true``,
  ``yes`` or ``on`` turn it on.
- ``ALLOWED_HOSTS``: comma-separated host names, also the allowed WebSocket origins.
- ``MEDIA_ROOT``: where uploaded images are kept on disk (``media/`` beside
  manage.py when unset). ``FILE_STORAGE`` names another Django storage
  class instead, e.g. ``storages.backends.s3boto3.S3Boto3Storage`` with
  ``AWS_STORAGE_BUCKET_NAME`` (and ``AWS_S3_REGION_NAME``,
  ``AWS_S3_ENDPOINT_URL``, ``AWS_S3_CUSTOM_DOMAIN``; boto3 reads the
  credentials from ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``).
  Heroku's disk is wiped on every restart, so a deployment there needs it.
  The pages' Content-Security-Policy lets images load from that storage's
  origin; ``CSP_EXTRA_IMG_SRC`` (comma-separated origins) adds others.
- ``CHAT_WEBHOOK_ALLOW_HTTP`` and ``CHAT_WEBHOOK_ALLOWED_NETWORKS``: where
  rooms' webhooks may point beyond public https URLs (docs/operations.md,
  "Webhook deliveries"); plain http is allowed by default with DEBUG only.

Every variable is read once, here, through ``chat/env.py``; a value that
cannot be read stops the process with an error naming the variable. The
benchmark's stock-layer runs use ``bench/stock_settings.py``, which
imports these and swaps the channel layer.
"""

import ipaddress
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from chat import conf
from chat.env import env_bool, env_int, env_list, env_str, redis_sentinel, redis_urls

# django-axes 5.27, the last release for Django 2.2, imports pkg_resources,
# whose import warns in every process; setuptools is pinned below 81, which
# still ships it (requirements.in).
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", True)

# Only a development server may run on a key that is in the source code.
DEVELOPMENT_SECRET_KEY = "development-only-not-secret"
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY or SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set SECRET_KEY to a long random value: it is required when DEBUG is off."
        )
    SECRET_KEY = DEVELOPMENT_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])

INSTALLED_APPS = [
    # First, so that its runserver (channels', through WhiteNoise's wrapper,
    # logging once per line) is the one manage.py finds.
    "chat.apps.ChatConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles, so that runserver leaves static files to WhiteNoise.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    # The delay server (manage.py rundelay, the Procfile's delay process
    # type): messages sent later (chat/scheduling.py).
    "channels.delay",
    # Sign-in throttling (AXES_* below).
    "axes",
    # The load generator, manage.py chatbench; its command needs the
    # development requirements and says so without them.
    "bench.apps.BenchConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The pages' Content-Security-Policy (CSP_* below).
    "csp.middleware.CSPMiddleware",
    # Last, so that it turns a refused sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "chat.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Accounts (/accounts/): Django's users, with its four standard password
# checks applied at sign-up. The redirects are URL names (chat/urls.py).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes' backend comes first: it refuses a locked-out client before
# any password is checked (chat/signin.py). Then Django's ModelBackend with
# its refusals all costing one password hash (chat/transport/django_fixes.py,
# CVE-2024-39329; docs/security.md), which refuses with PermissionDenied, so
# the stock backend after it never authenticates: it is listed only because
# sessions signed in before 2026-12-04 name it, and can go once they have
# expired (two weeks).
AUTHENTICATION_BACKENDS = [
    "chat.signin.SignInBackend",
    "chat.transport.django_fixes.ModelBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "chat:index"

# PostgreSQL URLs go to chat.transport.postgresql, which is Django's own
# backend plus a fix for psycopg2 2.9 (see that module).
DATABASES = {
    "default": dj_database_url.config(
        default="sqlite:///%s" % (BASE_DIR / "db.sqlite3"), conn_max_age=600
    )
}
if DATABASES["default"]["ENGINE"] in (
    "django.db.backends.postgresql",
    "django.db.backends.postgresql_psycopg2",
):
    DATABASES["default"]["ENGINE"] = "chat.transport.postgresql"
if env_str("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME")}

# The channel layer. Without REDIS_URL it is in-memory, which works only
# inside one process: runserver, or the unit tests. REDIS_SENTINELS and
# REDIS_SENTINEL_MASTER name the Redis through Sentinel instead (one master,
# no sharding), and then REDIS_URLS is empty.
REDIS_SENTINEL = redis_sentinel()
REDIS_URLS = redis_urls()
# Whether there is a Redis at all, by URL or through Sentinel: the channel
# layer, channel sessions, presence and the heartbeats all live there.
USE_REDIS = bool(REDIS_URLS or REDIS_SENTINEL)
# The key prefix of the channel layer and of channel sessions in Redis.
CHANNEL_LAYER_PREFIX = env_str("CHANNEL_LAYER_PREFIX", "asgi:")
CHANNEL_ROUTING = "routing.channel_routing"
# Capacities (messages waiting) of the channels CHANNEL_ROUTING consumes, by
# fnmatch glob: a few seconds of a busy site's requests and frames. A
# channel the routing consumes that no entry matches gets the layer's
# default of 100 and is logged when a worker starts; a custom channel's
# capacity goes here, beside its route. The layer sizes Daphne's own
# response channels itself (docs/channel-layer.md).
CHANNEL_CAPACITY = {
    "http.request": 1000,
    "http.disconnect": 1000,
    "websocket.connect": 2000,
    "websocket.receive": 2000,
    "websocket.disconnect": 2000,
    # The chat's background jobs (chat/routing.py): an image's thumbnail,
    # a message's webhook delivery.
    "chat.thumbnail": 1000,
    "chat.webhook": 2000,
    # A message sent later, back from the delay server (chat/scheduling.py),
    # and what the delay server reads: at most CHAT_SCHEDULED_MAX_PENDING
    # per author, so a few thousand is a busy minute.
    "chat.scheduled": 2000,
    "asgi.delay": 2000,
}
if REDIS_URLS or REDIS_SENTINEL:
    # chat/transport/layer/: asgi_redis, plus batched receives on one
    # persistent connection, a Group send in one round trip per shard,
    # capacities sized so a 1,000-member room's broadcast fits one Daphne's
    # response channel, and every refused send counted and logged
    # (docs/channel-layer.md).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chat.transport.layer.ChatChannelLayer",
            "ROUTING": CHANNEL_ROUTING,
            "CONFIG": {
                "hosts": REDIS_URLS,
                "prefix": CHANNEL_LAYER_PREFIX,
                "channel_capacity": CHANNEL_CAPACITY,
            },
        },
    }
    if REDIS_SENTINEL:
        CHANNEL_LAYERS["default"]["CONFIG"].update(
            hosts=None,
            sentinels=REDIS_SENTINEL["sentinels"],
            sentinel_master=REDIS_SENTINEL["master"],
            connection_kwargs={
                "db": REDIS_SENTINEL["db"],
                "password": REDIS_SENTINEL["password"],
            },
        )
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "asgiref.inmemory.ChannelLayer", "ROUTING": CHANNEL_ROUTING},
    }

# Channel sessions (a socket's room and its next expected frame) live in a
# cache, where every entry expires on its own: in Redis when there is one,
# else in process memory, which is enough for runserver's single process.
# HTTP sessions (the admin's) stay in the database.
# Values are JSON, not django-redis's default pickle: unpickling runs code,
# so a pickle planted in Redis would run on every worker that read it.
# chat/transport/channel_sessions.py reads an unreadable session as none.
CACHE_SERIALIZER = "django_redis.serializers.json.JSONSerializer"
if REDIS_URLS:
    CHANNEL_SESSION_CACHE = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URLS[0],
        "KEY_PREFIX": CHANNEL_LAYER_PREFIX + "session",
        "OPTIONS": {"SERIALIZER": CACHE_SERIALIZER},
    }
elif REDIS_SENTINEL:
    # chat/transport/sentinel.py: django-redis on the master Sentinel names.
    CHANNEL_SESSION_CACHE = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": [REDIS_SENTINEL["master"]],
        "KEY_PREFIX": CHANNEL_LAYER_PREFIX + "session",
        "OPTIONS": {
            "CLIENT_CLASS": "chat.transport.sentinel.SentinelClient",
            "SENTINELS": REDIS_SENTINEL["sentinels"],
            "DB": REDIS_SENTINEL["db"],
            "PASSWORD": REDIS_SENTINEL["password"],
            "SERIALIZER": CACHE_SERIALIZER,
        },
    }
else:
    CHANNEL_SESSION_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
# The channel sessions' Redis (and so the live counts', which share its
# connection) is the channel layer's first shard, in every branch above that
# has a Redis: writes to it can ride in a broadcast's Group send
# (chat/transport/riders.py).
CHAT_WRITES_RIDE_WITH_BROADCASTS = USE_REDIS
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "channel_sessions": CHANNEL_SESSION_CACHE,
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# chat/transport/channel_sessions.py: the cache store in two round trips per message.
CHANNEL_SESSION_ENGINE = "chat.transport.channel_sessions"
SESSION_CACHE_ALIAS = "channel_sessions"


def _tunable(name):
    return env_int(name, conf.DEFAULTS[name])


# The chat's tunables (chat/conf.py has what each means and its default),
# each overridable by the environment variable of the same name: the
# benchmark, for one, lifts the rate limit with CHAT_RATE_LIMIT_PER_MINUTE=0.
CHAT_MESSAGE_MAX_LENGTH = _tunable("CHAT_MESSAGE_MAX_LENGTH")
CHAT_HANDLE_MAX_LENGTH = _tunable("CHAT_HANDLE_MAX_LENGTH")
CHAT_HISTORY_LENGTH = _tunable("CHAT_HISTORY_LENGTH")
CHAT_RATE_LIMIT_BURST = _tunable("CHAT_RATE_LIMIT_BURST")
CHAT_RATE_LIMIT_PER_MINUTE = _tunable("CHAT_RATE_LIMIT_PER_MINUTE")
CHAT_SOCKET_BUFFER_MAX_BYTES = _tunable("CHAT_SOCKET_BUFFER_MAX_BYTES")
CHAT_SOCKET_BUFFER_SOFT_BYTES = _tunable("CHAT_SOCKET_BUFFER_SOFT_BYTES")
CHAT_SOCKET_STALL_SECONDS = _tunable("CHAT_SOCKET_STALL_SECONDS")
CHAT_CHANNEL_SESSION_SECONDS = _tunable("CHAT_CHANNEL_SESSION_SECONDS")
CHAT_GUEST_NAME_HOLD_SECONDS = _tunable("CHAT_GUEST_NAME_HOLD_SECONDS")
CHAT_HANDLE_RECHECK_SECONDS = _tunable("CHAT_HANDLE_RECHECK_SECONDS")
CHAT_PRESENCE_NAMES_MAX = _tunable("CHAT_PRESENCE_NAMES_MAX")
CHAT_UPLOAD_MAX_BYTES = _tunable("CHAT_UPLOAD_MAX_BYTES")
CHAT_HTTP_BODY_MAX_BYTES = _tunable("CHAT_HTTP_BODY_MAX_BYTES")
CHAT_UPLOAD_MAX_PIXELS = _tunable("CHAT_UPLOAD_MAX_PIXELS")
CHAT_UPLOAD_MAX_PIXELS_WEBP = _tunable("CHAT_UPLOAD_MAX_PIXELS_WEBP")
CHAT_UPLOAD_BURST = _tunable("CHAT_UPLOAD_BURST")
CHAT_UPLOAD_PER_MINUTE = _tunable("CHAT_UPLOAD_PER_MINUTE")
CHAT_JOB_ATTEMPTS = _tunable("CHAT_JOB_ATTEMPTS")
CHAT_JOB_TIMEOUT_SECONDS = _tunable("CHAT_JOB_TIMEOUT_SECONDS")
CHAT_ROOMS_PER_HOUR = _tunable("CHAT_ROOMS_PER_HOUR")
CHAT_ROOM_LIST_PAGE_SIZE = _tunable("CHAT_ROOM_LIST_PAGE_SIZE")
CHAT_SEARCH_PAGE_SIZE = _tunable("CHAT_SEARCH_PAGE_SIZE")
CHAT_SEARCH_MAX_RESULTS = _tunable("CHAT_SEARCH_MAX_RESULTS")
CHAT_SEARCH_BURST = _tunable("CHAT_SEARCH_BURST")
CHAT_SEARCH_PER_MINUTE = _tunable("CHAT_SEARCH_PER_MINUTE")
CHAT_SIGNIN_FAILURES_PER_USER = _tunable("CHAT_SIGNIN_FAILURES_PER_USER")
CHAT_SIGNIN_FAILURES_PER_ADDRESS = _tunable("CHAT_SIGNIN_FAILURES_PER_ADDRESS")
CHAT_SIGNIN_COOLOFF_MINUTES = _tunable("CHAT_SIGNIN_COOLOFF_MINUTES")
CHAT_SIGNUP_BURST = _tunable("CHAT_SIGNUP_BURST")
CHAT_SIGNUP_PER_HOUR = _tunable("CHAT_SIGNUP_PER_HOUR")
CHAT_EDIT_WINDOW_SECONDS = _tunable("CHAT_EDIT_WINDOW_SECONDS")
CHAT_REACTIONS_MAX_EMOJI = _tunable("CHAT_REACTIONS_MAX_EMOJI")
CHAT_SCHEDULED_MAX_DAYS = _tunable("CHAT_SCHEDULED_MAX_DAYS")
CHAT_SCHEDULED_MAX_PENDING = _tunable("CHAT_SCHEDULED_MAX_PENDING")
CHAT_API_INVALID_TOKEN_BURST = _tunable("CHAT_API_INVALID_TOKEN_BURST")
CHAT_API_INVALID_TOKENS_PER_MINUTE = _tunable("CHAT_API_INVALID_TOKENS_PER_MINUTE")
CHAT_PROXY_TRUSTED_HOPS = _tunable("CHAT_PROXY_TRUSTED_HOPS")

# Sign-in throttling: django-axes (chat/signin.py), on every form that
# signs in through django.contrib.auth, the admin's included. Failures are
# kept in the database, which every worker shares (the "default" cache is
# per process). The client is REMOTE_ADDR alone: Daphne sets it from the
# router's X-Forwarded-For (--proxy-headers, chat/transport/daphne_proxy.py),
# so axes must not read that header a second time.
AXES_HANDLER = "chat.signin.AddressAndUserHandler"
AXES_LOCK_OUT_BY_COMBINATION_USER_AND_IP = True
AXES_FAILURE_LIMIT = CHAT_SIGNIN_FAILURES_PER_USER
AXES_COOLOFF_TIME = timedelta(minutes=CHAT_SIGNIN_COOLOFF_MINUTES)
AXES_RESET_ON_SUCCESS = True
AXES_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_LOCKOUT_CALLABLE = "chat.signin.lockout_response"
# Its failures and lockouts are logged as warnings; its banner at start is not.
AXES_VERBOSE = False
# Failed attempts expire with the cool-off; a row for every successful
# sign-in would be kept for good, and nothing reads it.
AXES_DISABLE_ACCESS_LOG = True
# Outgoing webhooks (chat/outbound.py; docs/operations.md, "Webhook
# deliveries"): plain http only in development unless the environment says
# otherwise, and no network but the public internet unless named here.
CHAT_WEBHOOK_ALLOW_HTTP = env_bool("CHAT_WEBHOOK_ALLOW_HTTP", DEBUG)
CHAT_WEBHOOK_ALLOWED_NETWORKS = env_list("CHAT_WEBHOOK_ALLOWED_NETWORKS")
for _network in CHAT_WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            "CHAT_WEBHOOK_ALLOWED_NETWORKS must hold networks such as 10.1.2.0/24, "
            "comma-separated; %r is not one." % _network
        ) from None
CHAT_WEBHOOK_DEADLINE_SECONDS = env_int(
    "CHAT_WEBHOOK_DEADLINE_SECONDS", conf.DEFAULTS["CHAT_WEBHOOK_DEADLINE_SECONDS"], minimum=1
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_L10N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_STORAGE = "whitenoise.storage.CompressedStaticFilesStorage"
# Uploaded images (chat/images/), through Django's storage API: on disk
# under MEDIA_ROOT, served at MEDIA_URL by chat.images.views.media (in runserver
# and in the split alike), or wherever FILE_STORAGE keeps them.
MEDIA_URL = "/media/"
MEDIA_ROOT = env_str("MEDIA_ROOT", str(BASE_DIR / "media"))
DEFAULT_FILE_STORAGE = env_str("FILE_STORAGE", "django.core.files.storage.FileSystemStorage")
# django-storages' S3 backend, when FILE_STORAGE names it. Image URLs are
# kept in messages for good, so they are plain URLs, not signed ones that
# expire: the bucket (or AWS_S3_CUSTOM_DOMAIN's CDN) serves them publicly.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME") or None
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME") or None
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None
AWS_S3_CUSTOM_DOMAIN = env_str("AWS_S3_CUSTOM_DOMAIN") or None
AWS_QUERYSTRING_AUTH = False
AWS_DEFAULT_ACL = None
AWS_S3_OBJECT_PARAMETERS = {"CacheControl": "max-age=31536000, immutable"}


def media_origins():
    """The origins (list of str, e.g. ``["https://cdn.example.com"]``) that
    serve uploaded images when ``FILE_STORAGE`` keeps them off this site,
    for the pages' ``img-src``: ``AWS_S3_CUSTOM_DOMAIN``, else the origin of
    ``AWS_S3_ENDPOINT_URL``, else the bucket's two S3 host names (global
    and regional, as boto3 builds its URLs). Empty with the file system
    storage, whose images this site serves under MEDIA_URL."""
    if DEFAULT_FILE_STORAGE == "django.core.files.storage.FileSystemStorage":
        return []
    if AWS_S3_CUSTOM_DOMAIN:
        return ["https://" + AWS_S3_CUSTOM_DOMAIN]
    if AWS_S3_ENDPOINT_URL:
        endpoint = urlsplit(AWS_S3_ENDPOINT_URL)
        return ["%s://%s" % (endpoint.scheme, endpoint.netloc)]
    if AWS_STORAGE_BUCKET_NAME:
        hosts = ["https://%s.s3.amazonaws.com" % AWS_STORAGE_BUCKET_NAME]
        if AWS_S3_REGION_NAME:
            hosts.append(
                "https://%s.s3.%s.amazonaws.com" % (AWS_STORAGE_BUCKET_NAME, AWS_S3_REGION_NAME)
            )
        return hosts
    return []


# The pages' Content-Security-Policy (django-csp): scripts, styles, fonts,
# sockets and requests from this site only, images from it and from where
# uploads are kept, no plugins, no framing, no <base>, forms posted here.
# Whatever a message holds, the browser neither runs nor loads anything
# from elsewhere (docs/security.md, "What a message can hold"). CSP Level 3
# lets 'self' match this host's ws: and wss: URLs in connect-src. The media
# view sets its own, stricter, policy, which the middleware keeps.
CSP_DEFAULT_SRC = ("'self'",)
CSP_IMG_SRC = ("'self'", *media_origins(), *env_list("CSP_EXTRA_IMG_SRC"))
CSP_OBJECT_SRC = ("'none'",)
CSP_BASE_URI = ("'none'",)
CSP_FORM_ACTION = ("'self'",)
CSP_FRAME_ANCESTORS = ("'none'",)

# An upload larger than this (bytes) is written to a temporary file rather
# than kept in memory while the view checks it.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2621440
# A multipart body may carry at most this many files; the next is refused
# with 400 before it is opened (chat/transport/django_fixes.py, a backport
# of Django 3.2.18's limit for CVE-2023-24580, whose default is 100). The
# chat's own forms send one, the admin's at most two.
DATA_UPLOAD_MAX_NUMBER_FILES = 10
FILE_UPLOAD_HANDLERS = [
    "chat.transport.django_fixes.FileCountUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Serve straight from static/ in development, so runserver needs no collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = SECURE_SSL_REDIRECT
    CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading is a promise to browsers that is slow to take back, so it is
    # the site owner's call (SECURE_HSTS_PRELOAD=1), and the deploy check's
    # reminder about it is silenced while it is off.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_BROWSER_XSS_FILTER = True
    X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    # Django's default configuration gives the "django" logger a console
    # handler of its own in DEBUG, so its records (and channels' and
    # Daphne's under runserver) would print twice: once there, once at the
    # root. Every record goes through the root's one handler instead.
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True}},
}
