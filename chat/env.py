"""Reading the deployment's environment variables, one reader per type.

``chat/settings.py`` reads every variable through these, once each, and the
benchmark reads ``REDIS_URL`` through ``redis_urls``, so a variable means the
same thing wherever it is read; ``redis_sentinel`` reads the ``REDIS_SENTINEL*``
variables, the other way to name the chat's Redis. A value that cannot be read raises
``ImproperlyConfigured`` naming the variable and what it should be; an
unset or blank variable gives the default.
"""

import os

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def env_str(name, default=""):
    """The variable ``name`` (str) stripped of surrounding blanks, or
    ``default`` when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or default


def env_bool(name, default):
    """The variable ``name`` as a bool: ``1``, ``true``, ``yes``, ``on`` or
    ``0``, ``false``, ``no``, ``off`` in any case; ``default`` when unset.

    Raises ``ImproperlyConfigured`` for any other value."""
    value = env_str(name).lower()
    if not value:
        return default
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        "%s must be one of %s, not %r."
        % (name, ", ".join(sorted(TRUE_WORDS | FALSE_WORDS)), os.environ[name])
    )


def env_int(name, default, minimum=0):
    """The variable ``name`` as an int of at least ``minimum``; ``default``
    when unset. Raises ``ImproperlyConfigured`` for anything else."""
    value = env_str(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured("%s must be an integer, not %r." % (name, value)) from None
    if number < minimum:
        raise ImproperlyConfigured("%s must be at least %d, not %d." % (name, minimum, number))
    return number


def env_list(name, default=()):
    """The comma-separated variable ``name`` as a list of str, blanks
    dropped; a list of ``default`` when it holds nothing."""
    items = [item.strip() for item in env_str(name).split(",") if item.strip()]
    return items or list(default)


def redis_urls():
    """``REDIS_URL`` as a list of ``redis://`` URLs (str), one per shard of
    the channel layer; empty when unset.

    Raises ``ImproperlyConfigured`` for an entry that is not a ``redis://``,
    ``rediss://`` or ``unix://`` URL."""
    urls = env_list("REDIS_URL")
    for url in urls:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ImproperlyConfigured(
                "REDIS_URL must hold redis:// URLs, comma-separated; %r is not one." % url
            )
    return urls


SENTINEL_VARIABLES = (
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_MASTER",
    "REDIS_SENTINEL_DB",
    "REDIS_SENTINEL_PASSWORD",
)


def redis_sentinel():
    """The Redis Sentinel settings, or None when ``REDIS_SENTINELS`` and
    ``REDIS_SENTINEL_MASTER`` are unset.

    Returns a dict: ``sentinels``, a list of ``(host, port)`` (str, int) from
    ``REDIS_SENTINELS`` (comma-separated ``host:port``, the port 26379 when
    left out); ``master``, the monitored master's name (str) from
    ``REDIS_SENTINEL_MASTER``; ``db`` (int, 0 when unset) from
    ``REDIS_SENTINEL_DB``; ``password``, the master's (str, or None when
    unset) from ``REDIS_SENTINEL_PASSWORD``.

    Raises ``ImproperlyConfigured`` naming the variables when ``REDIS_URL``
    is set as well, when only one of ``REDIS_SENTINELS`` and
    ``REDIS_SENTINEL_MASTER`` is, or when an entry is not ``host:port``."""
    given = [name for name in SENTINEL_VARIABLES if env_str(name)]
    if not given:
        return None
    if env_str("REDIS_URL"):
        raise ImproperlyConfigured(
            "Set REDIS_URL or REDIS_SENTINELS and REDIS_SENTINEL_MASTER, not both "
            "(%s set as well as REDIS_URL)." % ", ".join(given)
        )
    missing = [name for name in SENTINEL_VARIABLES[:2] if name not in given]
    if missing:
        raise ImproperlyConfigured(
            "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together; %s is unset (%s set)."
            % (" and ".join(missing), ", ".join(given))
        )
    return {
        "sentinels": [_sentinel_address(entry) for entry in env_list("REDIS_SENTINELS")],
        "master": env_str("REDIS_SENTINEL_MASTER"),
        "db": env_int("REDIS_SENTINEL_DB", 0),
        "password": env_str("REDIS_SENTINEL_PASSWORD") or None,
    }


def _sentinel_address(entry):
    host, colon, port = entry.rpartition(":")
    if not colon:
        host, port = entry, "26379"
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(
            "REDIS_SENTINELS must hold host:port entries, comma-separated; %r is not one." % entry
        )
    return host, int(port)
