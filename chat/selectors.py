"""The chat's read queries, beside its writes in ``chat/services.py``."""

import datetime
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Q, Subquery

from chat import conf, presence
from chat.models import Message, ReadMark, Room, RoomMembership


def _signed_in(user):
    """Whether ``user`` (a Django user, ``AnonymousUser`` or None) is an
    active signed-in user."""
    return user is not None and user.is_authenticated and user.is_active


def can_read(user, room):
    """Whether ``user`` (a Django user, ``AnonymousUser``, or None for
    nobody, such as a bot) may read and write ``room`` (a ``Room``): open
    its page, catch up, fetch its images, upload, and join its socket.

    The chat's one access rule, which every path asks: a public room admits
    everyone; a private room admits its members (``RoomMembership``, either
    role) while they are active signed-in users. One query for a private
    room, none for a public one."""
    if not room.private:
        return True
    if not _signed_in(user):
        return False
    return RoomMembership.objects.filter(room=room, user=user).exists()


def readable_rooms(user):
    """The rooms ``user`` (as ``can_read`` takes it) may read, as a
    ``QuerySet`` of ``Room``: every public room, and the private rooms they
    are a member of. The same rule as ``can_read``, for lists."""
    rooms = Room.objects.all()
    if not _signed_in(user):
        return rooms.filter(private=False)
    mine = RoomMembership.objects.filter(user=user).values("room")
    return rooms.filter(Q(private=False) | Q(pk__in=mine))


def membership(user, room):
    """``user``'s ``RoomMembership`` of ``room``, or None (always None for
    someone not signed in, or inactive)."""
    if not _signed_in(user):
        return None
    return RoomMembership.objects.filter(room=room, user=user).first()


def members(room):
    """``room``'s memberships, as a list of ``RoomMembership`` with their
    ``user``: owners first, then by username."""
    memberships = room.memberships.select_related("user")
    return sorted(memberships, key=lambda m: (not m.is_owner, m.user.get_username().lower()))


def find_user(username):
    """The user whose username is ``username`` (str, surrounding whitespace
    ignored): an exact match, else the one user whose username matches
    regardless of case; None otherwise."""
    username = (username or "").strip()
    if not username:
        return None
    users = get_user_model().objects
    found = users.filter(username=username).first()
    if found is None:
        matches = list(users.filter(username__iexact=username)[:2])
        found = matches[0] if len(matches) == 1 else None
    return found


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

    Only the rooms ``user`` may read are listed (``readable_rooms``). One database
    query, whatever the number of rooms (each room's newest message is
    found through the ``(room, seq)`` index, not by aggregating the
    messages), and one call to ``chat.presence.online_counts``, whose
    errors it raises."""
    newest = Message.objects.filter(room=OuterRef("pk")).order_by("-seq")
    rooms = readable_rooms(user).annotate(
        last_seq=Subquery(newest.values("seq")[:1]),
        last_activity=Subquery(newest.values("timestamp")[:1]),
    )
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
