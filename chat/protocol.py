"""Parsing and validating the frames clients send over ``/chat/<label>/``.

docs/protocol.md describes the frames. Everything here raises
``ClientError`` for input it refuses, never anything else, so one place in
the consumers can turn every refusal into an error frame.
"""

import datetime
import json
import re
import unicodedata
from dataclasses import dataclass

import emoji as emoji_data

from chat import conf
from chat.exceptions import ClientError

CHAT_FIELDS = ("handle", "message")

# Characters a field may not carry. Lone surrogates cannot be stored as UTF-8,
# and PostgreSQL text cannot hold NUL. A message may still hold line breaks and
# tabs; a handle holds no control character at all (Unicode category Cc).
MESSAGE_FORBIDDEN_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
HANDLE_FORBIDDEN_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


# The longest text frame worth parsing, in characters (``conf.max_frame_length``;
# Daphne refuses longer ones before they reach a worker).
max_frame_length = conf.max_frame_length


# The frame types a client may send (docs/protocol.md, "Typed frames" and,
# since 2026-12-05, "Changing messages"), and the fields each must carry
# besides "type"; OPTIONAL_FIELDS, those it may.
MESSAGE, TYPING, PING, READ = "message", "typing", "ping", "read"
EDIT, DELETE, REACT = "edit", "delete", "react"
# Messages sent later (docs/protocol.md, "Messages sent later", 2026-12-05).
SCHEDULE, CANCEL_SCHEDULED, LIST_SCHEDULED = "schedule", "cancel_scheduled", "list_scheduled"
FRAME_FIELDS = {
    MESSAGE: frozenset(CHAT_FIELDS),
    TYPING: frozenset(),
    PING: frozenset(),
    READ: frozenset({"seq"}),
    EDIT: frozenset({"id", "message"}),
    DELETE: frozenset({"id"}),
    REACT: frozenset({"id", "emoji"}),
    SCHEDULE: frozenset({"message", "at"}),
    CANCEL_SCHEDULED: frozenset({"id"}),
    LIST_SCHEDULED: frozenset(),
}
OPTIONAL_FIELDS = {MESSAGE: frozenset({"nonce"}), SCHEDULE: frozenset({"nonce"})}
# The frames that change a message.
CHANGES = frozenset({EDIT, DELETE, REACT})
# The frames about one's messages sent later (chat/scheduling.py).
SCHEDULING = frozenset({SCHEDULE, CANCEL_SCHEDULED, LIST_SCHEDULED})

# The highest ``seq`` a read frame, or message ``id`` a change, may name:
# PostgreSQL's int, which a PositiveIntegerField and an AutoField are.
SEQ_MAX = 2**31 - 1

# The longest emoji a reaction may be, in code points: the longest in the
# emoji package's data is 10 (a kiss with two skin tones), and the column
# (Reaction.emoji) holds 32.
EMOJI_MAX_LENGTH = 32


@dataclass(frozen=True)
class Frame:
    """A client frame, validated: its ``type`` (one of ``FRAME_FIELDS``);
    for a chat message its ``handle``, ``message`` and ``nonce`` (str, ""
    for none); for a read frame its ``seq`` (int); for a change the
    message's ``id`` (int), an edit's new ``message``, a reaction's
    ``emoji`` (str). None where the type has no such field."""

    type: str
    handle: str | None = None
    message: str | None = None
    seq: int | None = None
    id: int | None = None
    emoji: str | None = None
    nonce: str = ""
    at: datetime.datetime | None = None


def parse_frame(content, handle=None):
    """Validate a ``websocket.receive`` message's content as a client frame.

    Takes the ASGI message content (a dict with ``"text"`` or ``"bytes"``)
    and the socket's server-set ``handle`` (str, or None when the socket has
    no identity and each chat message names its own). Returns a ``Frame``.
    A frame with no ``type`` is a chat message; for a socket with a
    server-set handle its ``handle`` field may be left out and is ignored.

    Raises ``ClientError`` with one of the codes ``BINARY_FRAME``,
    ``FRAME_TOO_LARGE``, ``INVALID_JSON``, ``INVALID_FRAME``,
    ``MISSING_FIELD``, ``INVALID_FIELD``, ``HANDLE_EMPTY``,
    ``HANDLE_TOO_LONG``, ``MESSAGE_EMPTY``, ``MESSAGE_TOO_LONG`` or
    (added 2026-12-05) ``NOT_AN_EMOJI``.
    """
    frame = _decode(content)
    kind = frame.pop("type", MESSAGE)
    if not isinstance(kind, str) or kind not in FRAME_FIELDS:
        raise ClientError("INVALID_FRAME", "Unknown frame type %r." % (kind,))
    if kind == MESSAGE and handle is not None:
        frame.pop("handle", None)
        fields = ("message",)
    else:
        fields = tuple(sorted(FRAME_FIELDS[kind]))
    unknown = sorted(set(frame) - set(fields) - OPTIONAL_FIELDS.get(kind, frozenset()))
    if unknown:
        raise ClientError("INVALID_FRAME", "Unknown field(s): %s." % ", ".join(map(repr, unknown)))
    for field in fields:
        if field not in frame:
            raise ClientError("MISSING_FIELD", "The field %r is required." % field)
    if kind == READ:
        seq = frame["seq"]
        if type(seq) is not int or not 0 <= seq <= SEQ_MAX:
            raise ClientError("INVALID_FIELD", "The field 'seq' must be a non-negative integer.")
        return Frame(READ, seq=seq)
    if kind in CHANGES:
        return _change_frame(kind, frame)
    if kind in SCHEDULING:
        return _scheduling_frame(kind, frame)
    if kind != MESSAGE:
        return Frame(kind)
    for field in fields:
        if not isinstance(frame[field], str):
            raise ClientError("INVALID_FIELD", "The field %r must be a string." % field)
    if handle is None:
        handle = check_handle(frame["handle"])
    nonce = check_nonce(frame["nonce"]) if "nonce" in frame else ""
    return Frame(MESSAGE, handle=handle, message=check_message(frame["message"]), nonce=nonce)


def _change_frame(kind, frame):
    """The ``Frame`` of an edit, a delete or a reaction (``kind``), its
    fields present: ``id`` a positive int, an edit's ``message`` through
    ``check_message``, a reaction's ``emoji`` through ``check_emoji``."""
    message_id = frame["id"]
    if type(message_id) is not int or not 1 <= message_id <= SEQ_MAX:
        raise ClientError("INVALID_FIELD", "The field 'id' must be a message's id.")
    if kind == EDIT:
        if not isinstance(frame["message"], str):
            raise ClientError("INVALID_FIELD", "The field 'message' must be a string.")
        return Frame(EDIT, id=message_id, message=check_message(frame["message"]))
    if kind == REACT:
        return Frame(REACT, id=message_id, emoji=check_emoji(frame["emoji"]))
    return Frame(DELETE, id=message_id)


def _scheduling_frame(kind, frame):
    """The ``Frame`` of a ``schedule``, ``cancel_scheduled`` or
    ``list_scheduled`` frame (``kind``), its fields present: a schedule's
    ``message`` through ``check_message``, its ``at`` through
    ``check_instant``, its ``nonce`` through ``check_nonce``; a cancel's
    ``id`` a positive int."""
    if kind == CANCEL_SCHEDULED:
        scheduled_id = frame["id"]
        if type(scheduled_id) is not int or not 1 <= scheduled_id <= SEQ_MAX:
            raise ClientError("INVALID_FIELD", "The field 'id' must be a scheduled message's id.")
        return Frame(kind, id=scheduled_id)
    if kind == LIST_SCHEDULED:
        return Frame(kind)
    if not isinstance(frame["message"], str):
        raise ClientError("INVALID_FIELD", "The field 'message' must be a string.")
    nonce = check_nonce(frame["nonce"]) if "nonce" in frame else ""
    return Frame(
        kind, message=check_message(frame["message"]), at=check_instant(frame["at"]), nonce=nonce
    )


# An instant as a schedule frame gives it: RFC 3339's date-time, with "T"
# (or a space), seconds optional, a fraction of a second optional, and "Z"
# or an offset required, so that it names one instant whatever the
# server's time zone.
INSTANT_RE = re.compile(
    r"\A\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})\Z",
    re.IGNORECASE,
)


def check_instant(value):
    """The aware ``datetime`` (in UTC) that ``value`` names: an ISO 8601 /
    RFC 3339 date and time with ``Z`` or an offset, e.g.
    ``"2026-12-06T09:00:00Z"`` or ``"2026-12-06T10:00:00+01:00"``. Raises
    ``ClientError("INVALID_FIELD")`` for anything else, a time without an
    offset included."""
    if isinstance(value, str) and INSTANT_RE.match(value):
        text = value.upper().replace(" ", "T")
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            instant = datetime.datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return instant.astimezone(datetime.UTC)
    raise ClientError(
        "INVALID_FIELD",
        "The field 'at' must be a date and time with its offset, e.g. 2026-12-06T09:00:00Z.",
    )


def check_nonce(value):
    """``value`` as sent, if it may be a client nonce: a str of 1 to
    ``conf.NONCE_MAX_LENGTH`` characters, no control characters. Raises
    ``ClientError("INVALID_FIELD")`` otherwise."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= conf.NONCE_MAX_LENGTH
        or HANDLE_FORBIDDEN_RE.search(value)
    ):
        raise ClientError(
            "INVALID_FIELD",
            "The field 'nonce' must be a string of 1 to %d characters." % conf.NONCE_MAX_LENGTH,
        )
    return value


def check_emoji(value):
    """``value`` in its fully-qualified form (str), if it is one emoji:
    exactly one emoji of the Unicode emoji data, as the ``emoji`` package
    holds it (``emoji.is_emoji``: a single emoji character, keycap, flag,
    modifier or ZWJ sequence, never two emoji or an emoji with text around
    it). An unqualified form is given its emoji presentation selector
    (``"❤"`` becomes ``"❤️"``), so the two count as one reaction.

    Raises ``ClientError("NOT_AN_EMOJI")`` otherwise, for anything that is
    not a str as well."""
    if (
        not isinstance(value, str)
        or len(value) > EMOJI_MAX_LENGTH
        or not emoji_data.is_emoji(value)
    ):
        raise ClientError("NOT_AN_EMOJI", "A reaction must be one emoji.")
    qualified = emoji_data.emojize(emoji_data.demojize(value))
    return qualified if emoji_data.is_emoji(qualified) else value


def parse_chat_frame(content):
    """Validate a seed-protocol chat frame (no identity): returns
    ``(handle, message)``, both ``str``, the handle stripped of surrounding
    whitespace, the message as sent. Raises what ``parse_frame`` raises, and
    ``INVALID_FRAME`` for a frame of another type."""
    frame = parse_frame(content)
    if frame.type != MESSAGE:
        raise ClientError("INVALID_FRAME", "Expected a chat message.")
    return frame.handle, frame.message


def check_handle(value):
    """``value`` (str) stripped of surrounding whitespace, if it may be a
    handle: 1 to ``CHAT_HANDLE_MAX_LENGTH`` characters, no control
    characters (Cc) and, since 2026-12-04, no format characters (Cf,
    ``refuse_format_characters``). Raises ``ClientError``
    (``HANDLE_EMPTY``, ``HANDLE_TOO_LONG``, ``INVALID_FIELD``) otherwise."""
    handle = value.strip()
    _check_text("handle", handle, conf.get("CHAT_HANDLE_MAX_LENGTH"), HANDLE_FORBIDDEN_RE)
    refuse_format_characters(handle)
    return handle


def refuse_format_characters(handle):
    """Raise ``ClientError("INVALID_FIELD")`` when ``handle`` (str) holds a
    format character (Unicode category Cf: zero-width spaces and joiners,
    bidi controls such as U+202E, the byte order mark, soft hyphens, tags).
    They draw nothing, or reorder what is drawn, so a name holding one can
    look like another's; refused outright rather than dropped, so nobody is
    told their name was accepted as something else."""
    if any(unicodedata.category(char) == "Cf" for char in handle):
        raise ClientError("INVALID_FIELD", "The handle contains invisible formatting characters.")


# Default-ignorable code points (Unicode's DerivedCoreProperties.txt,
# Default_Ignorable_Code_Point) outside category Cf: they draw nothing
# either (a combining grapheme joiner, Hangul fillers, variation selectors),
# so the canonical form leaves them out and "ann" plus one of them is "ann".
# Unassigned ones are included, as the property does, so a later Unicode
# version cannot turn one into a new invisible letter.
_IGNORABLE_RE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2065\u3164"
    "\ufe00-\ufe0f\uffa0\ufff0-\ufff8\U000e0000-\U000e0fff]"
)


def canonical_handle(handle):
    """The form (str) in which two handles that read alike are equal:
    Unicode NFKC (fullwidth ``ａｎｎ`` and the ligature ``ﬁ`` become ``ann``
    and ``fi``), then case folding (``str.casefold``: ``ANN`` and ``Straße``
    become ``ann`` and ``strasse``), then NFKC again (folding can undo
    normalisation), without surrounding whitespace or default-ignorable
    code points. Compares handles only; what is shown and stored is the
    handle as sent.

    Takes any str and never raises; a handle is refused for format
    characters (``refuse_format_characters``) before it is compared."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", handle).casefold())
    return _IGNORABLE_RE.sub("", folded).strip()


def check_message(value):
    """``value`` (str) as sent, if it may be a message: 1 to
    ``CHAT_MESSAGE_MAX_LENGTH`` characters, not only whitespace, no control
    characters but line breaks and tabs. Raises ``ClientError``
    (``MESSAGE_EMPTY``, ``MESSAGE_TOO_LONG``, ``INVALID_FIELD``) otherwise."""
    _check_text("message", value, conf.get("CHAT_MESSAGE_MAX_LENGTH"), MESSAGE_FORBIDDEN_RE)
    return value


def _decode(content):
    """The JSON object (dict) a frame holds; raises ``ClientError``."""
    text = content.get("text")
    if text is None:
        raise ClientError("BINARY_FRAME", "Only text frames are accepted.")
    if len(text) > max_frame_length():
        raise ClientError("FRAME_TOO_LARGE", conf.FRAME_TOO_LARGE_DETAIL)
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        raise ClientError("INVALID_JSON", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise ClientError("INVALID_FRAME", "The frame must be a JSON object.")
    return frame


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
