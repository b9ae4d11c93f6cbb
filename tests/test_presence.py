"""Presence: the stores (Redis and in-process, held to the same behaviour),
the frames they lead to, and coalescing and pruning in time."""

import pytest
import redis
from django.test import override_settings

from chat import presence
from chat.presence.stores import LocalStore, RedisStore

WINDOW = 1000
SOCKET_MS = 2
T0 = 1_000_000  # ms


def socket(daphne="d1", n=1):
    return "daphne.response.%s!%d" % (daphne, n)


@pytest.fixture(params=["redis", "local"])
def store(request):
    if request.param == "local":
        return LocalStore(WINDOW, SOCKET_MS)
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    client = redis.StrictRedis.from_url(url)
    return RedisStore(
        client,
        prefix + "presence:",
        WINDOW,
        SOCKET_MS,
        60,
        lambda daphne: prefix + "alive:" + daphne,
    )


def test_a_joining_socket_gets_the_roster_with_itself_in_it(store):
    store.join("room", socket(n=1), "ann", T0)
    added, counts = store.join("room", socket(n=2), "", T0)
    assert added
    assert counts == {"ann": 1, "": 1}


def test_a_second_tab_of_a_handle_is_no_change_and_its_last_tab_leaving_is(store):
    store.join("room", socket(n=1), "ann", T0)
    assert store.take("room", T0) == ({"ann": 1}, {"ann": 1})
    store.join("room", socket(n=2), "ann", T0 + 5000)
    assert store.due(T0 + 10_000) == []
    store.leave("room", socket(n=1), T0 + 10_000)
    assert store.due(T0 + 20_000) == []
    store.leave("room", socket(n=2), T0 + 20_000)
    assert store.take("room", T0 + 20_000) == ({"ann": -1}, {})


def test_joining_again_is_a_renewal_not_a_change(store):
    store.join("room", socket(), "ann", T0)
    store.take("room", T0)
    added, _ = store.join("room", socket(), "ann", T0 + 5000, roster=False)
    assert not added
    assert store.due(T0 + 10_000) == []


def test_every_anonymous_socket_counts_and_changes_the_count(store):
    for n in range(3):
        store.join("room", socket(n=n), "", T0)
    store.leave("room", socket(n=0), T0)
    assert store.take("room", T0) == ({"": 2}, {"": 2})


def test_changes_within_the_window_after_a_frame_wait_for_the_window_to_end(store):
    store.join("room", socket(n=1), "ann", T0)
    assert store.take("room", T0) is not None
    store.join("room", socket(n=2), "bob", T0 + 100)
    store.join("room", socket(n=3), "carl", T0 + 200)
    assert store.due(T0 + 999) == []
    assert store.take("room", T0 + 999) is None
    assert store.due(T0 + 1000) == ["room"]
    assert store.take("room", T0 + 1000) == ({"bob": 1, "carl": 1}, {"ann": 1, "bob": 1, "carl": 1})
    # Claimed once: a second claim finds nothing.
    assert store.take("room", T0 + 1000) is None


def test_a_handle_that_comes_and_goes_in_one_window_nets_to_zero(store):
    store.join("room", socket(), "ann", T0)
    store.leave("room", socket(), T0 + 10)
    assert store.take("room", T0 + 10) == ({"ann": 0}, {})


def test_leaving_twice_or_without_joining_changes_nothing(store):
    assert not store.leave("room", socket(), T0)
    store.join("room", socket(), "ann", T0)
    assert store.leave("room", socket(), T0)
    assert not store.leave("room", socket(), T0)
    assert store.roster("room") == {}


def test_online_counts_are_open_sockets_per_room(store):
    store.join("a", socket(n=1), "ann", T0)
    store.join("a", socket(n=2), "ann", T0)
    store.join("b", socket(n=3), "", T0)
    assert store.online_counts(["a", "b", "c"]) == {"a": 2, "b": 1, "c": 0}


def test_a_dead_daphnes_sockets_are_pruned_and_a_live_ones_kept(redis_url, redis_prefix):
    client = redis.StrictRedis.from_url(redis_url)
    store = RedisStore(
        client,
        redis_prefix + "presence:",
        WINDOW,
        SOCKET_MS,
        60,
        lambda d: redis_prefix + "alive:" + d,
    )
    client.set(redis_prefix + "alive:daphne.response.live!", "1")
    store.join("room", socket("live", 1), "ann", T0)
    store.join("room", socket("dead", 2), "bob", T0)
    store.join("room", socket("dead", 3), "", T0)
    store.join("other", socket("dead", 4), "bob", T0)
    store.take("room", T0)
    store.take("other", T0)

    assert store.prune(T0 + 5000) == 3

    assert store.roster("room") == {"ann": 1}
    assert store.roster("other") == {}
    assert store.take("room", T0 + 5000) == ({"bob": -1, "": -1}, {"ann": 1})
    assert store.take("other", T0 + 5000) == ({"bob": -1}, {})
    # Nothing is left to prune, and the live Daphne's socket stays.
    assert store.prune(T0 + 10_000) == 0
    assert store.roster("room") == {"ann": 1}


def test_a_single_join_or_leave_is_its_own_frame():
    assert presence.change_frame({"ann": 1}, {"ann": 1}) == {"type": "join", "handle": "ann"}
    assert presence.change_frame({"ann": -1}, {}) == {"type": "leave", "handle": "ann"}


def test_anything_more_is_one_fresh_roster():
    counts = {"ann": 2, "bob": 1, "": 4}
    expected = {"type": "presence", "members": ["ann", "bob"], "anonymous": 4}
    assert presence.change_frame({"ann": 1, "bob": 1}, counts) == expected
    assert presence.change_frame({"": 1}, counts) == expected
    assert presence.change_frame({"ann": 0}, counts) == expected
    assert presence.change_frame({"ann": 1, "": -1}, counts) == expected
    assert presence.change_frame({}, counts) is None


@override_settings(CHAT_PRESENCE_NAMES_MAX=2)
def test_above_the_names_limit_frames_carry_counts_instead_of_names():
    counts = {"ann": 1, "bob": 1, "carl": 2, "": 1}
    large = {"type": "presence", "count": 3, "anonymous": 1}
    assert presence.roster_frame(counts) == large
    assert presence.change_frame({"carl": 1}, counts) == large
    assert presence.roster_frame({"ann": 1, "": 5}) == {
        "type": "presence",
        "members": ["ann"],
        "anonymous": 5,
    }


def test_a_room_past_500_sockets_waits_longer_between_frames_2_ms_per_socket(store):
    for n in range(750):
        store.join("big", socket(n=n), "", T0)
    assert store.take("big", T0) is not None
    store.join("big", socket(n=750), "", T0 + 10)
    # 751 sockets: the next frame waits 1,500 ms (750 × 2 ms, counted at the
    # last frame), not the least window of 1,000 ms.
    assert store.take("big", T0 + 1000) is None
    assert store.take("big", T0 + 1499) is None
    assert store.take("big", T0 + 1500) == ({"": 1}, {"": 751})


def test_rooms_whose_labels_are_neighbours_keep_apart_presence(store):
    # A label plus what the keys append, and labels that differ by the
    # separators a key or a Daphne's entry uses.
    labels = ["x", "x-presence", "x_presence", "x-sockets", "sockets", "due", "daphnes"]
    for n, label in enumerate(labels):
        store.join(label, socket("d1", n), "h%d" % n, 0)
    assert store.online_counts(labels) == {label: 1 for label in labels}
    for n, label in enumerate(labels):
        assert store.roster(label) == {"h%d" % n: 1}
    store.leave("x", socket("d1", 0), 0)
    assert store.online_counts(labels) == {label: int(label != "x") for label in labels}
