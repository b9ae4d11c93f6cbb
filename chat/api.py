"""The HTTP API for bots: ``/api/rooms/<label>/messages``, and (added
2026-12-05) ``/api/rooms/<label>/messages/<id>``.

A bot posts a chat message into an existing room, reads the room's
messages, and edits or deletes its own messages, with a bearer token
(``ApiToken``, made with ``manage.py chattoken create`` or in the admin)
in the ``Authorization`` header. No
cookie is read or set, so the API needs no CSRF token. Bodies and answers
are JSON; every refusal is ``ClientError.as_dict()`` with the error's
status. docs/protocol.md describes the endpoints.

Each token has a token bucket of its own, with the sockets' limits
(``CHAT_RATE_LIMIT_BURST`` requests at once, then
``CHAT_RATE_LIMIT_PER_MINUTE`` a minute; ``conf.spend_token``), kept in the
``channel_sessions`` cache (Redis in production) under the token's id, so
every worker process shares it. Unknown or revoked tokens are limited per
client address (``authenticate_within_limit``).
"""

import functools
import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.db import Error
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from chat import conf, selectors, services, views
from chat.conversations import changes
from chat.conversations.rules import Actor
from chat.exceptions import ClientError, HttpClientError, error_response
from chat.models import ApiToken
from chat.protocol import check_message, parse_chat_frame
from chat.ratelimit import bucket_key, client_address, peek_cached_token, take_cached_token

logger = logging.getLogger(__name__)


# Where a bearer token is looked for: RFC 6750's header form only, never a
# query parameter, which would end up in logs.
BEARER_PREFIX = "bearer "

# The challenge of a 401 for a token that was given but is unknown or
# revoked (RFC 6750, section 3.1), as opposed to no token at all.
INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'


def json_api(view):
    """Decorate an API view: CSRF-exempt, and a ``ClientError`` it raises
    becomes a JSON answer (``ClientError.as_dict()``) with the error's
    status, and the headers of an ``HttpClientError``.

    The view is called as ``view(request, api_token, **kwargs)`` with the
    request's ``ApiToken``, once the request is authenticated (else 401
    ``UNAUTHORIZED``, or 429 ``RATE_LIMITED`` from an address over its
    invalid tokens: ``authenticate_within_limit``) and within its token's
    rate (else 429 ``RATE_LIMITED``)."""

    @csrf_exempt
    @functools.wraps(view)
    def inner(request, **kwargs):
        try:
            api_token = authenticate_within_limit(request)
            retry_after = take_token(api_token)
            if retry_after is not None:
                raise HttpClientError(
                    "RATE_LIMITED",
                    conf.RATE_LIMITED_DETAIL,
                    status=429,
                    headers={"Retry-After": str(retry_after)},
                )
            return view(request, api_token, **kwargs)
        except ClientError as error:
            return error_response(error)

    return inner


def authenticate(request):
    """The unrevoked ``ApiToken`` of ``request``'s ``Authorization: Bearer
    <token>`` header; its ``last_used_at`` is set to now (one UPDATE).

    Raises ``HttpClientError("UNAUTHORIZED")`` (status 401, with
    ``WWW-Authenticate: Bearer``, and ``error="invalid_token"`` when a token
    was given but is unknown or revoked, as RFC 6750 says)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, secret = header[: len(BEARER_PREFIX)], header[len(BEARER_PREFIX) :].strip()
    if scheme.lower() != BEARER_PREFIX or not secret:
        raise HttpClientError(
            "UNAUTHORIZED",
            "Send an API token as 'Authorization: Bearer <token>'.",
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    api_token = ApiToken.find_active(secret)
    if api_token is None:
        raise HttpClientError(
            "UNAUTHORIZED",
            "The API token is not valid, or has been revoked.",
            status=401,
            headers={"WWW-Authenticate": INVALID_TOKEN_CHALLENGE},
        )
    api_token.last_used_at = timezone.now()
    ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=api_token.last_used_at)
    return api_token


def authenticate_within_limit(request, now=None):
    """``authenticate(request)``, with the unknown or revoked tokens of the
    request's client address (``ratelimit.client_address``) limited:
    ``CHAT_API_INVALID_TOKEN_BURST`` at once, then
    ``CHAT_API_INVALID_TOKENS_PER_MINUTE``. An address over that limit gets
    ``HttpClientError("RATE_LIMITED")`` (429, ``Retry-After`` in seconds)
    for every request, with a valid token or not, until its bucket refills,
    so that a guess that hits is not told apart from one that missed.
    ``now`` is the Unix time in seconds (float), for tests.

    Returns the ``ApiToken``; raises as ``authenticate`` does otherwise."""
    key = bucket_key("api-invalid-token", "address", client_address(request))
    burst = conf.get("CHAT_API_INVALID_TOKEN_BURST")
    per_minute = conf.get("CHAT_API_INVALID_TOKENS_PER_MINUTE")
    retry_after = peek_cached_token(key, burst, per_minute, now=now)
    if retry_after is None:
        try:
            return authenticate(request)
        except HttpClientError as error:
            if error.headers.get("WWW-Authenticate") != INVALID_TOKEN_CHALLENGE:
                raise
            retry_after = take_cached_token(key, burst, per_minute, now=now)
            if retry_after is None:
                raise
    raise HttpClientError(
        "RATE_LIMITED",
        "Too many invalid API tokens from here; wait and try again.",
        status=429,
        headers={"Retry-After": str(retry_after)},
    )


def take_token(api_token, now=None):
    """Spend one request from ``api_token``'s bucket
    (``ratelimit.take_cached_token`` with the sockets' limits). Returns None
    when the request may go ahead, else the ``Retry-After`` in whole
    seconds (int, at least 1). ``now`` is the Unix time in seconds (float),
    for tests."""
    return take_cached_token(
        bucket_key("api", api_token.pk),
        conf.get("CHAT_RATE_LIMIT_BURST"),
        conf.get("CHAT_RATE_LIMIT_PER_MINUTE"),
        now=now,
    )


@json_api
def room_messages(request, api_token, label):
    """``/api/rooms/<label>/messages``.

    ``POST`` with a JSON body ``{"handle": str, "message": str}`` posts a
    bot's message into the room (``services.say`` with ``bot=True``, the
    token recorded as its author) and answers 201 with
    ``Message.as_dict()`` (``"bot": true`` included). The
    body is checked as a socket's chat frame is (``parse_chat_frame``), with
    the same 400 codes: ``INVALID_JSON``, ``FRAME_TOO_LARGE``,
    ``INVALID_FRAME``, ``MISSING_FIELD``, ``INVALID_FIELD``,
    ``HANDLE_EMPTY``, ``HANDLE_TOO_LONG``, ``MESSAGE_EMPTY``,
    ``MESSAGE_TOO_LONG``. 503 ``UNAVAILABLE`` when it cannot be stored.

    ``GET`` is the catch-up endpoint (``views.messages``: ``after``,
    ``before``, ``limit``; 400 ``INVALID_PARAMETER``).

    Both: 401 ``UNAUTHORIZED`` and 429 ``RATE_LIMITED`` (``json_api``),
    404 ``NOT_FOUND`` for a room that does not exist (never created here),
    and the same for a private room, since a bot is nobody's account and
    reads as nobody (``selectors.can_read``); 405 ``METHOD_NOT_ALLOWED`` for another method."""
    if request.method == "POST":
        return _post(request, label, api_token)
    if request.method == "GET":
        room = selectors.find_room(label)
        # views.messages would let a request that also carries a member's
        # session cookie in; the token speaks for a bot, never a member.
        if room is not None and not selectors.can_read(None, room):
            raise ClientError("NOT_FOUND", "No such room.", status=404)
        return views.messages(request, label)
    raise HttpClientError(
        "METHOD_NOT_ALLOWED",
        "Use GET or POST.",
        status=405,
        headers={"Allow": "GET, POST"},
    )


def _body(request):
    """The request's body as text (str); raises ``ClientError``
    (``FRAME_TOO_LARGE``, ``INVALID_JSON``)."""
    try:
        return request.body.decode("utf-8")
    except RequestDataTooBig:
        raise ClientError("FRAME_TOO_LARGE", conf.FRAME_TOO_LARGE_DETAIL) from None
    except UnicodeDecodeError:
        raise ClientError("INVALID_JSON", "The body is not valid UTF-8 JSON.") from None


def _post(request, label, api_token):
    handle, text = parse_chat_frame({"text": _body(request)})
    try:
        message = services.say(label, handle, text, bot=True, api_token=api_token)
    except Error:
        logger.exception("Could not store a bot's message in room %s", label)
        raise ClientError(
            "UNAVAILABLE", "The message could not be stored; try again.", status=503
        ) from None
    return JsonResponse(message.as_dict(), status=201)


@json_api
def room_message(request, api_token, label, message_id):
    """``/api/rooms/<label>/messages/<id>`` (added 2026-12-05): a bot edits
    or deletes one of its own messages, those posted with the same token
    (``chat.conversations.rules``).

    ``PATCH`` with a JSON body ``{"message": str}`` (the text checked as a
    chat frame's, ``check_message``) replaces the message's text, within
    ``CHAT_EDIT_WINDOW_SECONDS`` of posting it, and answers 200 with the
    message as it is now (``Message.as_dict()``). ``DELETE`` deletes it and
    answers 200 with its tombstone. Both reach the room's members as change
    frames and its webhook as ``edit`` and ``delete`` events.

    Refusals (``ClientError.as_dict()``): 401 ``UNAUTHORIZED`` and 429
    ``RATE_LIMITED`` (``json_api``); 400 ``INVALID_JSON``,
    ``INVALID_FRAME`` (not an object, or fields other than ``message``),
    ``MISSING_FIELD``, ``INVALID_FIELD``, ``MESSAGE_EMPTY``,
    ``MESSAGE_TOO_LONG``, ``FRAME_TOO_LARGE`` for a bad body; 404
    ``NOT_FOUND`` for a room that does not exist or is private (a bot
    reads as nobody); 404 ``MESSAGE_NOT_FOUND`` for a message that is not
    the room's or is deleted; 403 ``NOT_YOURS`` for a message the token
    did not post; 403 ``TOO_LATE`` for an edit past the window; 503
    ``UNAVAILABLE`` when it cannot be stored; 405
    ``METHOD_NOT_ALLOWED`` for another method."""
    if request.method not in ("PATCH", "DELETE"):
        raise HttpClientError(
            "METHOD_NOT_ALLOWED",
            "Use PATCH or DELETE.",
            status=405,
            headers={"Allow": "PATCH, DELETE"},
        )
    text = _edit_text(request) if request.method == "PATCH" else None
    # A bot is nobody's account, and reads as nobody.
    room = selectors.readable_room(None, label)
    bot = Actor(api_token_id=api_token.pk)
    try:
        if text is not None:
            message = changes.edit(room, bot, message_id, text)
        else:
            message = changes.delete(room, bot, message_id)
    except Error:
        logger.exception("Could not store a bot's change in room %s", label)
        raise ClientError(
            "UNAVAILABLE", "The change could not be stored; try again.", status=503
        ) from None
    return JsonResponse(message.as_dict())


def _edit_text(request):
    """The new text (str) of a ``PATCH``'s body, ``{"message": str}``,
    checked as a chat frame's; raises ``ClientError`` (400)."""
    try:
        body = json.loads(_body(request))
    except (ValueError, RecursionError):
        raise ClientError("INVALID_JSON", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ClientError("INVALID_FRAME", "The body must be a JSON object.")
    unknown = sorted(set(body) - {"message"})
    if unknown:
        raise ClientError("INVALID_FRAME", "Unknown field(s): %s." % ", ".join(map(repr, unknown)))
    if "message" not in body:
        raise ClientError("MISSING_FIELD", "The field 'message' is required.")
    if not isinstance(body["message"], str):
        raise ClientError("INVALID_FIELD", "The field 'message' must be a string.")
    return check_message(body["message"])
