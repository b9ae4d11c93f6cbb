"""The chat's read queries, beside its writes in ``chat/services.py``."""

import datetime
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    prefetch_related_objects,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from chat import conf, mentions, presence
from chat.exceptions import ClientError
from chat.models import Mention, Message, ReadMark, RegisteredHandle, Room, RoomMembership
from chat.protocol import canonical_handle


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


def readers(room):
    """The users who may read ``room`` (a ``Room``, of which only ``pk``
    is read, so that a socket's room built from its channel session
    serves), as a ``QuerySet`` of active users: every one for a public
    room, its members for a private one. The same rule as ``can_read``,
    for lists of users (whom a message may mention, docs/mentions.md).
    Whether the room is private is read in the query itself, not from
    ``room``."""
    public = Room.objects.filter(pk=room.pk, private=False)
    members_of = RoomMembership.objects.filter(room_id=room.pk).values("user")
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .annotate(room_is_public=Exists(public))
        .filter(Q(room_is_public=True) | Q(pk__in=members_of))
    )


def mentioned(room, text, author_id=None):
    """Who ``text`` (str, a message's) mentions in ``room`` (a ``Room``;
    only ``pk`` and ``label`` are read), as ``chat.mentions.Mentions``:
    the names it gives (``chat.mentions.parse``) that are accounts which
    may read the room (``readers``: in a private room, its members only),
    and for ``@here`` the users present in it (``presence``). The author
    ``author_id`` (int, or None) is never among those notified.

    Nothing is asked of anyone for a text without ``@`` (``mentions.NONE``);
    otherwise one query (and, for ``@here``, one read of presence).
    Raises ``django.db.Error`` when the database cannot be reached, and
    what the presence store raises."""
    parsed = mentions.parse(text)
    if not parsed:
        return mentions.NONE
    present = presence.present_handles(room) if parsed.here else set()
    lookups = mentions.lookups(parsed) | {canonical_handle(handle) for handle in present}
    registered = {}
    if lookups:
        rows = RegisteredHandle.objects.filter(
            canonical__in=lookups, user__in=readers(room).values("pk")
        ).values_list("canonical", "user_id", "user__username")
        for canonical, user_id, username in rows.order_by("user_id"):
            registered.setdefault(canonical, []).append((user_id, username))
    return mentions.resolve(parsed, registered, sorted(present), author_id)


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
    room, how many of its messages came after their read mark (int, 0 to
    ``UNREAD_MAX``; a tombstone does not count, nor does an edit or a
    reaction, which take a ``seq`` of the room's stream but are no new
    message); None otherwise. ``mentions`` (added
    2026-12-05) is, for a signed-in user, how many times they were
    mentioned in the room past their read mark (int, ``mention_counts``);
    None otherwise."""

    room: Room
    online: int
    last_activity: datetime.datetime | None
    unread: int | None
    mentions: int | None = None


@dataclass(frozen=True)
class RoomListPage:
    """One page of the room list: ``rooms`` (a list of ``RoomSummary``,
    the most recently active first), the page's ``number`` (int, from 1),
    and whether a ``next`` and a ``previous`` page exist (bool)."""

    rooms: list
    number: int
    next: bool
    previous: bool


def readable_room(user, label):
    """The existing ``Room`` labelled ``label`` (str) if ``user`` (as
    ``can_read`` takes it) may read it; never creates one. Raises
    ``ClientError("NOT_FOUND")`` (404) otherwise, the same for a room that
    does not exist and one the user may not read, so as not to tell which."""
    room = find_room(label)
    if room is None or not can_read(user, room):
        raise ClientError("NOT_FOUND", "No such room.", status=404)
    return room


# The most unread messages the room list counts in one room: it shows
# "1000 unread" for a room a reader left long ago, however many more lie
# beyond, so that counting never visits more than this many rows a room.
UNREAD_MAX = 1000

# A room's unread messages for the room list: those after the reader's
# mark, not deleted, read from the (room_id, seq) index and capped at
# UNREAD_MAX rows; NULL without a mark. One scalar subquery of the list's
# single query.
_UNREAD_SQL = (
    "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM {message} m WHERE m.room_id = {room}.id "
    "AND m.seq > mark.seq AND m.deleted_at IS NULL LIMIT %s) AS beyond) "
    "FROM {mark} mark WHERE mark.room_id = {room}.id AND mark.user_id = %s"
)


def room_list(user, page=1):
    """Page ``page`` (int, from 1; ``CHAT_ROOM_LIST_PAGE_SIZE`` rooms a page)
    of the rooms ``user`` (a Django user, or ``AnonymousUser``) may see, as
    a ``RoomListPage``: the rooms with at least one message, the most
    recently active first, then by label.

    Only the rooms ``user`` may read are listed (``readable_rooms``). Rooms without
    messages are left out: a visit creates a room, so a script visiting a
    million labels would otherwise make the list a million rooms long.

    One database query, whatever the number of rooms, the unread and
    mention counts (``mention_counts``' rule) among its columns: the page
    is read from the ``room_by_activity`` index on each room's
    ``last_activity`` (kept by ``services.post_message``), never by
    visiting the rooms' messages; and one call to ``chat.presence.online_counts``, for this
    page's rooms only, whose errors it raises."""
    size = conf.get("CHAT_ROOM_LIST_PAGE_SIZE")
    page = max(1, page)
    rooms = readable_rooms(user).filter(last_activity__isnull=False)
    if user.is_authenticated:
        sql = _UNREAD_SQL.format(
            message=Message._meta.db_table, mark=ReadMark._meta.db_table, room=Room._meta.db_table
        )
        rooms = rooms.annotate(unread=RawSQL(sql, (UNREAD_MAX, user.pk)))
        if _signed_in(user):
            counted = (
                _unread_mentions(user)
                .filter(room=OuterRef("pk"))
                .values("room")
                .annotate(count=Count("pk"))
                .values("count")
            )
            rooms = rooms.annotate(
                unread_mentions=Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))
            )
    offset = (page - 1) * size
    # One more than the page tells whether another follows.
    rooms = list(rooms.order_by("-last_activity", "label")[offset : offset + size + 1])
    more = len(rooms) > size
    rooms = rooms[:size]
    online = presence.online_counts([room.label for room in rooms])
    summaries = [
        RoomSummary(
            room=room,
            online=online.get(room.label, 0),
            last_activity=room.last_activity,
            unread=getattr(room, "unread", None),
            mentions=getattr(room, "unread_mentions", None),
        )
        for room in rooms
    ]
    return RoomListPage(rooms=summaries, number=page, next=more, previous=page > 1)


def mention_counts(user, rooms):
    """How many times ``user`` (a Django user, or ``AnonymousUser``) was
    mentioned in each of ``rooms`` (an iterable of ``Room`` or of room
    ids, or a ``QuerySet`` of ``Room``) after their read mark there
    (``ReadMark.seq``; every mention counts in a room they never marked
    read), as ``{room_id: int}``; rooms without such mentions are left
    out. Counts only rooms ``user`` may read (``readable_rooms``): a
    member who lost a private room keeps no count of it. ``{}`` for
    someone not signed in.

    One query for any number of rooms, on the ``mention_by_user_room``
    index (docs/mentions.md)."""
    if not _signed_in(user):
        return {}
    if not isinstance(rooms, QuerySet):
        rooms = [room.pk if isinstance(room, Room) else room for room in rooms]
        if not rooms:
            return {}
    counted = (
        _unread_mentions(user)
        .filter(room__in=rooms)
        .filter(room__in=readable_rooms(user))
        .values("room")
        .annotate(count=Count("pk"))
        .values_list("room", "count")
    )
    return dict(counted)


def _unread_mentions(user):
    """The ``Mention`` rows of ``user`` past their read mark in their room
    (all of a room without one), unordered: what ``mention_counts`` and
    the room list count."""
    mark = ReadMark.objects.filter(user=user, room=OuterRef("room")).values("seq")[:1]
    return (
        Mention.objects.filter(user=user)
        .annotate(read_up_to=Coalesce(Subquery(mark, output_field=IntegerField()), Value(0)))
        .filter(seq__gt=F("read_up_to"))
        .order_by()
    )


def read_seq(user, room):
    """The ``seq`` (int) up to which ``user`` (a Django user, or
    ``AnonymousUser``) has read ``room`` (a ``Room``): their ``ReadMark``'s,
    or None when they have none there or are not signed in."""
    if not user.is_authenticated:
        return None
    return ReadMark.objects.filter(user=user, room=room).values_list("seq", flat=True).first()


def with_reactions(messages):
    """``messages`` (a list of ``Message``), with the reactions of those
    that changed read in one query, for ``as_dict``; none when none
    changed (a message whose ``version`` is its ``seq`` has none)."""
    changed = [m for m in messages if m.version != m.seq and not m.deleted]
    if changed:
        prefetch_related_objects(changed, "reactions")
    return messages


def messages_after_seq(room, after_seq, limit):
    """Up to ``limit`` (int) messages of ``room`` whose ``version`` is
    above ``after_seq`` (int): those posted or changed after the room's
    event ``after_seq``, each in its current state (tombstones included),
    in the order of their versions, as a list of ``Message`` (with their
    ``upload`` and reactions, for ``as_dict``). docs/protocol.md,
    "Keeping up". One query on the ``(room, version)`` index, and one for
    the reactions of changed messages, if any."""
    messages = room.messages.select_related("upload").filter(version__gt=after_seq)
    return with_reactions(list(messages.order_by("version")[:limit]))


def messages_after(room, after_id, limit):
    """Up to ``limit`` (int) messages of ``room`` with an id above
    ``after_id`` (int), oldest first, as a list of ``Message`` (with their
    ``upload`` and reactions, for ``as_dict``), each in its current state.

    One query, on the ``(room, seq)`` index whatever ``after_id`` is: a
    room's ids rise with its ``seq`` (both are given under the room's
    lock, chat/services.py), so "id above ``after_id``" is "seq above the
    seq of the room's last message up to ``after_id``" (``_seq_at_or_below``),
    and no plan scans the whole table's primary key for a quiet room."""
    messages = room.messages.select_related("upload")
    if after_id > 0:
        messages = messages.filter(seq__gt=_seq_at_or_below(room, after_id))
    return with_reactions(list(messages.order_by("seq")[:limit]))


def messages_before(room, before_id, limit):
    """The last ``limit`` (int) messages of ``room`` with an id below
    ``before_id`` (int, or None for no bound), oldest first, as a list of
    ``Message`` (with their ``upload`` and reactions, for ``as_dict``),
    each in its current state. One query, on the ``(room, seq)`` index, as
    ``messages_after``, and one for the reactions of changed messages, if
    any."""
    messages = room.messages.select_related("upload")
    if before_id is not None:
        messages = messages.filter(seq__lt=_seq_at_or_above(room, before_id))
    return with_reactions(list(reversed(messages.order_by("-seq")[:limit])))


def messages_around(room, seq, before, after):
    """The messages of ``room`` around its event ``seq`` (int): the last
    ``before`` (int) with a ``seq`` below it and the first ``after`` (int)
    from it on, oldest first, each in its current state, as
    ``(messages, has_older, has_newer)``: a list of ``Message`` (with their
    ``upload`` and reactions, for ``as_dict``) and two bools, whether the
    room has messages before and after those. For a permalink
    (``/<label>/?at=<seq>``) and the first unread message. Two queries on
    the ``(room, seq)`` index, and one for the reactions of changed
    messages, if any."""
    messages = room.messages.select_related("upload")
    older = list(messages.filter(seq__lt=seq).order_by("-seq")[: before + 1])
    newer = list(messages.filter(seq__gte=seq).order_by("seq")[: after + 1])
    page = list(reversed(older[:before])) + newer[:after]
    return with_reactions(page), len(older) > before, len(newer) > after


def _seq_at_or_below(room, message_id):
    """An expression for the ``seq`` of ``room``'s newest message whose id
    is at most ``message_id`` (int), 0 when there is none.

    The id a client sends is, in practice, one of the room's own: found by
    its primary key at once. Any other id (another room's, a made-up one)
    takes the second branch, which PostgreSQL evaluates only then, walking
    the ``(room, seq)`` index down from the newest message."""
    own = room.messages.filter(pk=message_id).values("seq")[:1]
    newest_below = room.messages.filter(pk__lte=message_id).order_by("-seq").values("seq")[:1]
    return Coalesce(Subquery(own), Subquery(newest_below), Value(0))


def _seq_at_or_above(room, message_id):
    """An expression for the ``seq`` of ``room``'s oldest message whose id
    is at least ``message_id`` (int), or one past any ``seq`` (2**31) when
    there is none; found as ``_seq_at_or_below`` finds its own."""
    own = room.messages.filter(pk=message_id).values("seq")[:1]
    oldest_above = room.messages.filter(pk__gte=message_id).order_by("seq").values("seq")[:1]
    return Coalesce(Subquery(own), Subquery(oldest_above), Value(2**31))
