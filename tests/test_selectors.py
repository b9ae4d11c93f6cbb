import datetime
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.utils import timezone

from chat import selectors
from chat.models import ReadMark
from tests.factories import make_messages, make_room

pytestmark = pytest.mark.django_db


def test_find_room_finds_by_label_and_never_creates():
    room = make_room("lobby")
    assert selectors.find_room("lobby") == room
    assert selectors.find_room("nowhere") is None
    assert selectors.find_room("new") is None
    assert selectors.find_room("lobby") == room


def test_messages_before_are_the_last_ones_below_an_id_oldest_first():
    room = make_room()
    messages = make_messages(room, 60)
    make_messages(make_room("elsewhere"), 3)

    assert selectors.messages_before(room, None, 50) == messages[-50:]
    assert selectors.messages_before(room, messages[10].pk, 5) == messages[5:10]
    assert selectors.messages_before(room, messages[0].pk, 5) == []


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


def test_the_room_list_puts_the_busiest_rooms_first_then_the_latest_active_then_by_label():
    now = timezone.now()
    for label, minutes_ago in [("quiet", 1), ("old", 60), ("busy", 5), ("also-busy", 90)]:
        make_messages(make_room(label), 2, start=now - datetime.timedelta(minutes=minutes_ago))
    make_room("empty-b")
    make_room("empty-a")
    with online({"busy": 3, "also-busy": 3, "quiet": 1}):
        listed = selectors.room_list(AnonymousUser())
    assert [(s.room.label, s.online) for s in listed] == [
        ("busy", 3),
        ("also-busy", 3),
        ("quiet", 1),
        ("old", 0),
        ("empty-a", 0),
        ("empty-b", 0),
    ]


def test_the_room_list_asks_presence_once_for_every_room():
    make_room("alpha")
    make_room("beta")
    with online({}) as counts:
        selectors.room_list(AnonymousUser())
    counts.assert_called_once()
    assert sorted(counts.call_args[0][0]) == ["alpha", "beta"]


def test_the_room_lists_last_activity_is_the_newest_messages_timestamp():
    room = make_room("lobby")
    messages = make_messages(room, 3)
    make_messages(make_room("elsewhere"), 5, start=timezone.now())
    make_room("empty")
    with online({}):
        listed = {s.room.label: s for s in selectors.room_list(AnonymousUser())}
    assert listed["lobby"].last_activity == messages[-1].timestamp
    assert listed["empty"].last_activity is None


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
        unread = {s.room.label: s.unread for s in selectors.room_list(ann)}
    assert unread == {"lobby": 3, "garden": 0, "attic": None, "empty": 0}


def test_the_room_list_never_counts_below_zero_unread():
    ann = User.objects.create_user("ann")
    room = make_room()
    make_messages(room, 2)
    ReadMark.objects.create(user=ann, room=room, seq=50)
    with online({}):
        assert selectors.room_list(ann)[0].unread == 0


def test_the_room_list_has_no_unread_figures_for_someone_not_signed_in():
    make_messages(make_room(), 3)
    with online({}):
        assert [s.unread for s in selectors.room_list(AnonymousUser())] == [None]


def test_the_room_list_takes_one_query_however_many_rooms(django_assert_num_queries):
    ann = User.objects.create_user("ann")
    for n in range(12):
        room = make_room("room-%d" % n)
        make_messages(room, 3)
        ReadMark.objects.create(user=ann, room=room, seq=n % 4)
    with online({}), django_assert_num_queries(1):
        listed = selectors.room_list(ann)
    assert len(listed) == 12


def test_read_seq_is_the_users_read_mark_in_that_room_or_none():
    ann = User.objects.create_user("ann")
    lobby, garden = make_room("lobby"), make_room("garden")
    ReadMark.objects.create(user=ann, room=lobby, seq=5)
    ReadMark.objects.create(user=User.objects.create_user("bob"), room=garden, seq=2)
    assert selectors.read_seq(ann, lobby) == 5
    assert selectors.read_seq(ann, garden) is None
    assert selectors.read_seq(AnonymousUser(), lobby) is None


def test_the_room_list_shows_members_only_rooms_to_signed_in_users_only():
    make_room("open")
    staff = make_room("staff")
    staff.members_only = True
    staff.save()
    user = User.objects.create_user("alice", password="x")
    with online({}):
        guest_sees = [s.room.label for s in selectors.room_list(AnonymousUser())]
        user_sees = [s.room.label for s in selectors.room_list(user)]
    assert guest_sees == ["open"]
    assert user_sees == ["open", "staff"]


def test_can_read_lets_everyone_into_a_public_room():
    room = make_room("open")
    inactive = User.objects.create_user("gone", is_active=False)
    for user in (None, AnonymousUser(), User.objects.create_user("alice"), inactive):
        assert selectors.can_read(user, room)


def test_can_read_lets_only_active_signed_in_users_into_a_members_only_room():
    room = make_room("staff")
    room.members_only = True
    alice = User.objects.create_user("alice")
    inactive = User.objects.create_user("gone", is_active=False)
    assert selectors.can_read(alice, room)
    for stranger in (None, AnonymousUser(), inactive):
        assert not selectors.can_read(stranger, room)
