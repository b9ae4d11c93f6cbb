"""Who a session speaks as: a signed-in user, a guest with a name, or nobody.

The room page (a view, with ``request.session`` and ``request.user``) and
the socket (a consumer, with the HTTP session that
``channel_session_user_from_http`` reads at the handshake) decide the same
way, here. docs/protocol.md, "Identity", is the contract.
"""

import hashlib
import uuid
from dataclasses import dataclass

from django.core.cache import caches

from chat import conf
from chat.exceptions import ClientError
from chat.models import RegisteredHandle
from chat.protocol import canonical_handle, check_handle

# The Django session key holding a guest's chosen name (str).
GUEST_NAME_SESSION_KEY = "chat_guest_name"
# The Django session key holding a named guest's author id (str, the hex of
# a random UUID): what their messages and reactions are recorded under
# (``Message.guest_author``), so that they may edit and delete their own.
# A random id of its own rather than the session's key, which is a
# credential and changes at sign-in.
GUEST_AUTHOR_SESSION_KEY = "chat_guest_id"

USER = "user"
GUEST = "guest"


@dataclass(frozen=True)
class Identity:
    """A session's identity: ``kind`` is ``USER``, ``GUEST`` or None (no
    identity: the handle comes with each frame), ``handle`` the name the
    server sets (str) or None."""

    kind: str | None = None
    handle: str | None = None


ANONYMOUS = Identity()


def identify(user, session):
    """The ``Identity`` of a request or socket: a signed-in ``user`` (a
    Django user, or ``AnonymousUser``, or None) speaks as their username;
    otherwise a guest name in ``session`` (a Django session, or None) is
    used, unless it has since become a registered user's (then the guest
    has no identity and picks another name); otherwise there is none.

    A guest costs one query (``RegisteredHandle.is_registered``); raises
    ``django.db.Error`` when the database cannot be reached."""
    if user is not None and user.is_authenticated:
        return Identity(USER, user.get_username())
    name = session.get(GUEST_NAME_SESSION_KEY) if session is not None else None
    if name and not RegisteredHandle.is_registered(name):
        return Identity(GUEST, name)
    return ANONYMOUS


def handle_taken():
    """The ``ClientError`` (``HANDLE_TAKEN``, HTTP status 409) for a handle
    that reads as a registered user's username, from anyone not signed in
    as that user."""
    return ClientError("HANDLE_TAKEN", "That name belongs to an account; pick another.", status=409)


def check_unregistered(handle):
    """Refuse ``handle`` (str, already through ``check_handle``) to a
    sender who is not signed in when its canonical form
    (``chat.protocol.canonical_handle``) is a registered username's, and
    otherwise mark it in use by a guest (``hold_guest_name``). One query
    and one cache write.

    Raises ``handle_taken()``, or ``django.db.Error`` when the database
    cannot be reached."""
    if RegisteredHandle.is_registered(handle):
        raise handle_taken()
    hold_guest_name(handle)


def clean_guest_name(name):
    """``name`` (str) as a guest may use it: stripped, within the handle
    rules of docs/protocol.md, and not a registered username in canonical
    form (so a guest cannot pass for a user, whatever case, width or
    ligatures they write it in). Returns the cleaned name, marked in use.

    Raises ``ClientError`` with the handle codes of the protocol
    (``HANDLE_EMPTY``, ``HANDLE_TOO_LONG``, ``INVALID_FIELD``) or
    ``HANDLE_TAKEN``."""
    name = check_handle(name)
    check_unregistered(name)
    return name


# Guest names in use: a key per canonical name in the channel sessions'
# cache (Redis in production, shared by every process), which sign-up
# reads. The key holds a digest, so no name can spell another key.
GUEST_NAME_CACHE = "channel_sessions"
GUEST_NAME_KEY = "guest-name:%s"


def _guest_name_key(name):
    digest = hashlib.sha256(canonical_handle(name).encode("utf-8")).hexdigest()
    return GUEST_NAME_KEY % digest


def hold_guest_name(name):
    """Mark the guest name ``name`` (str) in use for
    ``CHAT_GUEST_NAME_HOLD_SECONDS``: a guest picked it, a guest's socket
    connected or pinged with it, or an anonymous socket or upload used it.
    Sign-up refuses a username held so (``guest_name_in_use``)."""
    caches[GUEST_NAME_CACHE].set(
        _guest_name_key(name), 1, timeout=conf.get("CHAT_GUEST_NAME_HOLD_SECONDS")
    )


def guest_name_in_use(name):
    """Whether a guest has used a name that reads as ``name`` (str) in
    canonical form within the last ``CHAT_GUEST_NAME_HOLD_SECONDS`` (bool)."""
    return caches[GUEST_NAME_CACHE].get(_guest_name_key(name)) is not None


def set_guest_name(session, name):
    """Store the guest ``name`` (str, already cleaned) in ``session``,
    with a new author id (``guest_author``) if it holds none yet: a guest
    who picks another name stays the author of what they wrote before."""
    session[GUEST_NAME_SESSION_KEY] = name
    ensure_guest_author(session)


def guest_author(session):
    """The guest author id (str, 32 hex digits) ``session`` (a Django
    session, or None) holds, or None."""
    return session.get(GUEST_AUTHOR_SESSION_KEY) if session is not None else None


def ensure_guest_author(session):
    """The guest author id of ``session`` (a Django session), made now if
    it holds none (a guest who picked their name before 2026-12-05).
    Returns ``(id, made)``: the id (str, 32 hex digits), and whether it was
    made now (bool), in which case the caller saves the session unless a
    view's middleware does."""
    existing = guest_author(session)
    if existing:
        return existing, False
    session[GUEST_AUTHOR_SESSION_KEY] = uuid.uuid4().hex
    return session[GUEST_AUTHOR_SESSION_KEY], True
