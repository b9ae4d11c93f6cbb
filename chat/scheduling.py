"""Messages sent later, through the delay server (docs/protocol.md,
"Messages sent later"; docs/operations.md, "The delay process type").

- ``schedule`` stores a ``ScheduledMessage`` row, then asks the delay
  server (``channels.delay``, ``manage.py rundelay``) to send
  ``{"id": …}`` on ``SCHEDULED_CHANNEL`` when its time comes: a message
  ``{"channel", "delay" (ms), "content"}`` on ``asgi.delay``, which
  ``rundelay`` keeps as a ``DelayedMessage`` row until it is due.
- ``post_scheduled``, the consumer of ``SCHEDULED_CHANNEL``, posts it
  (``deliver``) as its author, through ``services.post_message``, after
  the checks a socket's message passes (``may_post``).
- Exactly once: ``deliver`` claims the row (``UPDATE … SET status =
  'sent' WHERE id = … AND status = 'pending'``) in the very transaction
  that stores the message, so a second delivery of the same id (the delay
  server resends a row it sent but could not delete, a sweep meets a late
  delivery) claims nothing, and its message is rolled back unsent.
- Nothing lost: the delay server deletes its row once it has sent it, so
  a ``SCHEDULED_CHANNEL`` message lost afterwards (a worker killed while
  holding it, the layer's expiry while no worker ran, ``asgi.delay``
  unreachable when scheduling) would leave the row pending for good. Each
  worker's sweeper (``start_sweeper``) therefore posts every row still
  pending ``SWEEP_GRACE_S`` after its time.
- ``cancel`` is the same claim, pending to cancelled.
"""

import json
import logging
from datetime import timedelta

from channels import Channel
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from chat import conf, periodic, selectors, services
from chat.conversations.rules import Actor
from chat.exceptions import ClientError
from chat.models import RegisteredHandle, ScheduledMessage

logger = logging.getLogger(__name__)

# The chat's channel a message sent later comes back on from the delay
# server (chat/routing.py; its capacity is in CHANNEL_CAPACITY).
SCHEDULED_CHANNEL = "chat.scheduled"
# The delay server's own channel (channels/delay/worker.py).
DELAY_CHANNEL = "asgi.delay"

# How long after its time a row may stay pending before a sweeper posts it
# itself, in seconds: the delay server checks its rows once a second
# (rundelay's --sleep), so a row still pending 10 s late has been lost on
# the way, or its worker is down or far behind.
SWEEP_GRACE_S = 10
# How often each worker's sweeper looks, in seconds.
SWEEP_EVERY_S = 5
# How far in the past an ``at`` may be and still count as "now", in
# seconds: a frame spends some time on the way, and a client's clock may
# lag the server's a little. Anything older is SCHEDULE_IN_PAST.
PAST_GRACE_S = 5
# How many overdue rows one sweep posts at most; the next sweep goes on.
SWEEP_BATCH = 100
# A delivery that arrives more than this early (ms) is sent back to the
# delay server for the rest of its wait rather than posted.
EARLY_TOLERANCE_MS = 2000

# Why a row was not posted (ScheduledMessage.reason): its author's account
# is deactivated; they may no longer read the room (removed from a private
# room, a public room made private for a guest); a guest's name has since
# become a registered user's.
ACCOUNT_INACTIVE = "ACCOUNT_INACTIVE"
ACCESS_DENIED = "ACCESS_DENIED"
HANDLE_TAKEN = "HANDLE_TAKEN"

# The first key of the PostgreSQL advisory lock that makes one author's
# schedules count their pending rows one at a time ("schd" in ASCII).
PENDING_LOCK_NAMESPACE = 0x73636864


class _Claimed(Exception):
    """The row was no longer pending when its message was stored: the
    message is rolled back."""


def _author_filter(actor):
    """The lookup (dict) of ``actor``'s rows: their user's, or their guest
    id's. Raises ``ClientError("IDENTITY_REQUIRED")`` for nobody, whose
    lookup would otherwise match every row without a guest id."""
    if actor.user_id is not None:
        return {"user_id": actor.user_id}
    if actor.guest_author is not None:
        return {"guest_author": actor.guest_author}
    raise ClientError("IDENTITY_REQUIRED", "Sign in or choose a name to send messages later.")


def may_post(actor, room, handle):
    """Why ``actor`` (a ``rules.Actor``: a user or a named guest) may not
    post in ``room`` (a ``Room``) as ``handle`` (str), or None when they
    may: ``ACCOUNT_INACTIVE`` for a user whose account is deactivated or
    gone, ``ACCESS_DENIED`` when ``selectors.can_read`` refuses them the
    room, ``HANDLE_TAKEN`` for a guest whose name is now a registered
    user's. One or two queries; raises ``django.db.Error``."""
    if actor.user_id is not None:
        user = get_user_model().objects.filter(pk=actor.user_id).first()
        if user is None or not user.is_active:
            return ACCOUNT_INACTIVE
        return None if selectors.can_read(user, room) else ACCESS_DENIED
    if not selectors.can_read(None, room):
        return ACCESS_DENIED
    if RegisteredHandle.is_registered(handle):
        return HANDLE_TAKEN
    return None


def pending(actor, room):
    """``actor``'s pending messages in ``room``, soonest first, as a list
    of ``ScheduledMessage``. One query. Raises
    ``ClientError("IDENTITY_REQUIRED")`` for nobody."""
    rows = ScheduledMessage.objects.filter(
        room_id=room.pk, status=ScheduledMessage.PENDING, **_author_filter(actor)
    )
    return list(rows.order_by("due_at", "pk"))


def schedule(room, actor, handle, text, at, now=None):
    """Store ``text`` (str, already through ``check_message``) to be posted
    in ``room`` by ``actor`` (a ``rules.Actor``) as ``handle`` (str) at
    ``at`` (an aware ``datetime``), and hand it to the delay server.
    ``now`` (an aware ``datetime``) is for tests. Returns the new
    ``ScheduledMessage``.

    Raises ``ClientError``: ``IDENTITY_REQUIRED`` for nobody (a socket
    without a user or a guest name); ``SCHEDULE_NOT_ALLOWED`` when
    ``may_post`` refuses; ``SCHEDULE_IN_PAST`` for an ``at`` more than
    ``PAST_GRACE_S`` before ``now``; ``SCHEDULE_TOO_FAR`` beyond ``CHAT_SCHEDULED_MAX_DAYS``;
    ``TOO_MANY_SCHEDULED`` when the author has
    ``CHAT_SCHEDULED_MAX_PENDING`` pending already, in any room. Raises
    ``django.db.Error`` when nothing could be stored.

    The row is committed before the delay server is asked: if that send
    fails, it is logged and the row is posted by a sweeper instead,
    ``SWEEP_GRACE_S`` late."""
    author = _author_filter(actor)
    now = now or timezone.now()
    if at < now - timedelta(seconds=PAST_GRACE_S):
        raise ClientError("SCHEDULE_IN_PAST", "That time has passed; choose a later one.")
    max_days = conf.get("CHAT_SCHEDULED_MAX_DAYS")
    if at > now + timedelta(days=max_days):
        raise ClientError(
            "SCHEDULE_TOO_FAR", "A message can be sent at most %d days ahead." % max_days
        )
    if may_post(actor, room, handle) is not None:
        raise ClientError("SCHEDULE_NOT_ALLOWED", "You may not post in this room.")
    cap = conf.get("CHAT_SCHEDULED_MAX_PENDING")
    with transaction.atomic():
        _lock_author(author)
        count = ScheduledMessage.objects.filter(status=ScheduledMessage.PENDING, **author).count()
        if count >= cap:
            raise ClientError(
                "TOO_MANY_SCHEDULED",
                "You have %d messages waiting to be sent; cancel one first." % cap,
            )
        row = ScheduledMessage.objects.create(
            room=room, handle=handle, text=text, due_at=at, created_at=now, **author
        )
    send_to_delay_server(row, now)
    return row


def _lock_author(author):
    """In a transaction on PostgreSQL: count one author's pending rows one
    schedule at a time, so two tabs cannot both take the last place."""
    if connection.vendor != "postgresql":
        return
    ((column, value),) = author.items()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            [PENDING_LOCK_NAMESPACE, "%s:%s" % (column, value)],
        )


def send_to_delay_server(row, now=None):
    """Ask the delay server to send ``{"id": row.pk}`` on
    ``SCHEDULED_CHANNEL`` at ``row.due_at``: one message on ``asgi.delay``
    whose ``delay`` is the wait in ms (0 when due). Returns True if it was
    sent; False (logged) if the layer refused or could not be reached, in
    which case a sweeper posts the row."""
    now = now or timezone.now()
    delay_ms = max(0, int((row.due_at - now).total_seconds() * 1000))
    content = {"channel": SCHEDULED_CHANNEL, "delay": delay_ms, "content": {"id": row.pk}}
    try:
        Channel(DELAY_CHANNEL).send(content, immediately=True)
    except Exception:  # noqa: BLE001 - the sweeper is the fallback
        logger.warning("Could not hand scheduled message %s to the delay server", row.pk)
        return False
    return True


def cancel(actor, scheduled_id, room=None):
    """Cancel ``actor``'s pending message ``scheduled_id`` (int), in
    ``room`` when given; returns the ``ScheduledMessage``, now
    ``CANCELLED``. Atomic against its delivery: exactly one of the two
    leaves ``PENDING``.

    Raises ``ClientError``: ``IDENTITY_REQUIRED`` for nobody;
    ``SCHEDULED_NOT_FOUND`` for an id that is not the actor's (in that
    room), ``SCHEDULED_NOT_PENDING`` for one already
    sent, refused or cancelled."""
    rows = ScheduledMessage.objects.filter(pk=scheduled_id, **_author_filter(actor))
    if room is not None:
        rows = rows.filter(room_id=room.pk)
    claimed = rows.filter(status=ScheduledMessage.PENDING).update(
        status=ScheduledMessage.CANCELLED, finished_at=timezone.now()
    )
    row = rows.first()
    if row is None:
        raise ClientError("SCHEDULED_NOT_FOUND", "You have no such message waiting.")
    if not claimed:
        raise ClientError(
            "SCHEDULED_NOT_PENDING", "That message was %s already." % row.get_status_display()
        )
    _forget_delayed(row.pk)
    return row


def _forget_delayed(scheduled_id):
    """Delete the delay server's row for ``scheduled_id``, if it still has
    one: a cancelled message need not come back. One found already sent
    or in transit is harmless: ``deliver`` finds the row cancelled."""
    from channels.delay.models import DelayedMessage

    DelayedMessage.objects.filter(
        channel_name=SCHEDULED_CHANNEL, content=json.dumps({"id": scheduled_id})
    ).delete()


def deliver(scheduled_id, now=None):
    """Post the pending message ``scheduled_id`` (int) if it is due, as its
    author, and return its status then (str), or None if there is no such
    row. ``now`` (an aware ``datetime``) is for tests.

    A row more than ``EARLY_TOLERANCE_MS`` from its time is handed back to
    the delay server and stays pending. One that ``may_post`` refuses
    becomes ``REFUSED`` with the reason. Otherwise its message is stored
    and broadcast through ``services.post_message`` (numbered, sent to
    every member, webhooks), the row claimed ``SENT`` in the transaction
    that stores it; a row claimed meanwhile (a second delivery, a cancel)
    rolls the message back unsent. Raises ``django.db.Error``, the row
    left pending for a sweeper."""
    row = ScheduledMessage.objects.select_related("room").filter(pk=scheduled_id).first()
    if row is None or row.status != ScheduledMessage.PENDING:
        return row.status if row is not None else None
    now = now or timezone.now()
    if (row.due_at - now).total_seconds() * 1000 > EARLY_TOLERANCE_MS:
        send_to_delay_server(row, now)
        return row.status
    actor = Actor(user_id=row.user_id, guest_author=row.guest_author)
    reason = may_post(actor, row.room, row.handle)
    if reason is not None:
        ScheduledMessage.objects.filter(pk=row.pk, status=ScheduledMessage.PENDING).update(
            status=ScheduledMessage.REFUSED, reason=reason, finished_at=now
        )
        logger.info("Scheduled message %s not posted: %s", row.pk, reason)
        return ScheduledMessage.objects.values_list("status", flat=True).get(pk=row.pk)
    handle = row.handle
    if row.user_id is not None:
        handle = get_user_model().objects.get(pk=row.user_id).get_username()

    def claim(message):
        claimed = ScheduledMessage.objects.filter(
            pk=row.pk, status=ScheduledMessage.PENDING
        ).update(status=ScheduledMessage.SENT, message=message.pk, finished_at=timezone.now())
        if not claimed:
            raise _Claimed

    try:
        services.post_message(
            row.room,
            handle,
            row.text,
            guest=row.user_id is None,
            author=actor,
            on_store=claim,
        )
    except _Claimed:
        logger.info("Scheduled message %s was claimed meanwhile; not posted again", row.pk)
    return ScheduledMessage.objects.values_list("status", flat=True).get(pk=row.pk)


def post_scheduled(message):
    """The consumer of ``SCHEDULED_CHANNEL``: ``{"id": int}`` from the
    delay server; posts that message (``deliver``). A malformed message is
    logged and dropped. A database error propagates to the worker, which
    logs it; the row stays pending for a sweeper."""
    scheduled_id = message.content.get("id")
    if type(scheduled_id) is not int:
        logger.warning("Dropped a malformed %s message", SCHEDULED_CHANNEL)
        return
    deliver(scheduled_id)


def sweep(now=None):
    """Post (``deliver``) up to ``SWEEP_BATCH`` rows still pending
    ``SWEEP_GRACE_S`` after their time, the most overdue first; returns
    how many it found (int). Safe in any number of workers at once: each
    row is claimed once."""
    now = now or timezone.now()
    overdue = ScheduledMessage.objects.filter(
        status=ScheduledMessage.PENDING, due_at__lte=now - timedelta(seconds=SWEEP_GRACE_S)
    )
    ids = list(overdue.order_by("due_at").values_list("pk", flat=True)[:SWEEP_BATCH])
    for scheduled_id in ids:
        logger.info("Posting overdue scheduled message %s", scheduled_id)
        deliver(scheduled_id, now=now)
    return len(ids)


def start_sweeper():
    """Start this process's scheduled-message sweeper thread, once
    (``chat.periodic``): every ``SWEEP_EVERY_S`` seconds, ``sweep``.
    Called when a worker starts (the ``worker_ready`` signal). Returns
    the thread."""
    return periodic.start("scheduled-sweeper", _sweep_step, SWEEP_EVERY_S)


def _sweep_step():
    close_old_connections()
    sweep()
