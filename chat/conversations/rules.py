"""Who may change a message: one function, ``may_change``, asked by the
consumer, the views and the bot API alike (docs/conversations.md,
"Authors"; docs/protocol.md, "Changing messages").

- Only its author edits a message, within ``CHAT_EDIT_WINDOW_SECONDS`` of
  posting it.
- Its author deletes it at any time; so do the room's owners
  (``RoomMembership.OWNER``) and staff, to moderate.
- Anyone with an identity (a signed-in user or a named guest) reacts.
- Only the room's owners and staff read a message's edit history.

An author is a signed-in user, a named guest (the random id their HTTP
session holds, ``chat.identity.guest_author``), or a bot's API token; a
message from nobody (a seed-protocol socket without a session, ``chatsay``,
every message from before 2026-12-05) can be deleted by owners and staff,
and edited by nobody. Every rule asks ``selectors.can_read`` first: a
message of a room the actor may not read is one they cannot find.
"""

import datetime
import uuid

from django.contrib.auth import get_user_model
from django.utils import timezone

from chat import conf, selectors
from chat.exceptions import ClientError

# What an actor does to a message (``may_change``'s ``action``).
EDIT = "edit"
DELETE = "delete"
REACT = "react"
READ_HISTORY = "history"
ACTIONS = frozenset({EDIT, DELETE, REACT, READ_HISTORY})


class Actor:
    """Who acts on a room's messages: ``user_id`` (int, a signed-in user),
    ``guest_author`` (``uuid.UUID``, a named guest's id; a str is read as
    one), ``api_token_id`` (int, a bot's token), or none of them (nobody:
    a seed-protocol socket, an operator). ``user`` is the signed-in user
    when the caller has it already (a view's ``request.user``); otherwise
    it is read once, when a rule needs it."""

    __slots__ = ("user_id", "guest_author", "api_token_id", "_user")

    def __init__(self, user_id=None, guest_author=None, api_token_id=None, user=None):
        if user is not None:
            user_id = user.pk
        self.user_id = user_id
        if guest_author is not None and not isinstance(guest_author, uuid.UUID):
            guest_author = uuid.UUID(str(guest_author))
        self.guest_author = guest_author
        self.api_token_id = api_token_id
        self._user = user

    def __repr__(self):
        return "Actor(user_id=%r, guest_author=%r, api_token_id=%r)" % (
            self.user_id,
            self.guest_author,
            self.api_token_id,
        )

    @classmethod
    def of_request(cls, user, guest_author=None):
        """The actor of a request or socket: its signed-in ``user`` (a
        Django user, ``AnonymousUser`` or None), else the named guest
        ``guest_author`` (or None)."""
        if user is not None and user.is_authenticated:
            return cls(user=user)
        return cls(guest_author=guest_author)

    @property
    def is_identified(self):
        """Whether the actor is somebody: a user, a named guest or a bot's
        token (bool)."""
        return any(x is not None for x in (self.user_id, self.guest_author, self.api_token_id))

    @property
    def is_person(self):
        """Whether the actor is a signed-in user or a named guest (bool):
        who may react."""
        return self.user_id is not None or self.guest_author is not None

    @property
    def user(self):
        """The actor's user (an active Django user), or None: for nobody,
        a guest or a bot, and for a user deactivated or deleted since. One
        query the first time, when the caller did not give it."""
        if self.user_id is None:
            return None
        if self._user is None:
            self._user = get_user_model().objects.filter(pk=self.user_id).first()
        if self._user is None or not self._user.is_active:
            return None
        return self._user

    def author_columns(self):
        """The ``Message`` columns that record this actor as an author
        (dict: ``user_id``, ``guest_author``, ``api_token_id``, each None
        where it does not apply)."""
        return {
            "user_id": self.user_id,
            "guest_author": self.guest_author,
            "api_token_id": self.api_token_id,
        }

    def nonce_key(self):
        """The ``Message`` column and value (a pair) a nonce is unique
        under for this actor: its user's id, else its guest id; None for a
        bot or nobody, whose nonces are not kept."""
        if self.user_id is not None:
            return "user_id", self.user_id
        if self.guest_author is not None:
            return "guest_author", self.guest_author
        return None


NOBODY = Actor()


def edit_window():
    """How long after posting its author may edit a message
    (``CHAT_EDIT_WINDOW_SECONDS``), as a ``timedelta``, or None when edits
    are not limited in time (the setting is 0)."""
    seconds = conf.get("CHAT_EDIT_WINDOW_SECONDS")
    return datetime.timedelta(seconds=seconds) if seconds > 0 else None


def is_author(actor, message):
    """Whether ``actor`` (an ``Actor``) wrote ``message`` (a ``Message``):
    the same user, the same guest id, or the same bot token (bool). A
    message from nobody has no author."""
    return (
        (actor.user_id is not None and message.user_id == actor.user_id)
        or (actor.guest_author is not None and message.guest_author == actor.guest_author)
        or (actor.api_token_id is not None and message.api_token_id == actor.api_token_id)
    )


def moderates(actor, room):
    """Whether ``actor`` moderates ``room`` (bool): an active signed-in
    user who is staff, or one of the room's owners. At most two queries
    (the user, their membership)."""
    user = actor.user
    if user is None:
        return False
    if user.is_staff:
        return True
    membership = selectors.membership(user, room)
    return membership is not None and membership.is_owner


def message_not_found():
    """The ``ClientError`` (``MESSAGE_NOT_FOUND``, 404) for a message that
    is not in the room, has been deleted, or is in a room the actor may
    not read: the same whichever it is."""
    return ClientError("MESSAGE_NOT_FOUND", "There is no such message in this room.", status=404)


def identity_required():
    """The ``ClientError`` (``IDENTITY_REQUIRED``, 403) for a change asked
    by nobody: a socket without a signed-in user or a picked name."""
    return ClientError(
        "IDENTITY_REQUIRED",
        "Sign in or pick a name to edit, delete or react to messages.",
        status=403,
    )


def check_change(actor, message, action, now=None):
    """Raise the ``ClientError`` that refuses ``actor`` (an ``Actor``)
    doing ``action`` (one of ``ACTIONS``) to ``message`` (a ``Message``
    with its ``room``), or return None when it is allowed. ``now`` (an
    aware datetime) is for tests.

    In this order: ``MESSAGE_NOT_FOUND`` (404) when the actor may not read
    the room (``selectors.can_read``) or the message is deleted; for
    ``READ_HISTORY``, ``NOT_ALLOWED`` (403) unless the actor moderates the
    room (``moderates``); ``IDENTITY_REQUIRED`` (403) for nobody, and for
    a user deactivated or deleted since their socket opened, who acts as
    nobody (``Actor.user``); then,
    for ``EDIT``, ``NOT_YOURS`` (403) unless the actor is its author and
    ``TOO_LATE`` (403) past the edit window; for ``DELETE``, ``NOT_YOURS``
    unless the actor is its author or moderates the room; for ``REACT``,
    ``IDENTITY_REQUIRED`` for a bot, which does not react.

    Raises ``ValueError`` for an unknown ``action``."""
    if action not in ACTIONS:
        raise ValueError("Unknown action %r" % (action,))
    if not selectors.can_read(actor.user, message.room):
        raise message_not_found()
    if message.deleted:
        raise message_not_found()
    if action == READ_HISTORY:
        if not moderates(actor, message.room):
            raise ClientError(
                "NOT_ALLOWED", "Only the room's owners and staff can read this.", status=403
            )
        return None
    if not actor.is_identified or (actor.user_id is not None and actor.user is None):
        raise identity_required()
    if action == EDIT:
        if not is_author(actor, message):
            raise ClientError("NOT_YOURS", "Only its author can edit a message.", status=403)
        window = edit_window()
        if window is not None and (now or timezone.now()) - message.timestamp > window:
            raise ClientError(
                "TOO_LATE",
                "A message can be edited for %d seconds after it was sent."
                % window.total_seconds(),
                status=403,
            )
    elif action == DELETE:
        if not is_author(actor, message) and not moderates(actor, message.room):
            raise ClientError(
                "NOT_YOURS",
                "Only its author, the room's owners and staff can delete a message.",
                status=403,
            )
    elif not actor.is_person:
        raise identity_required()
    return None


def may_change(actor, message, action, now=None):
    """Whether ``actor`` may do ``action`` to ``message`` (bool):
    ``check_change`` without the reason."""
    try:
        check_change(actor, message, action, now)
    except ClientError:
        return False
    return True
