"""A per-socket rate limit: a token bucket kept in the channel session.

The token bucket is the classic one (as in RFC 2697's single-rate meter): a
socket holds up to ``CHAT_RATE_LIMIT_BURST`` tokens, gains
``CHAT_RATE_LIMIT_PER_MINUTE`` / 60 tokens a second, and spends one per
frame. A frame that finds no token is refused. Only the flooding socket is
refused; the room, and every other socket, goes on as before.
"""

import time

from chat import conf

# The channel session key holding ``[tokens, unix time of the last update]``.
BUCKET_KEY = "rate"


def take_token(session, now=None):
    """Spend one of the socket's tokens. Returns True if there was one (the
    frame may go ahead), False if the socket is over its rate.

    ``session`` is the socket's channel session (read and updated; the
    caller saves it). ``now`` is the current Unix time in seconds (float),
    for tests. Always True when ``CHAT_RATE_LIMIT_PER_MINUTE`` is 0.
    """
    per_minute = conf.get("CHAT_RATE_LIMIT_PER_MINUTE")
    if per_minute <= 0:
        return True
    burst = conf.get("CHAT_RATE_LIMIT_BURST")
    now = time.time() if now is None else now
    tokens, then = session.get(BUCKET_KEY, (burst, now))
    # A clock stepping back must not drain the bucket.
    tokens = min(burst, tokens + max(0.0, now - then) * per_minute / 60.0)
    allowed = tokens >= 1
    session[BUCKET_KEY] = [tokens - 1 if allowed else tokens, now]
    return allowed
