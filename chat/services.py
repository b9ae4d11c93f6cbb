"""The chat's write operations: open a room, post a message (from a
socket, or from anywhere with ``say``), mark a room read, manage a private
room's members, issue and revoke API tokens.

Consumers, views and management commands all change the chat through these
functions, so each rule (a room exists from its first use; a room's
messages are numbered, stored and broadcast one at a time) is written once.
Reads are in ``chat/selectors.py``.
"""

import contextlib
import json
import logging
import threading

from django.contrib.auth import get_user_model
from django.db import Error, IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from chat import conf, live_counts, mentions, revocation, selectors, webhooks
from chat.conversations.rules import NOBODY, Actor
from chat.exceptions import ClientError, HttpClientError
from chat.models import ApiToken, Mention, Message, ReadMark, Room, RoomMembership, Upload
from chat.protocol import check_handle, check_message
from chat.ratelimit import bucket_key, take_cached_token
from chat.transport import broadcasts_in_order, send_group_riding

logger = logging.getLogger(__name__)


def open_room(label, client=None, name=None):
    """The ``Room`` labelled ``label`` (str), created on first use with
    ``name`` (str, from "Open a room", since 2026-12-05) or else the label
    as its name; an existing room keeps its own.

    ``client`` is the address (str) of whoever asks, when a client asks (a
    page or a socket): creating a room then spends one of that address's
    ``CHAT_ROOMS_PER_HOUR`` (rooms/hour, a token bucket as
    ``ratelimit.take_cached_token`` keeps it; opening a room that exists
    costs nothing). None (a command, the operator) is not limited.

    Raises ``ClientError("INVALID_LABEL")`` for a label that may not name a
    room (``conf.is_valid_label``); ``HttpClientError("RATE_LIMITED")``
    (status 429, with ``Retry-After`` in seconds) when ``client`` has
    created its share of rooms this hour; and ``django.db.Error`` when the
    database cannot be reached.
    """
    if not conf.is_valid_label(label):
        raise ClientError("INVALID_LABEL", "That is not a valid room label.")
    room = Room.objects.filter(label=label).first()
    if room is not None:
        return room
    if client is not None:
        _take_room_creation(client)
    room, _ = Room.objects.get_or_create(label=label, defaults={"name": name or label})
    return room


def _take_room_creation(client):
    """Spend one of ``client``'s (str, an address) room creations; raises
    the 429 ``HttpClientError`` when none is left."""
    per_hour = conf.get("CHAT_ROOMS_PER_HOUR")
    retry_after = take_cached_token(
        bucket_key("room-creation", "address", client), burst=per_hour, per_minute=per_hour / 60
    )
    if retry_after is not None:
        raise HttpClientError(
            "RATE_LIMITED",
            "Too many new rooms from your address; open an existing one, or try again later.",
            status=429,
            headers={"Retry-After": str(retry_after)},
        )


def say(label, handle, text, bot=False, api_token=None):
    """Post ``text`` (str) as ``handle`` (str) in the room labelled
    ``label`` (str), from any Python code: a view, a management command, a
    shell, where no consumer runs. Validated, numbered, stored and
    broadcast exactly as a socket's chat message is: ``check_handle`` and
    ``check_message`` (the handle is stripped), then ``post_message``.
    ``bot`` (bool) marks the message as a bot's (``Message.bot``);
    ``api_token`` (an ``ApiToken``, or None) is the bot's token, recorded
    as the message's author so that the same token may edit and delete it
    (added 2026-12-05).

    Returns the stored ``Message``. Raises ``ClientError``: ``NOT_FOUND``
    (status 404) for a room that does not exist, as it never creates one;
    also for a bot in a private room, since a bot is nobody's account and
    reads as nobody (``selectors.can_read``), so it learns no more than
    that; ``INVALID_FIELD`` for a handle or text that is
    not a str; and the codes of ``check_handle`` and ``check_message``.
    Raises ``django.db.Error`` when the message cannot be stored, in which
    case nothing was stored or sent.

    The broadcast is sent with ``immediately=True`` (in ``post_message``),
    so it behaves the same wherever this runs. Channels 1.x holds a
    consumer's sends until the consumer returns; a view is one too, under
    ``runworker`` (Django's ``http.request`` consumer), so without the flag
    a view's broadcast would leave after the room's lock was released and
    could overtake or trail another worker's, and the members' order would
    split. With no consumer running at all (a command, a shell) nothing
    would hold the send in the first place: the flag makes that explicit
    rather than a matter of where the caller happens to run.
    """
    room = selectors.find_room(label)
    if room is None or (bot and not selectors.can_read(None, room)):
        raise ClientError("NOT_FOUND", "No such room.", status=404)
    for field, value in (("handle", handle), ("message", text)):
        if not isinstance(value, str):
            raise ClientError("INVALID_FIELD", "The field %r must be a string." % field)
    author = Actor(api_token_id=api_token.pk) if api_token is not None else None
    return post_message(room, check_handle(handle), check_message(text), bot=bot, author=author)


def post_message(
    room,
    handle,
    text,
    bot=False,
    upload=None,
    guest=False,
    author=None,
    nonce="",
    reply_channel=None,
    on_store=None,
):
    """Store a message in ``room`` (a ``Room``; only its ``pk`` and
    ``label`` are read) and broadcast ``Message.as_dict()`` to the room's
    Group, every member's socket.

    Takes the already-validated ``handle`` and ``text`` (str), and ``bot``
    (bool: a bot's message, ``Message.bot``), ``upload`` (an ``Upload``
    whose thumbnail is made, for an image's message, or None), and
    ``guest`` (bool: sent without a signed-in user, ``Message.guest``; the
    caller has checked the handle with ``identity.check_unregistered``).
    ``author`` (a ``chat.conversations.rules.Actor``, or None for nobody)
    is recorded as the message's author (``Message.user``,
    ``guest_author``, ``api_token``); an image's message, without one, has
    its upload's sender.

    ``nonce`` (str, "" for none; already validated) is the client's: the
    broadcast carries it as ``"nonce"``. For an author with a user or a
    guest id, the message is stored only if the room holds none of that
    author with that nonce; if it does, nothing is stored or broadcast,
    and that earlier message, in its current state and with the nonce, is
    sent to ``reply_channel`` (a ``channels.Channel``, or None) alone and
    returned, its ``repeated`` attribute True (False on a message stored
    now). A bot's or nobody's nonce is echoed, not kept.

    Returns the stored ``Message``. Raises ``django.db.Error`` when it
    cannot be stored, in which case nothing was stored or sent;
    ``IntegrityError`` among them when ``upload`` already has its message,
    or when the room no longer exists.

    ``on_store`` (a callable taking the new ``Message``, or None; added
    2026-12-05) runs in the transaction that stores the message, before
    the broadcast: if it raises, the message and its ``seq`` are rolled
    back, nothing is broadcast, and the exception propagates. A message
    sent later (``chat.scheduling``) claims its row there, so that it is
    posted at most once.

    An ``upload`` is marked ``DONE`` in the transaction that stores its
    message, before the broadcast: a sender who sees the message and then
    asks for the job's status reads "done", and a job is done exactly when
    its message exists.

    Messages of one room, and the changes to them
    (``chat.conversations.changes``), reach every member in the same
    order, the order of their ``seq`` (1, 2, 3, … with no gaps, taken from
    the room's counter, ``Room.last_seq``, by the statement that stores the
    message). On PostgreSQL with the chat's Redis layer, that statement is
    the message's one round trip (``_store_numbered_postgresql``): the
    room's row lock, held for the statement alone, numbers messages one
    at a time, and the broadcast names the room's sequence, which the
    layer sends in ``seq`` order (``transport.send_group_riding``).
    Without that layer (PostgreSQL under tests with the in-process
    layer), the room's broadcast lock, a PostgreSQL advisory lock, is held
    from before the statement to after the broadcast, and released by a
    second round trip. Elsewhere (SQLite, for ``runserver``) the ORM does
    it under a lock within the process.

    Who the text mentions (``selectors.mentioned``, docs/mentions.md) is
    stored with it, by the same statement: the names and ``@here`` on the
    message (its frame's ``mentions`` and ``mentions_here``), and a
    ``Mention`` for each user notified. A text with an ``@`` costs one
    query more for that, before the lock; any other, nothing.
    """
    if author is None and upload is not None:
        author = Actor(user_id=upload.user_id, guest_author=upload.guest_author)
    author = author or NOBODY
    key = author.nonce_key() if nonce else None
    # Who the text mentions, read before the lock: nothing for a text
    # without "@", one query for one with (docs/mentions.md).
    mentioned = (
        selectors.mentioned(room, text, author.user_id)
        if mentions.might_mention(text)
        else mentions.NONE
    )
    if connection.vendor == "postgresql" and broadcasts_in_order():
        message = _store_postgresql_once(
            room, handle, text, bot, upload, guest, author, nonce, key, mentioned, on_store
        )
        if not message.repeated:
            _broadcast(room, message, nonce)
    elif connection.vendor == "postgresql":
        try:
            with _storing(upload, on_store):
                message = _store_numbered_postgresql(
                    room, handle, text, bot, upload, guest, author, nonce, key, mentioned, True
                )
                if not message.repeated:
                    _mark_done(upload)
                    _claim(on_store, message)
            if not message.repeated:
                _broadcast(room, message, nonce)
        finally:
            release_broadcast_lock(room)
    else:
        with local_broadcast_lock:
            with transaction.atomic():
                message = _store_numbered_locally(
                    room, handle, text, bot, upload, guest, author, nonce, key, mentioned
                )
                if not message.repeated:
                    _mark_done(upload)
                    _claim(on_store, message)
            if not message.repeated:
                _broadcast(room, message, nonce)
    if message.repeated:
        return _answer_repeat(message.pk, nonce, reply_channel)
    webhooks.enqueue(room, message)
    return message


def _store_postgresql_once(
    room, handle, text, bot, upload, guest, author, nonce, key, mentioned, on_store
):
    """Store the message on PostgreSQL without the broadcast lock, as
    ``post_message`` does when the layer orders broadcasts; returns the
    ``Message``. Two sockets of one author sending one nonce at the same
    moment can both find no earlier message; the partial unique index
    refuses the second insert, which is rolled back whole (its ``seq``
    too), and the statement runs once more, finding the first."""
    for attempt in (1, 2):
        try:
            with _storing(upload, on_store):
                message = _store_numbered_postgresql(
                    room, handle, text, bot, upload, guest, author, nonce, key, mentioned, False
                )
                if not message.repeated:
                    _mark_done(upload)
                    _claim(on_store, message)
            return message
        except IntegrityError as error:
            if attempt == 2 or key is None or not _repeated_nonce(error):
                raise
    raise AssertionError("unreachable")


def _repeated_nonce(error):
    """Whether ``error`` (an ``IntegrityError``) is the nonce index's."""
    constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", "") or ""
    return constraint.startswith("message_nonce_unique_per_")


def _answer_repeat(message_id, nonce, reply_channel):
    """The stored message ``message_id`` (int) that a nonce repeated, in
    its current state, sent to ``reply_channel`` alone with ``nonce``."""
    message = (
        Message.objects.select_related("room", "upload")
        .prefetch_related("reactions")
        .get(pk=message_id)
    )
    message.repeated = True
    if reply_channel is not None:
        payload = dict(message.as_dict(), nonce=nonce)
        reply_channel.send({"text": json.dumps(payload)}, immediately=True)
    return message


def mark_read(user_id, room, seq):
    """Record that the user ``user_id`` (int) has read ``room`` (a ``Room``)
    up to its message ``seq`` (int). Keeps the highest ``seq`` ever
    reported, so reports that cross on the way cannot move it back. One
    UPDATE, plus an INSERT the first time. Returns None; raises
    ``django.db.Error`` when the database cannot be reached."""
    marks = ReadMark.objects.filter(user_id=user_id, room_id=room.pk)
    if marks.filter(seq__lt=seq).update(seq=seq):
        live_counts.user_changed(user_id)
        return
    try:
        with transaction.atomic():
            _, created = ReadMark.objects.get_or_create(
                user_id=user_id, room_id=room.pk, defaults={"seq": seq}
            )
    except IntegrityError:
        # Another socket of the same user created it meanwhile.
        created = marks.filter(seq__lt=seq).update(seq=seq)
    if created:
        live_counts.user_changed(user_id)


def may_set_topic(user, room):
    """Whether ``user`` (a Django user or ``AnonymousUser``) may set
    ``room``'s topic (bool): an owner of a private room
    (``selectors.membership``); any active signed-in user in a public room,
    which records no owner; staff anywhere they may read. Never a guest,
    nor anyone who may not read the room (``selectors.can_read``)."""
    if not (user.is_authenticated and user.is_active) or not selectors.can_read(user, room):
        return False
    if user.is_staff or not room.private:
        return True
    membership = selectors.membership(user, room)
    return membership is not None and membership.is_owner


def set_topic(room, user, topic):
    """Set ``room``'s topic to ``topic`` (str; surrounding whitespace and
    line breaks dropped, "" clears it) as ``user``. Returns the topic
    stored (str). Raises ``ClientError``: ``NOT_ALLOWED`` (403) when
    ``may_set_topic`` says no, ``TOPIC_TOO_LONG`` over
    ``Room.TOPIC_MAX_LENGTH`` characters; nothing is stored then."""
    if not may_set_topic(user, room):
        raise ClientError("NOT_ALLOWED", "Only the room's owners may set its topic.", status=403)
    topic = " ".join((topic or "").split())
    if len(topic) > Room.TOPIC_MAX_LENGTH:
        raise ClientError(
            "TOPIC_TOO_LONG", "A topic has at most %d characters." % Room.TOPIC_MAX_LENGTH
        )
    Room.objects.filter(pk=room.pk).update(topic=topic)
    room.topic = topic
    return topic


def label_taken():
    """The ``ClientError`` (``LABEL_TAKEN``, 409) for a label that names a
    room already: the same whatever the room is, so that it tells a
    non-member nothing more than that the label is taken."""
    return ClientError("LABEL_TAKEN", "That label is taken; choose another.", status=409)


def create_private_room(label, owner, client=None, name=None):
    """Create a private room labelled ``label`` (str, named ``name``, str,
    or after the label) with
    ``owner`` (a Django user) as its owner, and return it. ``client`` (str,
    an address, or None for the operator) spends one of its
    ``CHAT_ROOMS_PER_HOUR``, as in ``open_room``.

    Raises ``ClientError``: ``INVALID_LABEL`` for a label that may not name
    a room, ``label_taken()`` when a room has that label already, and the
    429 ``HttpClientError("RATE_LIMITED")`` of ``open_room``."""
    if not conf.is_valid_label(label):
        raise ClientError("INVALID_LABEL", "That is not a valid room label.")
    if client is not None:
        _take_room_creation(client)
    try:
        with transaction.atomic():
            room = Room.objects.create(label=label, name=name or label, private=True)
            RoomMembership.objects.create(room=room, user=owner, role=RoomMembership.OWNER)
    except IntegrityError:
        raise label_taken() from None
    return room


def unknown_users(usernames):
    """The ``ClientError`` (``UNKNOWN_USER``, 400) for ``usernames`` (list
    of str) that name no account."""
    return ClientError("UNKNOWN_USER", "No user is called %s." % ", ".join(usernames))


def add_member(room, username, role=RoomMembership.MEMBER):
    """Make the user called ``username`` (str, ``selectors.find_user``) a
    member of ``room`` with ``role`` (``RoomMembership.MEMBER`` or
    ``OWNER``); returns the new ``RoomMembership``.

    Raises ``ClientError``: ``UNKNOWN_USER``, or ``ALREADY_A_MEMBER``
    (409)."""
    user = selectors.find_user(username)
    if user is None:
        raise unknown_users([username.strip()])
    with transaction.atomic():
        membership, created = RoomMembership.objects.get_or_create(
            room=room, user=user, defaults={"role": role}
        )
    if not created:
        raise ClientError(
            "ALREADY_A_MEMBER", "%s is a member already." % user.get_username(), status=409
        )
    # The room joins their live counts.
    live_counts.user_changed(user.pk)
    return membership


def remove_member(room, username):
    """Take the user called ``username`` (str) out of ``room``, and, once
    that is committed, tell ``revocation.member_removed``. Returns the
    removed ``RoomMembership``.

    Raises ``ClientError``: ``UNKNOWN_USER``, ``NOT_A_MEMBER``, or
    ``LAST_OWNER`` (409) for the room's only owner, who must make another
    member owner first."""
    with transaction.atomic():
        membership = _locked_membership(room, username)
        if membership.is_owner:
            _keep_an_owner(room)
        membership.delete()
        transaction.on_commit(lambda: revocation.member_removed(room, membership.user))
        transaction.on_commit(lambda: live_counts.user_changed(membership.user_id))
    return membership


def make_owner(room, username):
    """Make the member of ``room`` called ``username`` (str) an owner;
    returns their ``RoomMembership``. Raises ``ClientError``:
    ``UNKNOWN_USER``, ``NOT_A_MEMBER``."""
    with transaction.atomic():
        membership = _locked_membership(room, username)
        if not membership.is_owner:
            membership.role = RoomMembership.OWNER
            membership.save(update_fields=["role"])
    return membership


def step_down(room, user):
    """``user`` (a Django user), an owner of ``room``, becomes a plain
    member; returns their ``RoomMembership``. Raises ``ClientError``:
    ``NOT_A_MEMBER`` when they are no owner, ``LAST_OWNER`` (409) when no
    other owner would remain."""
    with transaction.atomic():
        membership = _locked_membership(room, user.get_username())
        if not membership.is_owner:
            raise ClientError("NOT_A_MEMBER", "You are not an owner of this room.")
        _keep_an_owner(room)
        membership.role = RoomMembership.MEMBER
        membership.save(update_fields=["role"])
    return membership


def _locked_membership(room, username):
    """In a transaction: lock ``room``'s row, so that changes to its
    members run one at a time (two owners cannot each remove the other),
    and return the membership of the user called ``username``."""
    Room.objects.select_for_update().filter(pk=room.pk).exists()
    user = selectors.find_user(username)
    if user is None:
        raise unknown_users([username.strip()])
    membership = room.memberships.select_related("user").filter(user=user).first()
    if membership is None:
        raise ClientError("NOT_A_MEMBER", "%s is not a member." % user.get_username())
    return membership


def _keep_an_owner(room):
    if room.memberships.filter(role=RoomMembership.OWNER).count() < 2:
        raise ClientError(
            "LAST_OWNER",
            "The room needs another owner first: make another member an owner.",
            status=409,
        )


def configure_room(label, private=None, members=None, owners=()):
    """Create the room labelled ``label`` (str) if need be, and set it up in
    one transaction, for operators (``manage.py chatroom create``); returns
    the ``Room``.

    ``private`` (bool, or None to leave it) makes it private or public.
    ``members`` (list of usernames, or None to leave the members as they
    are) and ``owners`` (list of usernames) become the room's whole member
    list: owners as owners, the rest as members, anyone else removed.
    Once committed, ``revocation.room_made_private`` is told when the room
    was public before, and ``revocation.member_removed`` of each removed
    member.

    Raises ``ClientError``: ``INVALID_LABEL``; ``UNKNOWN_USER`` naming
    every username that names no account. Nothing is changed then."""
    if not conf.is_valid_label(label):
        raise ClientError("INVALID_LABEL", "That is not a valid room label.")
    wanted = {}
    if members is not None or owners:
        roles = [(name, RoomMembership.MEMBER) for name in members or ()]
        roles += [(name, RoomMembership.OWNER) for name in owners]
        unknown = []
        for name, role in roles:
            user = selectors.find_user(name)
            if user is None:
                unknown.append(name)
            elif wanted.get(user) != RoomMembership.OWNER:
                wanted[user] = role
        if unknown:
            raise unknown_users(unknown)
    with transaction.atomic():
        room, created = Room.objects.select_for_update().get_or_create(
            label=label, defaults={"name": label, "private": bool(private)}
        )
        if private is not None and room.private != private:
            room.private = private
            room.save(update_fields=["private"])
            if private:
                transaction.on_commit(lambda: revocation.room_made_private(room))
            # Its followers' live counts: those who lost it drop it.
            transaction.on_commit(lambda: live_counts.room_changed(room.label))
        if wanted:
            _set_members(room, wanted, replace=members is not None)
    return room


def _set_members(room, wanted, replace):
    current = {m.user: m for m in room.memberships.select_related("user")}
    for user, membership in current.items():
        if user not in wanted and replace:
            membership.delete()
            transaction.on_commit(lambda user=user: revocation.member_removed(room, user))
            transaction.on_commit(lambda user=user: live_counts.user_changed(user.pk))
        elif user in wanted and membership.role != wanted[user]:
            membership.role = wanted[user]
            membership.save(update_fields=["role"])
    added = [user for user in wanted if user not in current]
    RoomMembership.objects.bulk_create(
        RoomMembership(room=room, user=user, role=wanted[user]) for user in added
    )
    for user in added:
        transaction.on_commit(lambda user=user: live_counts.user_changed(user.pk))


def create_api_token(name):
    """Make an ``ApiToken`` named ``name`` (str, stripped of surrounding
    whitespace; 1 to 100 characters). Returns ``(api_token, secret)``: the
    saved ``ApiToken`` and its secret (str), which is stored nowhere and
    must be shown to its owner now or never.

    Raises ``ClientError``: ``INVALID_FIELD`` for an empty or too long name,
    ``NAME_TAKEN`` (status 409) when a token, revoked or not, already has
    that name. Raises ``django.db.Error`` when the database cannot be
    reached."""
    name = name.strip()
    max_length = ApiToken._meta.get_field("name").max_length
    if not 1 <= len(name) <= max_length:
        raise ClientError(
            "INVALID_FIELD", "A token's name must be 1 to %d characters." % max_length
        )
    api_token = ApiToken(name=name)
    secret = api_token.issue()
    try:
        with transaction.atomic():
            api_token.save()
    except IntegrityError:
        raise ClientError(
            "NAME_TAKEN", "A token named %r already exists." % name, status=409
        ) from None
    return api_token, secret


def revoke_api_token(name):
    """Revoke the ``ApiToken`` named ``name`` (str), so that it is refused
    from now on. Returns it; a token revoked before keeps its first
    ``revoked_at``. Raises ``ClientError("NOT_FOUND")`` (status 404) when no
    token has that name, and ``django.db.Error`` when the database cannot
    be reached."""
    api_token = ApiToken.objects.filter(name=name.strip()).first()
    if api_token is None:
        raise ClientError("NOT_FOUND", "No token is named %r." % name, status=404)
    if api_token.revoked_at is None:
        api_token.revoked_at = timezone.now()
        api_token.save(update_fields=["revoked_at"])
    return api_token


def _store_numbered_postgresql(
    room, handle, text, bot, upload, guest, author, nonce, key, mentioned, lock
):
    """Take the room's next ``seq`` from its counter and store the message
    with it (its ``seq`` and ``version``), noting its timestamp as the
    room's ``last_activity``, in one round trip; with ``lock`` (bool),
    first take ``room``'s broadcast lock in the same round trip, which
    stays held. Returns the ``Message``, with
    ``repeated`` True when ``key`` (a column and value, the author's
    ``nonce_key``, or None) found an earlier message with ``nonce``: then
    only its ``pk`` and ``seq`` are set, and nothing was stored.

    With the lock, the two statements go as one query string, which
    PostgreSQL runs in order: the data-modifying WITH starts, and takes
    its snapshot, only once the lock is held, so it sees every event the
    lock's previous holder stored. Without it, the UPDATE of the room's
    counter waits for the room's row, and reads the counter as the last
    writer committed it, so numbers are still taken one at a time.
    ``mentioned`` (``chat.mentions.Mentions``) is stored by the same
    statement: on the message, and as a ``Mention`` row for
    each of its ``user_ids`` (an account deleted meanwhile left out).
    """
    message = Message(
        room=room,
        handle=handle,
        message=text,
        timestamp=timezone.now(),
        bot=bot,
        upload=upload,
        guest=guest,
        nonce=nonce if key is not None else "",
        mentioned_names=mentioned_names(mentioned),
        mentions_here=mentioned.here,
        **author.author_columns(),
    )
    columns = [
        room.pk,
        handle,
        text,
        message.timestamp,
        bot,
        message.upload_id,
        guest,
        message.user_id,
        message.guest_author,
        message.api_token_id,
        message.nonce,
        message.mentioned_names,
        message.mentions_here,
    ]
    notified = bool(mentioned.user_ids)
    if notified:
        columns += [room.pk, mentioned.user_ids]
    locking = [BROADCAST_LOCK_NAMESPACE, room.pk] if lock else []
    with connection.cursor() as cursor:
        if key is None:
            cursor.execute(
                _LOCK_AND_INSERT_SQL[notified] if lock else _INSERT_SQL[notified],
                [*locking, message.timestamp, room.pk, *columns],
            )
        else:
            column, value = key
            cursor.execute(
                (_LOCK_AND_INSERT_ONCE_SQL if lock else _INSERT_ONCE_SQL)[column, notified],
                [*locking, room.pk, value, nonce, message.timestamp, room.pk, *columns],
            )
        row = cursor.fetchone()
    if row is None:
        raise IntegrityError("Room %s does not exist" % room.pk)
    message.pk, message.seq, stored = row
    message.version = message.seq
    message.repeated = not stored
    return message


def _store_numbered_locally(
    room, handle, text, bot, upload, guest, author, nonce, key, mentioned=mentions.NONE
):
    """``_store_numbered_postgresql`` through the ORM, for a database that
    serves one process (SQLite, ``runserver``): the caller holds
    ``local_broadcast_lock`` and a transaction."""
    if key is not None:
        column, value = key
        earlier = room.messages.filter(**{column: value, "nonce": nonce}).first()
        if earlier is not None:
            earlier.repeated = True
            return earlier
    timestamp = timezone.now()
    seq = take_seq_locally(room, last_activity=timestamp)
    message = room.messages.create(
        handle=handle,
        message=text,
        timestamp=timestamp,
        seq=seq,
        version=seq,
        bot=bot,
        upload=upload,
        guest=guest,
        nonce=nonce if key is not None else "",
        mentioned_names=mentioned_names(mentioned),
        mentions_here=mentioned.here,
        **author.author_columns(),
    )
    store_mentions_locally(message, seq, mentioned.user_ids, timestamp)
    message.repeated = False
    return message


def mentioned_names(mentioned):
    """What ``Message.mentioned_names`` holds for ``mentioned`` (a
    ``chat.mentions.Mentions``): its names as a JSON list (str), or ""
    for none."""
    return json.dumps(mentioned.names) if mentioned.names else ""


def store_mentions_locally(message, seq, user_ids, now):
    """Store a ``Mention`` of ``message`` (a saved ``Message``) by the
    event ``seq`` (int) for each of ``user_ids`` (list of int) it has none
    of yet, through the ORM (SQLite, ``runserver``), in the caller's
    transaction; an account deleted meanwhile is left out."""
    users = get_user_model().objects.filter(pk__in=user_ids).values_list("pk", flat=True)
    have = set(Mention.objects.filter(message=message).values_list("user_id", flat=True))
    Mention.objects.bulk_create(
        Mention(message=message, room_id=message.room_id, user_id=pk, seq=seq, created_at=now)
        for pk in users
        if pk not in have
    )


def take_seq_locally(room, **fields):
    """Take ``room``'s next ``seq`` (int) from its counter through the ORM,
    writing ``fields`` (e.g. ``last_activity``) on the room with it. For
    a database that serves one process (SQLite, ``runserver``), called
    under ``local_broadcast_lock`` in a transaction. Raises
    ``IntegrityError`` when the room no longer exists."""
    rooms = Room.objects.filter(pk=room.pk)
    if not rooms.update(last_seq=Coalesce(F("last_seq"), 0) + 1, **fields):
        raise IntegrityError("Room %s does not exist" % room.pk)
    return rooms.values_list("last_seq", flat=True).get()


def _storing(upload, on_store=None):
    """The context a message is stored in: for an image's message, one
    transaction with marking its ``upload`` done, and for a message with
    an ``on_store``, one with that; for any other, none, so that the
    insert commits on its own, with no BEGIN and COMMIT round trips on the
    path of every text message."""
    if upload is None and on_store is None:
        return contextlib.nullcontext()
    return transaction.atomic()


def _claim(on_store, message):
    if on_store is not None:
        on_store(message)


def _mark_done(upload):
    if upload is not None:
        Upload.objects.filter(pk=upload.pk).update(
            status=Upload.DONE, finished_at=timezone.now(), error=""
        )


def _broadcast(room, message, nonce=""):
    # Sent now, not when the consumer returns (channels' default), so that
    # it goes out while the lock is held. The mark that the room changed,
    # for the live counts, and the sender's channel session ride in the
    # Group send's own round trip (chat/transport/riders.py).
    payload = message.as_dict()
    if nonce:
        payload["nonce"] = nonce
    send_group_riding(
        room.group_name,
        {"text": json.dumps(payload)},
        [live_counts.room_changed_rider(room.label)],
        sequence=(room_sequence(room), message.seq),
    )


def room_sequence(room):
    """The name (str) of the sequence ``room``'s numbered broadcasts (its
    messages and the changes to them) are sent in
    (``transport.send_group_riding``): the room's id."""
    return "room.%d" % room.pk


# The first key of the PostgreSQL advisory locks taken by post_message and
# by the changes to messages (chat.conversations.changes); the second is the
# room's id. An arbitrary constant ("chat" in ASCII) that keeps these locks
# apart from any other advisory lock on the same database.
BROADCAST_LOCK_NAMESPACE = 0x63686174

# Storing the next message: _INSERT_SQL, one statement. Where the layer
# cannot order broadcasts, _LOCK_AND_INSERT_SQL: the same, after taking the
# lock, in one query string. Session-level, so the lock outlives the
# insert's commit and spans the broadcast; it is released when the holder's
# connection ends, if not before.
# The room's counter is taken by the same statement, a data-modifying WITH
# (numbered), whose UPDATE also notes the room's last_activity (the room
# list's order); the INSERT reads the new seq from it, so a message and its
# number are stored together or not at all.
_MESSAGE_TABLE = Message._meta.db_table
_ROOM_TABLE = Room._meta.db_table
_MESSAGE_COLUMNS = (
    "room_id, handle, message, timestamp, bot, upload_id, guest, "
    "user_id, guest_author, api_token_id, nonce, mentioned_names, mentions_here, seq, version"
)
_INSERT_NUMBERED = (
    f"stored AS (INSERT INTO {_MESSAGE_TABLE} ({_MESSAGE_COLUMNS}) "
    "SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, last_seq, last_seq "
    "FROM numbered RETURNING id, seq) "
)
# With mentions to notify, the message's Mention rows too (its room and
# the users' ids the last parameters), stored with the message or not at
# all: nothing for a nonce's repeat, which stores no message.
_INSERT_MENTIONS = (
    f", mentioned AS (INSERT INTO {Mention._meta.db_table} "
    "(message_id, room_id, user_id, seq, created_at) "
    "SELECT stored.id, %s, account.id, stored.seq, now() "
    f"FROM stored, {get_user_model()._meta.db_table} account "
    "WHERE account.id = ANY(%s::integer[])) "
)
_INSERT_SQL = {
    notified: (
        "WITH numbered AS ("
        f"UPDATE {_ROOM_TABLE} SET last_seq = COALESCE(last_seq, 0) + 1, last_activity = %s "
        "WHERE id = %s RETURNING last_seq), "
        + _INSERT_NUMBERED
        + (_INSERT_MENTIONS if notified else "")
        + "SELECT id, seq, TRUE FROM stored"
    )
    for notified in (False, True)
}
# The same, for a message with a nonce: the statement first looks for the
# author's earlier message with that nonce in the room (earlier, on the
# partial unique index of that author's column), and numbers and stores
# nothing if it finds one, whose id and seq it returns instead.
_INSERT_ONCE_SQL = {
    (column, notified): (
        "WITH earlier AS ("
        f"SELECT id, seq FROM {_MESSAGE_TABLE} "
        f"WHERE room_id = %s AND {column} = %s AND nonce = %s), "
        "numbered AS ("
        f"UPDATE {_ROOM_TABLE} SET last_seq = COALESCE(last_seq, 0) + 1, last_activity = %s "
        "WHERE id = %s AND NOT EXISTS (SELECT 1 FROM earlier) RETURNING last_seq), "
        + _INSERT_NUMBERED
        + (_INSERT_MENTIONS if notified else "")
        + "SELECT id, seq, TRUE FROM stored UNION ALL SELECT id, seq, FALSE FROM earlier"
    )
    for column in ("user_id", "guest_author")
    for notified in (False, True)
}
_LOCK = "SELECT pg_advisory_lock(%s, %s); "
_LOCK_AND_INSERT_SQL = {notified: _LOCK + sql for notified, sql in _INSERT_SQL.items()}
_LOCK_AND_INSERT_ONCE_SQL = {key: _LOCK + sql for key, sql in _INSERT_ONCE_SQL.items()}

# The lock of rooms on databases other than PostgreSQL, which serve only one
# process (runserver): a lock within the process is enough.
local_broadcast_lock = threading.Lock()


def release_broadcast_lock(room):
    """Release ``room``'s PostgreSQL broadcast lock. If the connection is
    broken, close it instead: PostgreSQL releases a session's locks when it
    ends. Returns None; never raises ``django.db.Error``."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [BROADCAST_LOCK_NAMESPACE, room.pk])
    except Error:
        logger.warning("Could not release the broadcast lock of room %s", room.pk)
        connection.close()
