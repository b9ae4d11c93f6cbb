"""Ending a socket's access when its reader loses the room.

A socket's access is decided at its handshake (``chat.consumers.ws_connect``).
When that decision stops holding, the sockets it admitted are closed with
4003 after a ``ROOM_ACCESS_DENIED`` error frame (docs/protocol.md, "Closes"):

- ``member_removed(room, user)``, called after the removal is committed:
  that user's sockets in that room;
- ``room_made_private(room)``, called after the change is committed:
  every socket in the room that may no longer read it;
- ``session_ended(key)``, on Django's ``user_logged_out``: the sockets
  opened with that session, in every room;
- ``user_deactivated(user)``, on the save that clears ``is_active``: that
  user's sockets, in every room.

Each close is one Group send from the process where the change happened,
so it reaches the sockets in milliseconds: every socket joins, at connect,
Groups that name who it is (``groups_for``), beside its room's Groups. A
change that bypasses these calls (a session deleted or expired, a
``QuerySet.update``, a changed password) is caught by the backstop: each
``ping`` (every 20 s from the page) asks ``still_allowed``.

Group names join their parts with ``.``, which a room label (a slug) cannot
contain. A room's own Groups are ``chat.<label>`` and ``chat.<label>.<what>``;
the Groups of a session or a user are under ``chat.accounts.``, and
``accounts`` is a reserved label (``conf.RESERVED_LABELS``), so no room's
Group can be one of them.
"""

import json
import logging
import re
from importlib import import_module
from types import SimpleNamespace

from channels import Group
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from chat import presence, selectors
from chat.exceptions import ClientError
from chat.models import Room

logger = logging.getLogger(__name__)

# The close code of a socket refused by a room: 4000-4999 is the range
# RFC 6455 leaves to applications; 4003 mirrors HTTP's 403.
ACCESS_DENIED_CLOSE_CODE = 4003

# Django's session keys are 32 characters of these
# (django.contrib.sessions.backends.base.VALID_KEY_CHARS); a key of any
# other shape names no Group.
SESSION_KEY_RE = re.compile(r"^[a-z0-9]{8,64}$")

# The label ``chat.accounts.*`` Groups hide behind: a room may not be
# labelled so (conf.RESERVED_LABELS), so no room's Group starts with it.
ACCOUNTS = "accounts"


def denied_error():
    """The ``ClientError`` (``ROOM_ACCESS_DENIED``, 403) a socket is sent
    before it is closed for losing its room."""
    return ClientError(
        "ROOM_ACCESS_DENIED", "You may no longer read this room; reload the page.", status=403
    )


def close_message():
    """The reply-channel message (dict) that makes Daphne send the error
    frame of ``denied_error()`` and then close the socket with 4003."""
    return {"text": json.dumps(denied_error().as_dict()), "close": ACCESS_DENIED_CLOSE_CODE}


def session_group_name(session_key):
    """The Group name (str) of the sockets opened with the HTTP session
    ``session_key`` (str) while it was signed in, or None for a key that
    is not a Django session key."""
    if not session_key or not SESSION_KEY_RE.match(session_key):
        return None
    return "chat.%s.session.%s" % (ACCOUNTS, session_key)


def user_group_name(user_id):
    """The Group name (str) of every socket of the signed-in user
    ``user_id`` (int), in every room."""
    return "chat.%s.user.%d" % (ACCOUNTS, user_id)


def room_user_group_name(label, user_id):
    """The Group name (str) of the user ``user_id``'s (int) sockets in the
    room ``label`` (str)."""
    return "chat.%s.user.%d" % (label, user_id)


def room_guests_group_name(label):
    """The Group name (str) of the sockets in the room ``label`` (str) that
    have no signed-in user: guests, bots and seed-protocol clients."""
    return "chat.%s.guests" % label


def groups_for(label, user_id=None, session_key=None):
    """The names (list of str) of the Groups a socket in the room ``label``
    (str) belongs to beside the room's own: for a signed-in ``user_id``
    (int), its session's (``session_key``, str), its user's and its user's
    in the room; otherwise the room's guests'."""
    if user_id is None:
        return [room_guests_group_name(label)]
    names = [user_group_name(user_id), room_user_group_name(label, user_id)]
    session_group = session_group_name(session_key)
    if session_group is not None:
        names.append(session_group)
    return names


def join(reply_channel, label, user_id=None, session_key=None):
    """Add ``reply_channel`` (a ``channels.Channel``) to ``groups_for``'s
    Groups. Called at connect, and again at each ``ping``, since the
    channel layer drops a Group membership after its ``group_expiry``
    (86,400 s by default)."""
    for name in groups_for(label, user_id, session_key):
        Group(name).add(reply_channel)


def leave(reply_channel, label, user_id=None, session_key=None):
    """Take ``reply_channel`` out of the Groups ``join`` added it to."""
    for name in groups_for(label, user_id, session_key):
        Group(name).discard(reply_channel)


def _close(group_name):
    # At once, even from inside a consumer (a view runs in one), which
    # would otherwise hold the send until it returns.
    Group(group_name).send(close_message(), immediately=True)


def member_removed(room, user):
    """Close ``user``'s (a Django user) sockets in ``room`` (a ``Room``)
    unless ``selectors.can_read`` still lets them in (a staff user, say).
    Call it after the removal is committed."""
    if selectors.can_read(user, room):
        return
    logger.info("Closing the sockets of user %s in room %s: removed", user.pk, room.label)
    _close(room_user_group_name(room.label, user.pk))


def room_made_private(room):
    """Close every socket in ``room`` (a ``Room``, as committed) whose
    reader may no longer read it: every socket without a signed-in user,
    and those of each signed-in user present (``chat.presence`` knows them
    by username) for whom ``selectors.can_read`` says no. Call it after
    the change is committed. A socket presence has lost (a Redis restart)
    is caught by its next ``ping`` instead."""
    from django.contrib.auth import get_user_model

    if not selectors.can_read(AnonymousUser(), room):
        _close(room_guests_group_name(room.label))
    handles = [handle for handle, sockets in presence.store().roster(room.label).items() if handle]
    if not handles:
        return
    # A guest's name is never a username (chat.identity.clean_guest_name),
    # and only a signed-in user's sockets are in the user's Group, so a
    # name that matches a user by chance closes nothing of anyone else's.
    for user in get_user_model().objects.filter(username__in=handles):
        if not selectors.can_read(user, room):
            _close(room_user_group_name(room.label, user.pk))


def session_ended(session_key):
    """Close the sockets opened with the HTTP session ``session_key``
    (str, or None for none) while it was signed in, in every room. The
    user's other sessions keep theirs."""
    name = session_group_name(session_key)
    if name is not None:
        _close(name)


def user_deactivated(user):
    """Close every socket of ``user`` (a Django user), in every room."""
    logger.info("Closing the sockets of user %s: deactivated", user.pk)
    _close(user_group_name(user.pk))


def session_user(session_key):
    """The active user (a Django user) the HTTP session ``session_key``
    (str) is signed in as now, or None: no key, no such session, no user,
    an inactive user, or a password changed since the sign-in. Decided by
    ``django.contrib.auth.get_user``, as for an HTTP request; one query for
    the session and one for the user. Like a request, it flushes a session
    whose password hash no longer matches."""
    if not session_key:
        return None
    engine = import_module(settings.SESSION_ENGINE)
    # get_user reads request.session only.
    request = SimpleNamespace(session=engine.SessionStore(session_key))
    user = auth.get_user(request)
    return user if user.is_authenticated else None


def still_allowed(room, user_id=None, session_key=None):
    """Whether a socket in ``room`` (a ``Room``; only its ``pk`` is read)
    may stay: for a signed-in ``user_id`` (int), its HTTP session
    ``session_key`` (str) must still be signed in as that user
    (``session_user``), and ``selectors.can_read`` must let that user, or
    an anonymous one, into the room as it is now. One query for the room,
    two more for a signed-in socket."""
    user = AnonymousUser()
    if user_id is not None:
        user = session_user(session_key)
        if user is None or user.pk != user_id:
            return False
    current = Room.objects.filter(pk=room.pk).first()
    return current is not None and selectors.can_read(user, current)


# The signals that call the functions above (``connect_signals``).


def _on_signed_out(sender, request, user, **kwargs):
    session = getattr(request, "session", None)
    # Sent before Django flushes the session: this is the key the session's
    # sockets saw at their handshake (a sign-in rotates the key, and a
    # socket opened after it carries the new one).
    session_ended(session.session_key if session is not None else None)


# The attribute a user instance carries from pre_save to post_save when
# the save clears ``is_active``.
_DEACTIVATING = "_chat_deactivating"


def _before_user_save(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or instance.pk is None or instance.is_active:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    # Only for a save of an inactive user: one query, to tell a
    # deactivation from a save of a user who was inactive already.
    was_active = sender._default_manager.filter(pk=instance.pk, is_active=True).exists()
    setattr(instance, _DEACTIVATING, was_active)


def _after_user_save(sender, instance, raw=False, **kwargs):
    if not instance.__dict__.pop(_DEACTIVATING, False):
        return
    # After the commit, so that a socket that reconnects at once is refused.
    transaction.on_commit(lambda: user_deactivated(instance))


def connect_signals():
    """Connect the sign-out and deactivation triggers: Django's
    ``user_logged_out`` to ``session_ended``, and the user model's
    ``pre_save``/``post_save`` to ``user_deactivated`` when a save turns
    ``is_active`` from true to false. ``ChatConfig.ready`` calls it."""
    from django.contrib.auth.signals import user_logged_out
    from django.db.models.signals import post_save, pre_save

    user_logged_out.connect(_on_signed_out, dispatch_uid="chat-revocation-signed-out")
    pre_save.connect(
        _before_user_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="chat-revocation-pre"
    )
    post_save.connect(
        _after_user_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="chat-revocation-post"
    )
