"""The chat's read queries, beside its writes in ``chat/services.py``."""

import datetime
from dataclasses import dataclass

from django.db.models import OuterRef, Subquery

from chat import conf, presence
from chat.models import Message, ReadMark, Room


def can_read(user, room):
    """Whether ``user`` (a Django user, ``AnonymousUser`` or None) may read
    and write ``room`` (a ``Room`` loaded from the database): True for every
    room but a members-only one, which needs a signed-in, active user. Runs
    no query.

    The one place the socket's re-checks (``chat.revocation``, the ``ping``
    backstop) ask; what "members-only" means lives here alone."""
    if not room.members_only:
        return True
    return user is not None and user.is_authenticated and user.is_active


def find_room(label):
    """The ``Room`` labelled ``label`` (str), or None when there is none or
    the label may not name a room. Never creates one."""
    if not conf.is_valid_label(label):
        return None
    return Room.objects.filter(label=label).first()


@dataclass(frozen=True)
class RoomSummary:
    """One room of the room list: the ``room`` (a ``Room``), how many
    sockets are ``online`` in it (int), its ``last_activity`` (the newest
    message's timestamp, an aware ``datetime``, or None for a room without
    messages), and ``unread``, for a signed-in user who has opened the
    room, how many of its messages came after their read mark (int, 0 or
    more); None otherwise."""

    room: Room
    online: int
    last_activity: datetime.datetime | None
    unread: int | None


def room_list(user):
    """Every room, as a list of ``RoomSummary``, for ``user`` (a Django
    user, or ``AnonymousUser``): busiest first (most sockets online), then
    the most recently active (rooms without messages last), then by label.

    Members-only rooms are listed to signed-in users only. One database
    query, whatever the number of rooms (each room's newest message is
    found through the ``(room, seq)`` index, not by aggregating the
    messages), and one call to ``chat.presence.online_counts``, whose
    errors it raises."""
    newest = Message.objects.filter(room=OuterRef("pk")).order_by("-seq")
    rooms = Room.objects.annotate(
        last_seq=Subquery(newest.values("seq")[:1]),
        last_activity=Subquery(newest.values("timestamp")[:1]),
    )
    if not user.is_authenticated:
        rooms = rooms.filter(members_only=False)
    if user.is_authenticated:
        mark = ReadMark.objects.filter(user=user, room=OuterRef("pk")).values("seq")[:1]
        rooms = rooms.annotate(read_seq=Subquery(mark))
    rooms = list(rooms)
    online = presence.online_counts([room.label for room in rooms])
    summaries = [
        RoomSummary(
            room=room,
            online=online.get(room.label, 0),
            last_activity=room.last_activity,
            unread=_unread(room.last_seq, getattr(room, "read_seq", None)),
        )
        for room in rooms
    ]
    summaries.sort(key=_busiest_first)
    return summaries


def _unread(last_seq, read_seq):
    """How many messages lie beyond a read mark: None without a mark; never
    below 0, since a client may report a ``seq`` beyond the room's last."""
    if read_seq is None:
        return None
    return max(0, (last_seq or 0) - read_seq)


def _busiest_first(summary):
    # A room without messages sorts after every room that has any.
    activity = summary.last_activity.timestamp() if summary.last_activity else float("-inf")
    return (-summary.online, -activity, summary.room.label)


def read_seq(user, room):
    """The ``seq`` (int) up to which ``user`` (a Django user, or
    ``AnonymousUser``) has read ``room`` (a ``Room``): their ``ReadMark``'s,
    or None when they have none there or are not signed in."""
    if not user.is_authenticated:
        return None
    return ReadMark.objects.filter(user=user, room=room).values_list("seq", flat=True).first()


def messages_after(room, after_id, limit):
    """Up to ``limit`` (int) messages of ``room`` with an id above
    ``after_id`` (int), oldest first, as a list of ``Message`` (with their
    ``upload``, for ``as_dict``)."""
    messages = room.messages.select_related("upload").filter(id__gt=after_id)
    return list(messages.order_by("seq")[:limit])


def messages_before(room, before_id, limit):
    """The last ``limit`` (int) messages of ``room`` with an id below
    ``before_id`` (int, or None for no bound), oldest first, as a list of
    ``Message`` (with their ``upload``, for ``as_dict``)."""
    messages = room.messages.select_related("upload")
    if before_id is not None:
        messages = messages.filter(id__lt=before_id)
    return list(reversed(messages.order_by("-seq")[:limit]))
