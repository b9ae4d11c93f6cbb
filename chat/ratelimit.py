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
    bucket = session.get(BUCKET_KEY)
    allowed, kept = conf.spend_token(bucket, time.time() if now is None else now)
    if kept is not bucket:
        session[BUCKET_KEY] = list(kept)
    return allowed
