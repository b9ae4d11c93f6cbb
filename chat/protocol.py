"""Parsing and validating the frames clients send over ``/chat/<label>/``.

docs/protocol.md describes the frames. Everything here raises
``ClientError`` for input it refuses, never anything else, so one place in
the consumers can turn every refusal into an error frame.
"""

import json
import re

from chat import conf
from chat.exceptions import ClientError

CHAT_FIELDS = ("handle", "message")

# Characters a field may not carry. Lone surrogates cannot be stored as UTF-8,
# and PostgreSQL text cannot hold NUL. A message may still hold line breaks and
# tabs; a handle holds no control character at all (Unicode category Cc).
MESSAGE_FORBIDDEN_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
HANDLE_FORBIDDEN_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def max_frame_length():
    """The longest text frame worth parsing, in characters.

    A valid frame is two JSON strings of at most the configured lengths; JSON
    escaping can grow a character to 12 (a ``\\uXXXX`` surrogate pair), and 200
    characters cover the braces, keys and spacing. Longer frames are refused
    before ``json.loads`` sees them, which bounds the work one frame can cost.
    """
    longest = conf.get("CHAT_MESSAGE_MAX_LENGTH") + conf.get("CHAT_HANDLE_MAX_LENGTH")
    return 12 * longest + 200


def parse_chat_frame(content):
    """Validate a ``websocket.receive`` message's content as a chat frame.

    Takes the ASGI message content (a dict with ``"text"`` or ``"bytes"``).
    Returns ``(handle, message)``, both ``str``: the handle stripped of
    surrounding whitespace, the message as sent.

    Raises ``ClientError`` with one of the codes ``BINARY_FRAME``,
    ``FRAME_TOO_LARGE``, ``INVALID_JSON``, ``INVALID_FRAME``,
    ``MISSING_FIELD``, ``INVALID_FIELD``, ``HANDLE_EMPTY``,
    ``HANDLE_TOO_LONG``, ``MESSAGE_EMPTY`` or ``MESSAGE_TOO_LONG``.
    """
    text = content.get("text")
    if text is None:
        raise ClientError("BINARY_FRAME", "Only text frames are accepted.")
    if len(text) > max_frame_length():
        raise ClientError("FRAME_TOO_LARGE", "The frame is too large.")
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        raise ClientError("INVALID_JSON", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise ClientError("INVALID_FRAME", "The frame must be a JSON object.")
    unknown = sorted(set(frame) - set(CHAT_FIELDS))
    if unknown:
        raise ClientError("INVALID_FRAME", "Unknown field(s): %s." % ", ".join(map(repr, unknown)))
    for field in CHAT_FIELDS:
        if field not in frame:
            raise ClientError("MISSING_FIELD", "The field %r is required." % field)
        if not isinstance(frame[field], str):
            raise ClientError("INVALID_FIELD", "The field %r must be a string." % field)

    handle = frame["handle"].strip()
    _check_text("handle", handle, conf.get("CHAT_HANDLE_MAX_LENGTH"), HANDLE_FORBIDDEN_RE)
    message = frame["message"]
    _check_text("message", message, conf.get("CHAT_MESSAGE_MAX_LENGTH"), MESSAGE_FORBIDDEN_RE)
    return handle, message


def _check_text(field, value, max_length, forbidden_re):
    code = field.upper()
    if not value.strip():
        raise ClientError(code + "_EMPTY", "The %s must not be empty." % field)
    if len(value) > max_length:
        raise ClientError(
            code + "_TOO_LONG",
            "The %s must be at most %d characters." % (field, max_length),
        )
    if forbidden_re.search(value):
        raise ClientError(
            "INVALID_FIELD", "The %s contains characters that are not allowed." % field
        )
