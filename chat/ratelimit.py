"""A per-socket rate limit: a token bucket kept in the channel session.

The token bucket is the classic one (as in RFC 2697's single-rate meter): a
socket holds up to ``CHAT_RATE_LIMIT_BURST`` tokens, gains
``CHAT_RATE_LIMIT_PER_MINUTE`` / 60 tokens a second, and spends one per
frame. A frame that finds no token is refused. Only the flooding socket is
refused; the room, and every other socket, goes on as before.

The arithmetic is ``conf.spend_token``, which Daphne's WebSocket protocol
(chat/transport/daphne_websocket.py) applies too, before a frame leaves the
interface server; this check stays as the second line.
"""

import math
import time
from urllib.parse import quote

from django.core.cache import caches

from chat import conf

# The cache that holds the buckets of HTTP senders (API tokens, uploaders):
# the channel sessions' (Redis in production), shared by every worker.
CACHE_ALIAS = "channel_sessions"

# The channel session key holding ``[tokens, unix time of the last update]``.
BUCKET_KEY = "rate"


def bucket_key(kind, *parts):
    """The cache key (str) of the token bucket of ``kind`` (str, a constant
    such as ``"upload"``) for the client named by ``parts`` (str or int
    each: ``("address", "10.0.0.1")``, say): ``rate:<kind>:<part>:…``.

    ``kind`` and each part are percent-encoded (``urllib.parse.quote`` with
    nothing kept safe), so none can contain the ``:`` that joins them and
    two different clients never share a bucket, whatever a session key or
    an address holds.
    """
    return ":".join(["rate"] + [quote(str(part), safe="") for part in (kind, *parts)])


def take_token(session, now=None):
    """Spend one of the socket's tokens. Returns True if there was one (the
    frame may go ahead), False if the socket is over its rate.

    ``session`` is the socket's channel session (read and updated; the
    caller saves it). ``now`` is the current Unix time in seconds (float),
    for tests. Always True when ``CHAT_RATE_LIMIT_PER_MINUTE`` is 0.
    """
    bucket = session.get(BUCKET_KEY)
    allowed, kept = conf.spend_token(bucket, time.time() if now is None else now)
    if kept is not bucket:
        session[BUCKET_KEY] = list(kept)
    return allowed


def client_address(request):
    """The address (str) every per-client limit of an HTTP request keys on:
    ``REMOTE_ADDR``, which Daphne sets from the connection, or behind a
    router from the router's ``X-Forwarded-For`` entry (``--proxy-headers``;
    docs/operations.md). Never read from a header here, which the client
    could write. ``""`` when there is none."""
    return request.META.get("REMOTE_ADDR") or ""


def peek_cached_token(key, burst, per_minute, now=None):
    """Whether the bucket under ``key`` (as ``take_cached_token`` keeps it)
    has a request left, spending nothing: None when it has, else the
    ``Retry-After`` in whole seconds (int, at least 1)."""
    if per_minute <= 0:
        return None
    bucket = caches[CACHE_ALIAS].get(key)
    if bucket is None:
        return None
    now = time.time() if now is None else now
    allowed, kept = conf.spend_token(tuple(bucket), now, burst=burst, per_minute=per_minute)
    if allowed:
        return None
    return max(1, math.ceil((1 - kept[0]) * 60 / per_minute))


def take_cached_token(key, burst, per_minute, now=None):
    """Spend one request from the token bucket kept under the cache key
    ``key`` (str) in the ``channel_sessions`` cache (Redis in production, so
    every worker process shares it), which holds up to ``burst`` (int)
    requests and gains ``per_minute`` (int or float, requests/minute; 0
    turns the limit off). ``now`` is the Unix time in seconds (float), for tests.

    Returns None when the request may go ahead, else how long to wait
    before one will, in whole seconds (int, at least 1): the
    ``Retry-After``. The bucket is read and written back without a lock,
    so requests under one key that arrive at the same instant may spend one
    token between them: the limit can be exceeded by the number of such
    requests, never by more."""
    if per_minute <= 0:
        return None
    now = time.time() if now is None else now
    cache = caches[CACHE_ALIAS]
    try:
        bucket = cache.get(key)
    except ValueError:
        # Not JSON: a pickle left by a release before 2026-12-04, or planted.
        bucket = None
    if not (isinstance(bucket, list) and len(bucket) == 2):
        # Nothing, or not a bucket: a full one, which the set below replaces.
        bucket = None
    allowed, kept = conf.spend_token(
        None if bucket is None else tuple(bucket), now, burst=burst, per_minute=per_minute
    )
    # A full bucket is no different from none, so the key may expire once
    # the bucket would have refilled.
    refill_seconds = math.ceil(burst * 60 / per_minute) + 1
    cache.set(key, list(kept), timeout=refill_seconds)
    if allowed:
        return None
    return max(1, math.ceil((1 - kept[0]) * 60 / per_minute))
