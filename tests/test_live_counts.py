"""Live counts: the coalescing stores (Redis and in-process, held to the
same behaviour), the rooms a user follows, and what a flush sends."""

import json
from unittest import mock

import pytest
import redis
from django.contrib.auth.models import AnonymousUser, User

from chat import live_counts, presence, selectors
from chat.live_counts.stores import LocalStore, RedisStore
from chat.models import Mention, ReadMark, Room, RoomMembership
from tests.factories import make_messages, make_room

WINDOW = 1000
T0 = 1_000_000  # ms


@pytest.fixture(params=["redis", "local"])
def store(request):
    if request.param == "local":
        return LocalStore(WINDOW)
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    return RedisStore(redis.StrictRedis.from_url(url), prefix + "counts:", WINDOW, 60)


def test_a_room_touched_in_quiet_is_due_at_once_and_taken_once(store):
    assert store.touch("rooms", ["lobby"], T0) == 1
    assert store.touch("rooms", ["lobby"], T0 + 1) == 0
    assert store.take("rooms", T0, 10) == ["lobby"]
    assert store.take("rooms", T0, 10) == []


def test_a_change_within_the_window_is_due_when_the_window_ends_never_lost(store):
    store.touch("rooms", ["lobby"], T0)
    store.take("rooms", T0, 10)
    for offset in (100, 200, 900):
        store.touch("rooms", ["lobby"], T0 + offset)
    assert store.take("rooms", T0 + 999, 10) == []
    # The trailing flush: one, once the window is over.
    assert store.take("rooms", T0 + 1000, 10) == ["lobby"]
    assert store.take("rooms", T0 + 5000, 10) == []


def test_only_users_with_a_socket_become_due(store):
    store.connect(7, "daphne.response.a!1")
    assert store.touch("users", [7, 8], T0, online_only=True) == 1
    assert store.take("users", T0, 10) == [7]
    store.disconnect(7, "daphne.response.a!1")
    assert not store.is_online(7)
    assert store.touch("users", [7], T0 + 5000, online_only=True) == 0


def test_a_user_stays_online_until_their_last_socket_goes(store):
    store.connect(7, "daphne.response.a!1")
    store.connect(7, "daphne.response.a!2")
    store.disconnect(7, "daphne.response.a!1")
    assert store.is_online(7)
    store.disconnect(7, "daphne.response.a!2")
    assert not store.is_online(7)


def test_what_was_sent_is_recorded_and_forgotten_at_a_new_socket(store):
    store.connect(7, "daphne.response.a!1")
    store.record_sent(7, {"lobby": '{"unread": 1}', "attic": "{}"}, [])
    store.record_sent(7, {}, ["attic"])
    assert store.sent(7) == {"lobby": '{"unread": 1}'}
    # A new socket's snapshot is newer than what the others were sent: the
    # next flush sends every room to all of them.
    store.connect(7, "daphne.response.a!2")
    assert store.sent(7) == {}


def test_the_take_is_bounded(store):
    store.touch("users", list(range(1, 21)), T0)
    assert len(store.take("users", T0, 5)) == 5
    assert len(store.take("users", T0, 50)) == 15


@pytest.mark.django_db
def test_a_user_follows_the_readable_rooms_they_marked_or_joined_and_nothing_else():
    ann = User.objects.create_user("ann")
    lobby, attic, cellar, hall = (make_room(n) for n in ("lobby", "attic", "cellar", "hall"))
    make_messages(lobby, 3)
    ReadMark.objects.create(user=ann, room=lobby, seq=1)
    Room.objects.filter(pk__in=[attic.pk, cellar.pk]).update(private=True)
    RoomMembership.objects.create(user=ann, room=attic)
    # A mark left in a private room she is no longer a member of.
    ReadMark.objects.create(user=ann, room=cellar, seq=0)
    rooms = {room.label: room.unread for room in selectors.followed_rooms(ann)}
    assert rooms == {"lobby": 2, "attic": 0}
    assert selectors.followed_rooms(AnonymousUser()) == []
    assert selectors.followers("cellar") == {ann.pk}
    assert selectors.followers("hall") == set()


@pytest.mark.django_db
def test_a_member_who_never_opened_a_private_room_has_all_of_it_unread():
    ann = User.objects.create_user("ann")
    attic = make_room("attic")
    Room.objects.filter(pk=attic.pk).update(private=True)
    RoomMembership.objects.create(user=ann, room=attic)
    make_messages(attic, 4)
    assert [room.unread for room in selectors.followed_rooms(ann)] == [4]


@pytest.fixture
def local_counts():
    with mock.patch.object(live_counts, "_store", LocalStore(WINDOW)):
        yield live_counts.store()


@pytest.mark.django_db
def test_a_flush_sends_only_the_rooms_that_changed_and_a_gone_room(local_counts):
    ann = User.objects.create_user("ann")
    lobby, attic = make_room("lobby"), make_room("attic")
    make_messages(lobby, 2)
    ReadMark.objects.create(user=ann, room=lobby, seq=0)
    ReadMark.objects.create(user=ann, room=attic, seq=0)
    local_counts.connect(ann.pk, "daphne.response.a!1")
    sent = []
    with mock.patch.object(live_counts, "group") as group:
        group.return_value.send.side_effect = lambda message, **_: sent.append(message)
        assert live_counts.flush_user(ann.pk) == 2
        assert live_counts.flush_user(ann.pk) == 0
        ReadMark.objects.filter(user=ann, room=lobby).update(seq=2)
        assert live_counts.flush_user(ann.pk) == 1
        Room.objects.filter(pk=attic.pk).update(private=True)
        assert live_counts.flush_user(ann.pk) == 1
    frames = [json.loads(message["text"]) for message in sent]
    assert all(frame["stream"] == "rooms" for frame in frames)
    payloads = [frame["payload"] for frame in frames]
    assert {p["label"]: p["unread"] for p in payloads[:2]} == {"lobby": 2, "attic": 0}
    assert payloads[2]["label"] == "lobby" and payloads[2]["unread"] == 0
    assert payloads[3] == {"label": "attic", "gone": True}
    group.assert_called_with(ann.pk)


@pytest.mark.django_db
def test_a_flush_for_a_user_without_a_socket_or_deactivated_sends_nothing(local_counts):
    ann = User.objects.create_user("ann")
    lobby = make_room("lobby")
    ReadMark.objects.create(user=ann, room=lobby, seq=0)
    with mock.patch.object(live_counts, "group") as group:
        assert live_counts.flush_user(ann.pk) == 0
        local_counts.connect(ann.pk, "daphne.response.a!1")
        User.objects.filter(pk=ann.pk).update(is_active=False)
        assert live_counts.flush_user(ann.pk) == 0
    group.return_value.send.assert_not_called()


@pytest.mark.django_db
def test_a_message_marks_the_room_and_the_flush_reaches_its_followers_with_a_socket(local_counts):
    ann, bob = User.objects.create_user("ann"), User.objects.create_user("bob")
    lobby = make_room("lobby")
    for user in (ann, bob):
        ReadMark.objects.create(user=user, room=lobby, seq=0)
    local_counts.connect(ann.pk, "daphne.response.a!1")
    live_counts.room_changed("lobby")
    with mock.patch.object(live_counts, "flush_users", return_value=1) as flush_users:
        assert live_counts.flush_due(now=live_counts.now_ms() + 10) == 1
    flush_users.assert_called_once_with([ann.pk])


def test_a_store_failure_never_fails_the_event_that_caused_it():
    broken = mock.Mock()
    broken.touch.side_effect = redis.ConnectionError("down")
    with mock.patch.object(live_counts, "_store", broken):
        live_counts.room_changed("lobby")
        live_counts.user_changed(7)


def test_group_names_of_two_users_cannot_collide_with_each_other_or_a_room():
    assert live_counts.group_name(1) == "stream.user.1"
    assert live_counts.group_name(1) != live_counts.group_name(11)
    assert not live_counts.group_name(1).startswith("chat.")


@pytest.mark.django_db
def test_a_payload_counts_the_mentions_past_the_read_mark():
    ann = User.objects.create_user("ann")
    lobby = make_room("lobby")
    messages = make_messages(lobby, 3)
    ReadMark.objects.create(user=ann, room=lobby, seq=1)
    for message in messages:
        Mention.objects.create(message=message, room=lobby, user=ann, seq=message.seq)
    with mock.patch.object(presence, "online_counts", return_value={"lobby": 4}):
        payload = live_counts.payloads(ann)["lobby"]
    assert payload == {
        "label": "lobby",
        "name": "lobby",
        "unread": 2,
        "mentions": 2,
        "last_activity": payload["last_activity"],
        "online": 4,
    }
    assert payload["last_activity"].endswith("Z")


@pytest.mark.django_db
def test_a_room_where_a_user_was_mentioned_is_followed_and_they_follow_it():
    ann = User.objects.create_user("ann")
    lobby = make_room("lobby")
    (message,) = make_messages(lobby, 1)
    Mention.objects.create(message=message, room=lobby, user=ann, seq=message.seq)
    assert [room.label for room in selectors.followed_rooms(ann)] == ["lobby"]
    assert selectors.followers("lobby") == {ann.pk}


@pytest.mark.django_db
def test_room_counts_match_what_each_reader_is_shown_and_leave_out_who_may_not_read():
    ann, bob, cid = (User.objects.create_user(n) for n in ("ann", "bob", "cid"))
    lobby, attic = make_room("lobby"), make_room("attic")
    messages = make_messages(lobby, 4)
    ReadMark.objects.create(user=ann, room=lobby, seq=2)
    Mention.objects.create(message=messages[3], room=lobby, user=ann, seq=messages[3].seq)
    Mention.objects.create(message=messages[0], room=lobby, user=bob, seq=messages[0].seq)
    counts = selectors.room_counts(lobby, [ann.pk, bob.pk])
    assert counts == {ann.pk: (2, 1), bob.pk: (4, 1)}
    for user in (ann, bob):
        assert counts[user.pk][1] == selectors.mention_counts(user, [lobby]).get(lobby.pk, 0)
    Room.objects.filter(pk=attic.pk).update(private=True)
    attic.refresh_from_db()
    RoomMembership.objects.create(user=ann, room=attic)
    assert set(selectors.room_counts(attic, [ann.pk, bob.pk, cid.pk])) == {ann.pk}


def test_a_payload_offered_before_the_readers_own_counts_moved_is_never_kept(store):
    store.connect(7, "daphne.response.a!1")
    generation = store.generations([7])[7]
    store.bump(7)  # their read mark moved meanwhile
    store.take_pending(7)
    store.offer([(7, generation, "lobby", '{"unread": 5}')], T0)
    # Stale: a full recompute is asked for instead of the old payload.
    assert store.take_pending(7) == {"": "1"}
    generation = store.generations([7])[7]
    store.offer([(7, generation, "lobby", '{"unread": 6}')], T0)
    assert store.take_pending(7) == {"lobby": '{"unread": 6}'}
    assert store.take("users", T0, 10) == [7]


def test_only_online_users_are_among_the_online(store):
    store.connect(7, "daphne.response.a!1")
    assert store.online_among([7, 8]) == [7]


@pytest.mark.django_db
def test_a_fan_out_offers_each_reader_their_own_counts_and_the_flush_sends_them(local_counts):
    ann, bob = User.objects.create_user("ann"), User.objects.create_user("bob")
    lobby = make_room("lobby")
    make_messages(lobby, 3)
    ReadMark.objects.create(user=ann, room=lobby, seq=1)
    ReadMark.objects.create(user=bob, room=lobby, seq=3)
    for user in (ann, bob):
        local_counts.connect(user.pk, "daphne.response.a!%d" % user.pk)
    sent = {}
    with (
        mock.patch.object(presence, "online_counts", return_value={"lobby": 2}),
        mock.patch.object(live_counts, "group") as group,
    ):
        group.side_effect = lambda user_id: mock.Mock(
            send=lambda message, **_: sent.setdefault(user_id, []).append(message)
        )
        assert live_counts.fan_out("lobby", now=T0) == 2
        assert live_counts.flush_due(now=T0) == 2
    unread = {
        user_id: [json.loads(m["text"])["payload"]["unread"] for m in messages]
        for user_id, messages in sent.items()
    }
    assert unread == {ann.pk: [2], bob.pk: [0]}


@pytest.mark.django_db
def test_losing_a_private_room_drops_it_from_the_readers_list(local_counts):
    ann = User.objects.create_user("ann")
    attic = make_room("attic")
    RoomMembership.objects.create(user=ann, room=attic)
    # She had opened it: her read mark stays when she is removed.
    ReadMark.objects.create(user=ann, room=attic, seq=0)
    Room.objects.filter(pk=attic.pk).update(private=True)
    local_counts.connect(ann.pk, "daphne.response.a!1")
    sent = []
    with mock.patch.object(live_counts, "group") as group:
        group.return_value.send.side_effect = lambda message, **_: sent.append(message)
        live_counts.flush_user(ann.pk)
        RoomMembership.objects.filter(user=ann).delete()
        live_counts.fan_out("attic", now=T0)
        live_counts.flush_due(now=T0 + 5000)
    payloads = [json.loads(m["text"])["payload"] for m in sent]
    assert payloads[-1] == {"label": "attic", "gone": True}


def test_an_older_fan_out_of_a_room_never_overwrites_a_newer_one(store):
    store.connect(7, "daphne.response.a!1")
    older, newer = store.fan_out_token("lobby"), store.fan_out_token("lobby")
    assert newer > older
    generation = store.generations([7])[7]
    store.offer([(7, generation, "lobby", '{"unread": 9}')], T0, newer)
    store.offer([(7, generation, "lobby", '{"unread": 4}')], T0, older)
    assert store.take_pending(7) == {"lobby": '{"unread": 9}'}
    # Even once the newer one was flushed.
    store.offer([(7, generation, "lobby", '{"unread": 4}')], T0, older)
    assert store.take_pending(7) == {}


def test_a_user_being_flushed_elsewhere_is_not_flushed_twice_at_once(store):
    assert store.lock([7, 8], 30_000) == [7, 8]
    assert store.lock([7, 9], 30_000) == [9]
    store.unlock([7])
    assert store.lock([7], 30_000) == [7]


@pytest.mark.django_db
def test_a_flush_that_fails_asks_for_a_full_recompute_later(local_counts):
    ann = User.objects.create_user("ann")
    local_counts.connect(ann.pk, "daphne.response.a!1")
    local_counts.offer([(ann.pk, "0", "lobby", '{"unread": 3}')], T0)
    with (
        mock.patch.object(live_counts, "group", side_effect=RuntimeError("layer down")),
        pytest.raises(RuntimeError),
    ):
        live_counts.flush_users([ann.pk])
    assert local_counts.take_pending(ann.pk) == {"": "1"}
    assert local_counts.lock([ann.pk], 1000) == [ann.pk]


@pytest.mark.django_db
def test_a_room_whose_fan_out_fails_is_due_again(local_counts):
    live_counts.room_changed("lobby")
    now = live_counts.now_ms() + 10
    with (
        mock.patch.object(live_counts, "fan_out", side_effect=RuntimeError("db down")),
        pytest.raises(RuntimeError),
    ):
        live_counts.flush_due(now=now)
    assert local_counts.take("rooms", now + WINDOW, 10) == ["lobby"]
