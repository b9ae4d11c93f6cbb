"""The chat's tunables, in one place.

Each is read from a Django setting of the same name when set, so a deployment
(through the environment variable of that name, read in chat/settings.py)
or a test (through ``override_settings``) can change it; otherwise the
default here applies. Lengths are in characters (Unicode code points).
"""

import re

from django.conf import settings

DEFAULTS = {
    # Longest message body accepted, in characters.
    "CHAT_MESSAGE_MAX_LENGTH": 2000,
    # Longest handle (display name) accepted, in characters.
    "CHAT_HANDLE_MAX_LENGTH": 50,
    # How many messages a room page shows, newest last.
    "CHAT_HISTORY_LENGTH": 50,
    # Per-socket rate limit, a token bucket: a socket may send this many
    # frames at once (messages)...
    "CHAT_RATE_LIMIT_BURST": 10,
    # ...and this many per minute after that (messages/minute); 0 turns the
    # limit off.
    "CHAT_RATE_LIMIT_PER_MINUTE": 120,
    # A WebSocket whose client leaves this many bytes unread is cut off at
    # once (bytes; chat/transport/daphne_websocket.py)...
    "CHAT_SOCKET_BUFFER_MAX_BYTES": 1048576,
    # ...and one that leaves more than this unread (bytes)...
    "CHAT_SOCKET_BUFFER_SOFT_BYTES": 65536,
    # ...for longer than this (seconds).
    "CHAT_SOCKET_STALL_SECONDS": 10,
    # How long a channel session outlives its socket's last frame, in seconds:
    # a day, the longest Daphne keeps a socket open by default (its
    # websocket_timeout defaults to the layer's group_expiry, 86,400 s), plus
    # an hour. A session whose disconnect never ran expires after this.
    "CHAT_CHANNEL_SESSION_SECONDS": 90000,
    # Above this many distinct handles in a room, presence frames carry
    # counts instead of names (handles): a roster nobody can read on one
    # screen, sent to every member, is cost with no use.
    "CHAT_PRESENCE_NAMES_MAX": 100,
    # Largest image file accepted by the upload view, in bytes (10 MiB).
    # Daphne refuses an upload's body over this plus UPLOAD_FORM_OVERHEAD_BYTES
    # with 413 before reading it (chat/transport/daphne_http.py).
    "CHAT_UPLOAD_MAX_BYTES": 10 * 1024 * 1024,
    # Longest request body Daphne reads on any other path, in bytes: the
    # forms and the bot API's JSON take a few KiB. A longer one is refused
    # with 413 from its Content-Length, or once a chunked body passes it,
    # before it is held whole (chat/transport/daphne_http.py).
    "CHAT_HTTP_BODY_MAX_BYTES": 65536,
    # Most pixels (width × height) an uploaded image may have: a
    # decompression bomb, a small file that decodes to gigabytes, is refused
    # from its header before any decoding. 50 Mpx is a 48 MP phone camera's
    # full-size photo with room to spare, and about 200 MB once decoded.
    # The thumbnail job decodes a JPEG at 1/8 to 1/2 of its size, so its
    # memory hardly grows with this; a PNG or GIF is decoded whole, at up to
    # 4 bytes a pixel: 50 Mpx peak at about 240 MB (docs/operations.md,
    # "Image limits").
    "CHAT_UPLOAD_MAX_PIXELS": 50_000_000,
    # Most pixels of a WebP, which libwebp decodes into two full canvases
    # besides Pillow's copy, about 16 bytes a pixel: 16 Mpx (a 4000 × 4000
    # image) peaks at about 260 MB, the PNG's worst, where 50 Mpx took 800.
    "CHAT_UPLOAD_MAX_PIXELS_WEBP": 16_000_000,
    # Per-sender upload rate limit, a token bucket like the sockets': this
    # many uploads at once...
    "CHAT_UPLOAD_BURST": 5,
    # ...and this many per minute after that (uploads/minute); 0 turns it off.
    "CHAT_UPLOAD_PER_MINUTE": 20,
    # New rooms one client address may create, per hour (a token bucket of
    # this many, refilled over the hour): the seed's "created on first
    # visit" stays, but a script visiting a million labels does not make a
    # million rooms. 20 an hour is more than a person opens by hand. 0
    # turns the limit off.
    "CHAT_ROOMS_PER_HOUR": 20,
    # How many rooms the room list shows a page.
    "CHAT_ROOM_LIST_PAGE_SIZE": 50,
    # Search results a page (/search/), newest first.
    "CHAT_SEARCH_PAGE_SIZE": 20,
    # The most results a search counts: beyond this it says "1,000+" and
    # offers no later pages, so that a common word never counts a million
    # rows (messages).
    "CHAT_SEARCH_MAX_RESULTS": 1000,
    # Searches per client address, a token bucket: this many at once...
    "CHAT_SEARCH_BURST": 20,
    # ...and this many a minute after that (searches/minute; 0 turns the
    # limit off). A phrase of common words costs PostgreSQL up to about
    # 100 ms on a million messages (docs/performance.md), so one client
    # cannot keep a core busy.
    "CHAT_SEARCH_PER_MINUTE": 60,
    # Sign-in (/accounts/login/ and the admin's) through django-axes
    # (chat/signin.py; docs/security.md): after this many wrong passwords
    # for one username from one client address...
    "CHAT_SIGNIN_FAILURES_PER_USER": 5,
    # ...or this many from one address whatever the usernames (higher, so
    # that people behind one address do not lock each other out at once)...
    "CHAT_SIGNIN_FAILURES_PER_ADDRESS": 20,
    # ...that username from that address (or that address) is refused, with
    # 429, until this many minutes after its last failure. A correct
    # password clears its username's failures from that address. A username
    # alone is never locked: a guesser could otherwise lock its owner out.
    "CHAT_SIGNIN_COOLOFF_MINUTES": 15,
    # Sign-up (/accounts/signup/), a token bucket per client address: this
    # many attempts at once...
    "CHAT_SIGNUP_BURST": 10,
    # ...and this many an hour after that (attempts/hour); 0 turns it off.
    "CHAT_SIGNUP_PER_HOUR": 10,
    # The bot API's unknown or revoked tokens, a token bucket per client
    # address: this many at once...
    "CHAT_API_INVALID_TOKEN_BURST": 10,
    # ...and this many a minute after that; beyond it every request from
    # that address gets 429 until the bucket refills. 0 turns it off.
    "CHAT_API_INVALID_TOKENS_PER_MINUTE": 10,
    # Which entry of X-Forwarded-For is the client's when Daphne runs with
    # --proxy-headers (chat/transport/daphne_proxy.py): counted from the
    # right, 1 being the one the router in front of Daphne appended.
    "CHAT_PROXY_TRUSTED_HOPS": 1,
    # How many times an image job is started before it counts as failed:
    # a worker that dies mid-job costs one attempt.
    "CHAT_JOB_ATTEMPTS": 3,
    # A job nobody has started this long after it was queued, in seconds,
    # is lost (the channel layer drops a message after its expiry, 60 s)
    # and counts as failed; the sender can retry it.
    "CHAT_JOB_TIMEOUT_SECONDS": 120,
    # How long a guest name stays "in use" after a guest last used it, in
    # seconds: sign-up refuses such a name (chat/identity.py). A guest's
    # socket renews it at connect and at every ping (every 20 s), so 60 s
    # outlasts two lost pings.
    "CHAT_GUEST_NAME_HOLD_SECONDS": 60,
    # How long a socket without a signed-in user may go on using a handle it
    # was allowed, in seconds, before the handle is checked against the
    # registered usernames again: a check costs a query, so it is not paid
    # per message, and a name registered meanwhile is refused to such a
    # socket within this long.
    "CHAT_HANDLE_RECHECK_SECONDS": 60,
    # Outgoing webhooks (chat/outbound.py). Whether a webhook URL may be
    # plain http (bool): chat/settings.py turns it on with DEBUG, for a
    # receiver on a developer's machine; a deployment leaves it off, so
    # deliveries cannot be read or changed on the way.
    "CHAT_WEBHOOK_ALLOW_HTTP": False,
    # Networks (a list of CIDR strings, e.g. ["10.1.2.0/24"]) a webhook may
    # reach although they are not public: loopback, private ranges. Empty,
    # the default, lets webhooks reach public addresses only; each network
    # named here is one a staff member can point deliveries into.
    "CHAT_WEBHOOK_ALLOWED_NETWORKS": [],
    # The longest one try of a delivery may take, in seconds: connecting,
    # TLS, sending and the answer's status line and headers together. Ten
    # seconds is ample for a healthy receiver anywhere, and bounds how long
    # a pool thread can be held by one that trickles its answer.
    "CHAT_WEBHOOK_DEADLINE_SECONDS": 10,
    # How long after sending it its author may edit a message, in seconds
    # (chat/conversations/rules.py); 0 lets them edit it at any time.
    # Ten minutes is Zulip's default for an organization
    # (Realm.DEFAULT_MESSAGE_CONTENT_EDIT_LIMIT_SECONDS = 600 in its
    # zerver/models.py): long enough to fix a typo noticed after a reply,
    # short enough that a conversation is not rewritten long after.
    # Deleting is not limited in time.
    "CHAT_EDIT_WINDOW_SECONDS": 600,
    # Most distinct emoji on one message: a reaction with a new emoji
    # beyond it is refused with TOO_MANY_REACTIONS (docs/protocol.md).
    # Discord allows 20 distinct reactions on a message; a row of 20 fits
    # under a message on a phone.
    "CHAT_REACTIONS_MAX_EMOJI": 20,
    # Messages sent later (chat/scheduling.py): how far ahead one may be
    # scheduled, in days (30: a month's reminders; the delay server keeps
    # each as a row until then)...
    "CHAT_SCHEDULED_MAX_DAYS": 30,
    # ...and how many one author may have pending at once, over all rooms
    # (25: a fortnight of daily reminders with room to spare, and a bound on
    # what one guest's session can leave in the delay server).
    "CHAT_SCHEDULED_MAX_PENDING": 25,
}

# The intervals of docs/protocol.md's typed frames, in ms, which the server
# keeps and the room page is given: a socket's typing frames are relayed at
# most once per TYPING_INTERVAL_MS; its read marks are written at most once
# per READ_INTERVAL_MS; the page pings every PING_INTERVAL_MS, well inside
# the 60 s in which a lost member must leave every roster.
TYPING_INTERVAL_MS = 2000
READ_INTERVAL_MS = 5000
PING_INTERVAL_MS = 20000

# Longest room label, in characters. It is the width of the Room.label column,
# so it is fixed here rather than a setting: changing it needs a migration.
LABEL_MAX_LENGTH = 50

# Longest client nonce a chat frame may carry, in characters
# (docs/protocol.md, "Sending"): the width of the Message.nonce column, so
# fixed here too. A UUID takes 36.
NONCE_MAX_LENGTH = 64

# Labels that would shadow the site's own pages (/new/, /admin/, /static/,
# /accounts/, /api/, /media/, /search/, and the /stream/ socket). A room
# that held "search" or "stream" before 2026-12-05 was given a new label by
# migration 0012 (docs/operations.md, "Search").
RESERVED_LABELS = frozenset(
    {"new", "admin", "static", "accounts", "api", "media", "search", "stream"}
)

# The text search configuration (PostgreSQL's regconfig) of the search
# column and of every search query: English stemming and stop words. The
# stored column is computed with it (migration 0012), so changing it needs a
# migration; fixed here rather than a setting.
SEARCH_CONFIG = "english"

# A room label is a Django slug: ASCII letters, digits, hyphens, underscores.
# Names derived from a label rely on what it cannot contain: "." joins the
# parts of its Groups' names (Room.GROUP_NAME), ":" and a newline those of
# its presence keys (chat/presence/stores.py). \Z, not $, which would also
# match before a final newline: /chat/X%0A/ was room "X\n".
LABEL_RE = re.compile(r"\A[-a-zA-Z0-9_]+\Z")


def get(name):
    """Return the tunable ``name`` (a key of ``DEFAULTS``), an int unless
    its entry there says otherwise: the
    setting of that name (chat/settings.py reads it from the environment),
    else the default here.

    Raises ``KeyError`` for a name that is not a chat tunable.
    """
    return getattr(settings, name, DEFAULTS[name])


# The ``detail`` of the refusals that both Daphne (chat/transport/
# daphne_websocket.py) and the workers send, so a client sees one text
# whichever refused.
RATE_LIMITED_DETAIL = "Too many messages; wait a moment and try again."
FRAME_TOO_LARGE_DETAIL = "The frame is too large."


def max_frame_length():
    """The longest frame worth parsing: in characters for a text frame, in
    bytes for a binary one (int).

    A valid frame is at most three JSON strings of at most the configured
    lengths (a handle, a message and, since 2026-12-05, a nonce of
    ``NONCE_MAX_LENGTH``); JSON escaping can grow a character to 12 (a
    ``\\uXXXX`` surrogate pair), and 200 characters cover the braces, keys,
    a message id and spacing. Longer frames are refused before
    ``json.loads`` sees them, which bounds the work one frame can cost.
    """
    longest = get("CHAT_MESSAGE_MAX_LENGTH") + get("CHAT_HANDLE_MAX_LENGTH") + NONCE_MAX_LENGTH
    return 12 * longest + 200


# What an upload's multipart form adds to the image, in bytes: the
# boundaries and part headers, the CSRF token, the handle and a caption of
# CHAT_MESSAGE_MAX_LENGTH characters (at most 4 bytes each in UTF-8) take
# under 10 KiB; 64 KiB leaves room for long file names and browsers' extras.
UPLOAD_FORM_OVERHEAD_BYTES = 65536

# The upload endpoint's path, ``/<label>/upload/`` (chat/urls.py, whose
# ``<slug:label>`` is this character class); tests/test_daphne_http.py
# checks it against the URL Django reverses.
UPLOAD_PATH_RE = re.compile(r"^/[-a-zA-Z0-9_]+/upload/$")


def http_body_max_bytes(path):
    """The longest request body (int, bytes) Daphne accepts for ``path``
    (str, the request's path as Django sees it, percent-decoded, without
    the query string): ``CHAT_UPLOAD_MAX_BYTES`` plus
    ``UPLOAD_FORM_OVERHEAD_BYTES`` on the upload endpoint, else
    ``CHAT_HTTP_BODY_MAX_BYTES``."""
    if UPLOAD_PATH_RE.match(path):
        return get("CHAT_UPLOAD_MAX_BYTES") + UPLOAD_FORM_OVERHEAD_BYTES
    return get("CHAT_HTTP_BODY_MAX_BYTES")


def websocket_payload_max_bytes():
    """The longest WebSocket message (and frame) Daphne reads, in bytes
    (int): ``max_frame_length()`` characters at 4 bytes each, UTF-8's
    longest, so that every frame the protocol accepts fits. A longer one
    closes the socket with 1009 before it is buffered
    (chat/transport/daphne_websocket.py); one under this but over
    ``max_frame_length()`` gets the ``FRAME_TOO_LARGE`` error frame."""
    return 4 * max_frame_length()


def spend_token(bucket, now, burst=None, per_minute=None):
    """One frame's pass through a socket's token bucket (chat/ratelimit.py
    describes it): it holds up to ``burst`` tokens, gains ``per_minute`` /
    60 a second, and a frame spends one. ``burst`` and ``per_minute`` (int)
    are ``CHAT_RATE_LIMIT_BURST`` and ``CHAT_RATE_LIMIT_PER_MINUTE`` (the
    sockets' and the API's limit) when None.

    ``bucket`` is ``(tokens, time of the last update)`` as this returned it
    before, or None for a socket that has sent nothing yet (a full bucket);
    ``now`` is the time in seconds (float), on the clock ``bucket`` was kept
    on. Returns ``(allowed, bucket)``: whether the frame may go ahead (bool),
    and the bucket to keep. With ``per_minute`` 0 the limit is off: always
    allowed, and ``bucket`` is returned as it came.
    """
    if per_minute is None:
        per_minute = get("CHAT_RATE_LIMIT_PER_MINUTE")
    if per_minute <= 0:
        return True, bucket
    if burst is None:
        burst = get("CHAT_RATE_LIMIT_BURST")
    tokens, then = (burst, now) if bucket is None else bucket
    # A clock stepping back must not drain the bucket.
    tokens = min(burst, tokens + max(0.0, now - then) * per_minute / 60.0)
    allowed = tokens >= 1
    return allowed, (tokens - 1 if allowed else tokens, now)


def is_valid_label(label):
    """Return True when ``label`` (str) may name a room: a slug of 1 to
    ``LABEL_MAX_LENGTH`` characters that is not one of ``RESERVED_LABELS``."""
    return (
        bool(LABEL_RE.match(label))
        and len(label) <= LABEL_MAX_LENGTH
        and label not in RESERVED_LABELS
    )
