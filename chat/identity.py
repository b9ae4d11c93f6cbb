"""Who a session speaks as: a signed-in user, a guest with a name, or nobody.

The room page (a view, with ``request.session`` and ``request.user``) and
the socket (a consumer, with the HTTP session that
``channel_session_user_from_http`` reads at the handshake) decide the same
way, here. docs/protocol.md, "Identity", is the contract.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from chat.exceptions import ClientError
from chat.protocol import check_handle

# The Django session key holding a guest's chosen name (str).
GUEST_NAME_SESSION_KEY = "chat_guest_name"

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
    used; otherwise there is none."""
    if user is not None and user.is_authenticated:
        return Identity(USER, user.get_username())
    name = session.get(GUEST_NAME_SESSION_KEY) if session is not None else None
    if name:
        return Identity(GUEST, name)
    return ANONYMOUS


def clean_guest_name(name):
    """``name`` (str) as a guest may use it: stripped, within the handle
    rules of docs/protocol.md, and not the username of an account (so a
    guest cannot pass for a user). Returns the cleaned name.

    Raises ``ClientError`` with the handle codes of the protocol
    (``HANDLE_EMPTY``, ``HANDLE_TOO_LONG``, ``INVALID_FIELD``) or
    ``HANDLE_TAKEN``."""
    name = check_handle(name)
    if get_user_model().objects.filter(username__iexact=name).exists():
        raise ClientError("HANDLE_TAKEN", "That name belongs to an account; pick another.")
    return name


def set_guest_name(session, name):
    """Store the guest ``name`` (str, already cleaned) in ``session``."""
    session[GUEST_NAME_SESSION_KEY] = name
