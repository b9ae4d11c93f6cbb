import datetime
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import selectors
from chat.exceptions import ClientError
from chat.models import Mention, Message, ReadMark, Room, RoomMembership
from tests.factories import make_messages, make_room

pytestmark = pytest.mark.django_db


def test_find_room_finds_by_label_and_never_creates():
    room = make_room("lobby")
    assert selectors.find_room("lobby") == room
    assert selectors.find_room("nowhere") is None
    assert selectors.find_room("new") is None
    assert selectors.find_room("lobby") == room


def test_readable_room_is_a_room_the_user_may_read_and_never_a_new_one():
    lobby = make_room("lobby")
    attic = make_room("attic")
    Room.objects.filter(pk=attic.pk).update(private=True)
    ann = User.objects.create_user("ann")
    bob = User.objects.create_user("bob")
    RoomMembership.objects.create(room=attic, user=ann, role=RoomMembership.MEMBER)

    assert selectors.readable_room(AnonymousUser(), "lobby") == lobby
    assert selectors.readable_room(None, "lobby") == lobby
    assert selectors.readable_room(ann, "attic") == attic
    # A guest (no user), a bot (None) and a signed-in non-member are refused
    # a private room as if it did not exist, and no room is ever created.
    for user, label in [(AnonymousUser(), "attic"), (None, "attic"), (bob, "attic"), (ann, "new")]:
        with pytest.raises(ClientError) as refused:
            selectors.readable_room(user, label)
        assert (refused.value.code, refused.value.status) == ("NOT_FOUND", 404)
    assert not Room.objects.filter(label="new").exists()


def test_messages_before_are_the_last_ones_below_an_id_oldest_first():
    room = make_room()
    messages = make_messages(room, 60)
    make_messages(make_room("elsewhere"), 3)

    assert selectors.messages_before(room, None, 50) == messages[-50:]
    assert selectors.messages_before(room, messages[10].pk, 5) == messages[5:10]
    assert selectors.messages_before(room, messages[0].pk, 5) == []


def test_messages_around_a_seq_are_those_before_it_and_from_it_on_oldest_first(
    django_assert_num_queries,
):
    room = make_room()
    messages = make_messages(room, 30)
    with django_assert_num_queries(2):
        assert selectors.messages_around(room, 15, 5, 5) == (messages[9:19], True, True)
    assert selectors.messages_around(room, 3, 5, 5) == (messages[0:7], False, True)
    assert selectors.messages_around(room, 28, 5, 5) == (messages[22:30], True, False)
    assert selectors.messages_around(room, 1, 0, 30) == (messages, False, False)
    # A seq past the end: the last ones before it.
    assert selectors.messages_around(room, 99, 5, 5) == (messages[25:30], True, False)


def test_messages_after_are_the_first_ones_above_an_id_oldest_first():
    room = make_room()
    messages = make_messages(room, 20)
    make_messages(make_room("elsewhere"), 3)

    assert selectors.messages_after(room, 0, 5) == messages[:5]
    assert selectors.messages_after(room, messages[16].pk, 10) == messages[17:]
    assert selectors.messages_after(room, messages[-1].pk, 10) == []


def online(counts):
    """Patch ``chat.presence.online_counts`` to answer ``counts`` ({label:
    int}, 0 for the labels it leaves out) and record the labels asked."""
    return mock.patch(
        "chat.presence.online_counts",
        side_effect=lambda labels: {label: counts.get(label, 0) for label in labels},
    )


def test_the_room_list_puts_the_latest_active_rooms_first_then_by_label_with_who_is_online():
    now = timezone.now()
    for label, minutes_ago in [("quiet", 1), ("old", 60), ("busy", 5), ("also-busy", 5)]:
        make_messages(make_room(label), 2, start=now - datetime.timedelta(minutes=minutes_ago))
    with online({"busy": 3, "also-busy": 3, "quiet": 1}):
        listed = selectors.room_list(AnonymousUser()).rooms
    assert [(s.room.label, s.online) for s in listed] == [
        ("quiet", 1),
        ("also-busy", 3),
        ("busy", 3),
        ("old", 0),
    ]


def test_the_room_list_leaves_out_rooms_without_messages():
    make_messages(make_room("talked"), 1)
    for n in range(5):
        make_room("visited-%d" % n)
    with online({}):
        page = selectors.room_list(AnonymousUser())
    assert [s.room.label for s in page.rooms] == ["talked"]
    assert (page.number, page.next, page.previous) == (1, False, False)


@override_settings(CHAT_ROOM_LIST_PAGE_SIZE=3)
def test_the_room_list_comes_a_page_at_a_time_and_asks_presence_for_that_page_only():
    now = timezone.now()
    for n in range(7):
        make_messages(make_room("room-%d" % n), 1, start=now - datetime.timedelta(minutes=n))
    with online({}) as counts:
        pages = [selectors.room_list(AnonymousUser(), number) for number in (1, 2, 3, 4)]
    assert [[s.room.label for s in page.rooms] for page in pages] == [
        ["room-0", "room-1", "room-2"],
        ["room-3", "room-4", "room-5"],
        ["room-6"],
        [],
    ]
    assert [(page.next, page.previous) for page in pages] == [
        (True, False),
        (True, True),
        (False, True),
        (False, True),
    ]
    assert [sorted(call.args[0]) for call in counts.call_args_list][:3] == [
        ["room-0", "room-1", "room-2"],
        ["room-3", "room-4", "room-5"],
        ["room-6"],
    ]


def test_the_room_lists_last_activity_is_the_newest_messages_timestamp():
    room = make_room("lobby")
    messages = make_messages(room, 3)
    make_messages(make_room("elsewhere"), 5, start=timezone.now())
    with online({}):
        listed = {s.room.label: s for s in selectors.room_list(AnonymousUser()).rooms}
    assert listed["lobby"].last_activity == messages[-1].timestamp


def test_the_room_list_counts_what_a_user_has_not_read_in_the_rooms_they_opened():
    ann = User.objects.create_user("ann")
    bob = User.objects.create_user("bob")
    lobby, garden, attic, empty = (make_room(x) for x in ("lobby", "garden", "attic", "empty"))
    make_messages(lobby, 10)
    make_messages(garden, 4)
    make_messages(attic, 6)
    ReadMark.objects.create(user=ann, room=lobby, seq=7)
    ReadMark.objects.create(user=ann, room=garden, seq=4)
    ReadMark.objects.create(user=ann, room=empty, seq=0)
    ReadMark.objects.create(user=bob, room=attic, seq=1)
    with online({}):
        unread = {s.room.label: s.unread for s in selectors.room_list(ann).rooms}
    assert unread == {"lobby": 3, "garden": 0, "attic": None}


def test_the_room_list_never_counts_below_zero_unread():
    ann = User.objects.create_user("ann")
    room = make_room()
    make_messages(room, 2)
    ReadMark.objects.create(user=ann, room=room, seq=50)
    with online({}):
        assert selectors.room_list(ann).rooms[0].unread == 0


def test_the_room_list_counts_unread_messages_not_the_changes_to_them():
    ann = User.objects.create_user("ann")
    room = make_room()
    messages = make_messages(room, 5)
    ReadMark.objects.create(user=ann, room=room, seq=2)
    # Three messages after the mark, one of them since deleted, and four
    # edits and reactions that took seqs 6 to 9 of the room's stream.
    messages[3].deleted_at = timezone.now()
    messages[3].message = ""
    messages[3].save()
    Room.objects.filter(pk=room.pk).update(last_seq=9)
    with online({}):
        assert selectors.room_list(ann).rooms[0].unread == 2


def test_the_room_list_counts_at_most_unread_max_messages_a_room(monkeypatch):
    monkeypatch.setattr(selectors, "UNREAD_MAX", 3)
    ann = User.objects.create_user("ann")
    room = make_room()
    make_messages(room, 6)
    ReadMark.objects.create(user=ann, room=room, seq=0)
    with online({}):
        assert selectors.room_list(ann).rooms[0].unread == 3


def test_the_room_list_has_no_unread_figures_for_someone_not_signed_in():
    make_messages(make_room(), 3)
    with online({}):
        assert [s.unread for s in selectors.room_list(AnonymousUser()).rooms] == [None]


def test_the_room_list_takes_one_query_however_many_rooms(django_assert_num_queries):
    ann = User.objects.create_user("ann")
    for n in range(12):
        room = make_room("room-%d" % n)
        make_messages(room, 3)
        ReadMark.objects.create(user=ann, room=room, seq=n % 4)
    with online({}), django_assert_num_queries(1):
        listed = selectors.room_list(ann).rooms
    assert len(listed) == 12


def test_read_seq_is_the_users_read_mark_in_that_room_or_none():
    ann = User.objects.create_user("ann")
    lobby, garden = make_room("lobby"), make_room("garden")
    ReadMark.objects.create(user=ann, room=lobby, seq=5)
    ReadMark.objects.create(user=User.objects.create_user("bob"), room=garden, seq=2)
    assert selectors.read_seq(ann, lobby) == 5
    assert selectors.read_seq(ann, garden) is None
    assert selectors.read_seq(AnonymousUser(), lobby) is None


def test_messages_after_an_id_of_another_room_or_none_at_all_still_means_ids_above_it():
    room, other = make_room(), make_room("elsewhere")
    first = make_messages(room, 3)
    between = make_messages(other, 2)
    later = [
        room.messages.create(handle="ann", message="later %d" % n, seq=4 + n) for n in range(2)
    ]
    assert selectors.messages_after(room, between[0].pk, 10) == later
    assert selectors.messages_after(room, first[-1].pk + 10_000, 10) == []
    assert selectors.messages_before(room, between[0].pk, 10) == first
    assert selectors.messages_before(room, 1, 10) == []
    assert selectors.messages_before(room, later[-1].pk + 10_000, 10) == first + later


def test_the_catch_up_queries_bound_the_rooms_seq_not_the_tables_ids():
    room = make_room()
    make_messages(room, 3)
    with CaptureQueriesContext(connection) as queries:
        selectors.messages_after(room, 2, 10)
        selectors.messages_before(room, 2, 10)
    for query in queries.captured_queries:
        outer_where = query["sql"].rsplit(" WHERE ", 1)[-1]
        assert '"seq" >' in query["sql"] or '"seq" <' in query["sql"]
        assert '"chat_message"."id" >' not in outer_where
        assert '"chat_message"."id" <' not in outer_where


def make_private_room(label="staff", members=(), owners=()):
    room = Room.objects.create(label=label, name=label, private=True)
    for user in members:
        RoomMembership.objects.create(room=room, user=user)
    for user in owners:
        RoomMembership.objects.create(room=room, user=user, role=RoomMembership.OWNER)
    return room


def test_the_room_list_shows_a_private_room_to_its_members_only():
    make_messages(make_room("open"), 1)
    ann, bob = User.objects.create_user("ann"), User.objects.create_user("bob")
    carol = User.objects.create_user("carol")
    make_messages(make_private_room("staff", members=[ann], owners=[bob]), 1)
    make_messages(make_private_room("other", members=[carol]), 1)
    with online({}):
        seen = {
            who: sorted(s.room.label for s in selectors.room_list(user).rooms)
            for who, user in [("anyone", AnonymousUser()), ("ann", ann), ("bob", bob)]
        }
        seen["carol"] = sorted(s.room.label for s in selectors.room_list(carol).rooms)
    assert seen == {
        "anyone": ["open"],
        "ann": ["open", "staff"],
        "bob": ["open", "staff"],
        "carol": ["open", "other"],
    }


def test_a_public_room_is_readable_by_everyone_and_nobody():
    room = make_room("open")
    assert selectors.can_read(AnonymousUser(), room)
    assert selectors.can_read(None, room)
    assert selectors.can_read(User.objects.create_user("ann"), room)


def test_a_private_room_is_readable_by_its_active_members_only():
    ann, bob = User.objects.create_user("ann"), User.objects.create_user("bob")
    gone = User.objects.create_user("gone", is_active=False)
    stranger = User.objects.create_user("stranger")
    room = make_private_room(members=[ann, gone], owners=[bob])
    readers = [u for u in (ann, bob, gone, stranger) if selectors.can_read(u, room)]
    assert readers == [ann, bob]
    assert not selectors.can_read(AnonymousUser(), room)
    assert not selectors.can_read(None, room)


def test_readable_rooms_lists_each_room_once_whatever_its_members():
    ann, bob = User.objects.create_user("ann"), User.objects.create_user("bob")
    public = make_room("open")
    RoomMembership.objects.create(room=public, user=ann)
    RoomMembership.objects.create(room=public, user=bob)
    mine = make_private_room("mine", members=[ann, bob])
    make_private_room("theirs", members=[bob])
    assert sorted(r.label for r in selectors.readable_rooms(ann)) == [mine.label, "open"]
    assert [r.label for r in selectors.readable_rooms(None)] == ["open"]


def test_find_user_matches_exactly_then_regardless_of_case():
    ann = User.objects.create_user("Ann")
    assert selectors.find_user("Ann") == ann
    assert selectors.find_user(" ann ") == ann
    assert selectors.find_user("bob") is None
    assert selectors.find_user("") is None


def test_members_lists_owners_first_then_by_username():
    ann, bob = User.objects.create_user("ann"), User.objects.create_user("Bob")
    carol = User.objects.create_user("carol")
    room = make_private_room(members=[carol, ann], owners=[bob])
    assert [m.user for m in selectors.members(room)] == [bob, ann, carol]


def mention(user, room, seq):
    """A ``Mention`` of ``user`` by ``room``'s message ``seq``."""
    message = Message.objects.get(room=room, seq=seq)
    return Mention.objects.create(message=message, room=room, user=user, seq=seq)


def test_mention_counts_are_the_mentions_past_the_read_mark_in_one_query(
    django_assert_num_queries,
):
    ann = User.objects.create_user("ann")
    bob = User.objects.create_user("bob")
    lobby, garden, attic = (make_room(x) for x in ("lobby", "garden", "attic"))
    for room in (lobby, garden, attic):
        make_messages(room, 6)
    for seq in (2, 4, 6):
        mention(ann, lobby, seq)
    mention(ann, garden, 3)
    mention(bob, attic, 5)
    ReadMark.objects.create(user=ann, room=lobby, seq=4)
    # garden: never marked read, so its mention counts.
    with django_assert_num_queries(1):
        counts = selectors.mention_counts(ann, [lobby, garden, attic])
    assert counts == {lobby.pk: 1, garden.pk: 1}
    assert selectors.mention_counts(ann, Room.objects.all()) == counts
    assert selectors.mention_counts(ann, [lobby.pk]) == {lobby.pk: 1}
    assert selectors.mention_counts(ann, []) == {}
    assert selectors.mention_counts(AnonymousUser(), [lobby]) == {}
    # Read past the last mention: the count clears.
    ReadMark.objects.filter(user=ann, room=lobby).update(seq=6)
    assert selectors.mention_counts(ann, [lobby, garden]) == {garden.pk: 1}


def test_mention_counts_leave_out_a_private_room_the_user_no_longer_reads():
    ann = User.objects.create_user("ann")
    attic = make_room("attic")
    make_messages(attic, 2)
    Room.objects.filter(pk=attic.pk).update(private=True)
    membership = RoomMembership.objects.create(room=attic, user=ann)
    mention(ann, attic, 2)
    assert selectors.mention_counts(ann, [attic]) == {attic.pk: 1}
    membership.delete()
    assert selectors.mention_counts(ann, [attic]) == {}


def test_the_room_list_shows_a_signed_in_users_mentions_beside_each_room():
    ann = User.objects.create_user("ann")
    lobby, garden = make_room("lobby"), make_room("garden")
    make_messages(lobby, 4)
    make_messages(garden, 4)
    mention(ann, lobby, 3)
    mention(ann, lobby, 4)
    ReadMark.objects.create(user=ann, room=lobby, seq=3)
    with online({}):
        mentions = {s.room.label: s.mentions for s in selectors.room_list(ann).rooms}
        anonymous = [s.mentions for s in selectors.room_list(AnonymousUser()).rooms]
    assert mentions == {"lobby": 1, "garden": 0}
    assert anonymous == [None, None]


def test_readers_are_everyone_active_in_a_public_room_and_the_members_of_a_private_one():
    ann = User.objects.create_user("ann")
    bob = User.objects.create_user("bob")
    User.objects.create_user("gone", is_active=False)
    lobby, attic = make_room("lobby"), make_room("attic")
    Room.objects.filter(pk=attic.pk).update(private=True)
    RoomMembership.objects.create(room=attic, user=bob)
    # Only the room's pk is read: a socket's room from its session serves.
    names = lambda room: sorted(u.username for u in selectors.readers(Room(pk=room.pk)))  # noqa: E731
    assert names(lobby) == ["ann", "bob"]
    assert names(attic) == ["bob"]
    assert ann not in selectors.readers(attic)
