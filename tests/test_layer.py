"""ChatChannelLayer (chat/transport/layer/) against real Redis servers.

asgiref's conformance suite runs on one Redis, on two shards and encrypted.
The layer's own promises follow: batched and Twisted receive, one round trip
per shard for a Group send, overflow accounting, capacities, sharding,
expiry, flush and statistics. Round trips and connections are counted by the
Redis server itself (MONITOR, INFO), on throwaway servers that nothing else
talks to.
"""

import fnmatch
import logging
import re
import threading
import time
import uuid

import pytest
import redis
from asgi_redis import RedisChannelLayer
from asgiref import conformance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet import defer, reactor, task
from twisted.trial import unittest as trial

from chat.transport.layer import ChatChannelLayer, glob_to_lua_pattern
from tests import services

# asgi_redis 1.4.3's own conformance configuration (tests/test_core.py).
CONFORMANCE_CONFIG = {"expiry": 1, "group_expiry": 2, "capacity": 5}


def start_redis_servers(count):
    """``count`` throwaway ``services.RedisServer``s, started; skips (or fails
    under CI) when redis-server cannot be started."""
    servers = []
    try:
        for _ in range(count):
            servers.append(services.RedisServer().start())
    except (OSError, TimeoutError) as error:
        for server in servers:
            server.stop()
        services.unavailable("Could not start redis-server: %s" % error)
    return servers


def unique_prefix():
    """A key prefix (str) no other layer in this run uses."""
    return "test-layer-%s:" % uuid.uuid4().hex[:10]


def keys_under(url, prefix):
    """The keys (sorted list of str) under ``prefix`` in the Redis at ``url``."""
    client = redis.StrictRedis.from_url(url)
    return sorted(key.decode("utf8") for key in client.scan_iter(match=prefix + "*", count=1000))


class CommandLog:
    """Records, with MONITOR, the commands that clients sent each Redis at
    ``urls`` during a ``with`` block: one entry per round trip, leaving out
    the commands Lua scripts ran. ``commands[i]`` is the list of command
    names (lower-case str) that the server at ``urls[i]`` received."""

    def __init__(self, urls):
        self.urls = list(urls)
        self.commands = []
        self._monitors = []

    def __enter__(self):
        for url in self.urls:
            connection = redis.ConnectionPool.from_url(url).get_connection("MONITOR")
            connection.send_command("MONITOR")
            assert connection.read_response() == b"OK"
            self._monitors.append(connection)
        return self

    def __exit__(self, *exc_info):
        line_re = re.compile(rb'^[\d.]+ \[\d+ ([^\]]+)\] "([^"]*)"')
        for url, connection in zip(self.urls, self._monitors, strict=True):
            marker = uuid.uuid4().hex
            redis.StrictRedis.from_url(url).echo(marker)
            seen = []
            while True:
                line = connection.read_response()
                if marker.encode() in line:
                    break
                source, command = line_re.match(line).groups()
                if source != b"lua":
                    seen.append(command.decode().lower())
            self.commands.append(seen)
            connection.disconnect()


@pytest.fixture(scope="module")
def shard_servers():
    """Two throwaway Redis servers for this module, for sharding and for
    counting commands."""
    servers = start_redis_servers(2)
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def make_layer(redis_url, redis_prefix):
    """A factory for ``ChatChannelLayer``s under the test's own prefix (keys
    under ``redis_prefix + "asgi:"``, statistics under ``redis_prefix +
    "stats:"``), on ``redis_url`` unless ``hosts`` is given. Each layer is
    flushed afterwards, so throwaway shards are left clean too."""
    layers = []

    def make(hosts=None, **config):
        config.setdefault("prefix", redis_prefix + "asgi:")
        config.setdefault("stats_prefix", redis_prefix + "stats:")
        layer = ChatChannelLayer(hosts=hosts or [redis_url], **config)
        layers.append(layer)
        return layer

    yield make
    for layer in layers:
        layer.flush()


def receive_all(layer, channels, tries=1):
    """Every ``(channel, message)`` that non-blocking receives on
    ``channels`` return until ``tries`` receives in a row return nothing."""
    received = []
    misses = 0
    while misses < tries:
        channel, message = layer.receive(channels)
        if channel is None:
            misses += 1
        else:
            misses = 0
            received.append((channel, message))
    return received


# --- asgiref's conformance suite ---------------------------------------------


@pytest.fixture(scope="class")
def one_redis_layer(request, redis_url):
    """Puts a conformance-configured layer on one Redis on the test class."""
    prefix = unique_prefix()
    request.cls.channel_layer = ChatChannelLayer(
        hosts=[redis_url],
        prefix=prefix + "asgi:",
        stats_prefix=prefix + "stats:",
        symmetric_encryption_keys=getattr(request.cls, "encryption_keys", None),
        **CONFORMANCE_CONFIG,
    )
    yield
    request.cls.channel_layer.flush()
    services.delete_redis_prefix(redis_url, prefix)


@pytest.fixture(scope="class")
def two_shard_layer(request, shard_servers):
    """Puts a conformance-configured layer sharded over two Redis servers on
    the test class."""
    prefix = unique_prefix()
    request.cls.channel_layer = ChatChannelLayer(
        hosts=[server.url for server in shard_servers],
        prefix=prefix + "asgi:",
        stats_prefix=prefix + "stats:",
        **CONFORMANCE_CONFIG,
    )
    yield
    request.cls.channel_layer.flush()


@pytest.mark.usefixtures("one_redis_layer")
class TestConformanceOneRedis(conformance.ConformanceTestCase):
    expiry_delay = 1.1
    capacity_limit = 5
    receive_tries = 1


@pytest.mark.usefixtures("two_shard_layer")
class TestConformanceTwoShards(conformance.ConformanceTestCase):
    expiry_delay = 1.1
    capacity_limit = 5
    # Non-local channels are read from one shard per receive, in turn.
    receive_tries = 2

    def test_capacity(self):
        """As with asgi_redis, sends to a non-local channel go to each shard
        in turn and each shard's list has the capacity, so ChannelFull comes
        once every shard's list is full (asgi_redis 1.4.3's own suite sets no
        capacity_limit for this reason)."""
        for _ in range(self.capacity_limit * 2):
            self.channel_layer.send("cap_test", {"hey": "there"})
        with self.assertRaises(self.channel_layer.ChannelFull):
            self.channel_layer.send("cap_test", {"hey": "there"})


@pytest.mark.usefixtures("one_redis_layer")
class TestConformanceEncrypted(conformance.ConformanceTestCase):
    expiry_delay = 1.1
    capacity_limit = 5
    receive_tries = 1
    encryption_keys = ["test", "old"]


# --- Batched receive ---------------------------------------------------------


def test_a_process_local_backlog_comes_back_in_batches_in_order_and_bodies_go(
    make_layer, shard_servers
):
    url = shard_servers[0].url
    layer = make_layer(hosts=[url])
    sent = [("daphne.response.batch!c%d" % (i % 7), {"n": i}) for i in range(250)]
    for channel, message in sent:
        layer.send(channel, message)

    with CommandLog([url]) as log:
        received = [layer.receive(["daphne.response.batch!"]) for _ in range(250)]
        assert layer.receive(["daphne.response.batch!"]) == (None, None)

    assert received == sent
    # 100 + 100 + 50 messages, then one finding the list empty: the bodies
    # come in the entries, so there is nothing to fetch or delete.
    assert log.commands == [["lmpop"] * 4]
    assert keys_under(url, layer.prefix) == []


def test_a_quiet_blocking_receive_is_one_blmpop_that_brings_the_message(make_layer, shard_servers):
    url = shard_servers[0].url
    layer = make_layer(hosts=[url])
    timer = threading.Timer(0.3, layer.send, ["shared.work", {"late": True}])

    with CommandLog([url]) as log:
        timer.start()
        try:
            received = layer.receive(["shared.work", "daphne.response.q!"], block=True)
        finally:
            timer.cancel()

    assert received == ("shared.work", {"late": True})
    assert log.commands == [["blmpop", "evalsha"]]


def test_shared_channels_are_taken_one_at_a_time(make_layer, redis_url):
    layer = make_layer()
    for i in range(3):
        layer.send("shared.work", {"n": i})

    assert layer.receive(["shared.work"]) == ("shared.work", {"n": 0})
    # Nothing is held back in-process for a channel other readers share.
    assert layer._buffered == {}
    client = redis.StrictRedis.from_url(redis_url)
    assert client.llen(layer.prefix + "shared.work") == 2


def test_receive_block_waits_for_a_message_sent_meanwhile(make_layer):
    layer = make_layer()
    timer = threading.Timer(0.2, layer.send, ["daphne.response.wait!a", {"late": True}])
    timer.start()
    try:
        assert layer.receive(["daphne.response.wait!"], block=True) == (
            "daphne.response.wait!a",
            {"late": True},
        )
    finally:
        timer.cancel()


def test_receive_block_gives_up_after_blpop_timeout(make_layer):
    layer = make_layer()
    layer.blpop_timeout = 1
    assert layer.receive(["daphne.response.idle!", "idle.work"], block=True) == (None, None)


def test_receive_many_still_works(make_layer):
    layer = make_layer()
    layer.send("many.work", {"n": 1})
    with pytest.warns(DeprecationWarning):
        assert layer.receive_many(["many.work"]) == ("many.work", {"n": 1})


def test_messages_in_the_earlier_pointer_formats_are_still_delivered_in_place(
    make_layer, redis_url
):
    layer = make_layer()
    client = redis.StrictRedis.from_url(redis_url)
    stock = RedisChannelLayer(
        hosts=[redis_url], prefix=layer.prefix, stats_prefix=layer.stats_prefix
    )
    layer.send("daphne.response.mixed!a", {"n": 1})
    stock.send("daphne.response.mixed!a", {"n": 2})
    # A Group entry as this layer wrote it before 2026-12-05: a shared body
    # hash counting its readers, and "<body key>|<member>".
    body_key = layer.prefix + uuid.uuid4().hex
    client.hset(body_key, "b", layer.serialize({"n": 3}))
    client.hset(body_key, "n", 1)
    client.rpush(layer.prefix + "daphne.response.mixed!", body_key + "|daphne.response.mixed!b")
    # A pointer whose body expired meanwhile is dropped, not delivered.
    client.rpush(layer.prefix + "daphne.response.mixed!", layer.prefix + uuid.uuid4().hex)
    layer.send("daphne.response.mixed!a", {"n": 4})
    stock.send("mixed.work", {"from": "stock"})

    assert receive_all(layer, ["daphne.response.mixed!"]) == [
        ("daphne.response.mixed!a", {"n": 1}),
        ("daphne.response.mixed!a", {"n": 2}),
        ("daphne.response.mixed!b", {"n": 3}),
        ("daphne.response.mixed!a", {"n": 4}),
    ]
    assert layer.receive(["mixed.work"]) == ("mixed.work", {"from": "stock"})
    assert keys_under(redis_url, layer.prefix) == []


# --- Group send --------------------------------------------------------------


def spread_members(layer):
    """Members of every kind (process-local, plain, single-reader) with
    some filed on each of ``layer``'s two shards."""
    # Names that differ in one character only can all hash to one shard
    # ("daphne.response.p0!" … "p7!" do), so the fixed names are spread out
    # by Knuth's multiplicative hash; the shards they land on never change.
    spread = ["%08x" % (n * 2654435761 % 2**32) for n in range(8)]
    members = ["daphne.response.%s!s%d" % (spread[p], s) for p in range(8) for s in range(25)]
    members += ["plain.member-%s" % spread[i] for i in range(6)]
    assert {layer._member_index(member) for member in members} == {0, 1}
    members += [layer.new_channel("reply.member?") for _ in range(6)]
    return members


def test_a_group_send_is_one_round_trip_per_shard_and_reaches_every_member(
    make_layer, shard_servers
):
    urls = [server.url for server in shard_servers]
    layer = make_layer(hosts=urls)
    members = spread_members(layer)
    for member in members:
        layer.group_add("room", member)
    layer.send_group("room", {"round": 0})  # loads the script on both servers

    with CommandLog(urls) as log:
        layer.send_group("room", {"round": 1})

    assert log.commands == [["evalsha"], ["evalsha"]]
    processes = sorted({layer.non_local_name(m) for m in members if "!" in m})
    received = receive_all(layer, processes)
    for member in members:
        if "!" not in member:
            received += receive_all(layer, [member], tries=2)
    assert sorted(received, key=repr) == sorted(
        [(member, {"round": r}) for member in members for r in (0, 1)], key=repr
    )
    for url in urls:
        assert [key for key in keys_under(url, layer.prefix) if ":group:" not in key] == []


def test_group_members_are_filed_on_their_own_channels_shard(make_layer, shard_servers):
    urls = [server.url for server in shard_servers]
    layer = make_layer(hosts=urls)
    members = spread_members(layer)
    for member in members:
        layer.group_add("room", member)

    for index, url in enumerate(urls):
        filed = redis.StrictRedis.from_url(url).zrange(layer._group_key("room"), 0, -1)
        expected = {m for m in members if layer._member_index(m) == index}
        assert {member.decode() for member in filed} == expected
    assert sorted(layer.group_channels("room")) == sorted(members)

    gone = [next(m for m in members if layer._member_index(m) == index) for index in (0, 1)]
    for member in gone:
        layer.group_discard("room", member)
    layer.group_discard("room", "never.a.member")
    assert sorted(layer.group_channels("room")) == sorted(set(members) - set(gone))

    layer.send_group("room", {"after": "discard"})
    for member in gone:
        channel = layer.non_local_name(member)
        assert all(got != member for got, _ in receive_all(layer, [channel], tries=2))


def test_each_entry_carries_the_body_and_nothing_else_is_stored(make_layer, redis_url):
    layer = make_layer()
    members = ["daphne.response.rc1!a", "daphne.response.rc2!b", "rc.plain"]
    for member in members:
        layer.group_add("refs", member)
    layer.send_group("refs", {"shared": True})

    kept = sorted(key for key in keys_under(redis_url, layer.prefix) if ":group:" not in key)
    assert kept == sorted(
        layer.prefix + name for name in ["daphne.response.rc1!", "daphne.response.rc2!", "rc.plain"]
    )
    assert layer.receive(["daphne.response.rc1!"]) == ("daphne.response.rc1!a", {"shared": True})
    assert layer.receive(["daphne.response.rc2!"]) == ("daphne.response.rc2!b", {"shared": True})
    assert layer.receive(["rc.plain"]) == ("rc.plain", {"shared": True})
    assert [k for k in keys_under(redis_url, layer.prefix) if ":group:" not in k] == []


def test_an_expired_entry_is_dropped_on_receive_and_the_next_one_delivered(make_layer, redis_url):
    layer = make_layer(expiry=1)
    layer.group_add("room", "daphne.response.late!a")
    layer.send_group("room", {"n": "stale"})
    layer.send("shared.late", {"n": "stale"})
    time.sleep(1.1)
    layer.expiry = 60
    layer.send_group("room", {"n": "fresh"})
    layer.send("shared.late", {"n": "fresh"})

    assert layer.receive(["daphne.response.late!"]) == ("daphne.response.late!a", {"n": "fresh"})
    assert layer.receive(["shared.late"], block=True) == ("shared.late", {"n": "fresh"})
    assert [k for k in keys_under(redis_url, layer.prefix) if ":group:" not in k] == []


def test_riders_run_in_the_group_sends_round_trip_and_report_what_they_wrote(
    make_layer, shard_servers
):
    urls = [server.url for server in shard_servers]
    layer = make_layer(hosts=urls)
    members = spread_members(layer)
    for member in members:
        layer.group_add("room", member)
    first = redis.StrictRedis.from_url(urls[0])
    first.set("rider:session", "old")
    layer.send_group("room", {"round": 0})  # loads the script on both servers

    with CommandLog(urls) as log:
        written = layer.send_group_with_riders(
            "room",
            {"round": 1},
            [
                ["SET", "rider:session", "new", "EX", 60, "XX"],
                ["SET", "rider:gone", "new", "EX", 60, "XX"],
                ["ZADD", "rider:due", "NX", 5, "room"],
                ["ZADD", "rider:due", "NX", 6, "room"],
            ],
        )

    assert written == [1, 0, 1, 0]
    assert log.commands == [["evalsha"], ["evalsha"]]
    assert first.get("rider:session") == b"new"
    assert 0 < first.ttl("rider:session") <= 60
    assert not first.exists("rider:gone")
    assert first.zrange("rider:due", 0, -1, withscores=True) == [(b"room", 5.0)]
    second = redis.StrictRedis.from_url(urls[1])
    assert not second.exists("rider:session") and not second.exists("rider:due")
    processes = sorted({layer.non_local_name(m) for m in members if "!" in m})
    assert len(receive_all(layer, processes)) == 2 * len([m for m in members if "!" in m])


def test_numbered_sends_leave_in_the_order_of_their_numbers(make_layer, shard_servers):
    urls = [server.url for server in shard_servers]
    layer = make_layer(hosts=urls)
    members = spread_members(layer)
    for member in members:
        layer.group_add("room", member)
        layer.group_add("room.presence", member)
    layer.send_group_with_riders("room", {"n": 1}, [], sequence=("r1", 1))
    # 3 is handed over before 2: it waits until 2 is sent, on each shard.
    late = threading.Thread(
        target=layer.send_group_with_riders,
        args=("room", {"n": 3}, []),
        kwargs={"sequence": ("r1", 3)},
    )
    late.start()
    time.sleep(0.2)
    assert late.is_alive()
    # Another Group in the same sequence counts: 2 is a change frame.
    layer.send_group_with_riders("room.presence", {"n": 2}, [], sequence=("r1", 2))
    late.join(5)
    assert not late.is_alive()
    # A number below one already sent goes at once (it was forced past).
    layer.send_group_with_riders("room", {"n": 0}, [], sequence=("r1", 0))

    processes = sorted({layer.non_local_name(m) for m in members if "!" in m})
    received = receive_all(layer, processes)
    for member in [m for m in members if "!" in m]:
        assert [message["n"] for channel, message in received if channel == member] == [1, 2, 3, 0]


def test_a_numbered_send_goes_anyway_once_its_predecessor_is_overdue(make_layer, caplog):
    layer = make_layer()
    layer.sequence_wait_s = 0.3
    layer.group_add("room", "daphne.response.gap!a")
    layer.send_group_with_riders("room", {"n": 1}, [], sequence=("gap", 1))

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="chat.transport.layer"):
        layer.send_group_with_riders("room", {"n": 3}, [], sequence=("gap", 3))
    waited = time.monotonic() - started
    # The predecessor, 2, never comes (its worker died before sending it).
    layer.send_group_with_riders("room", {"n": 4}, [], sequence=("gap", 4))

    assert waited >= 0.3
    assert "waited 0.3 s for the one before" in caplog.text
    assert [m["n"] for _, m in receive_all(layer, ["daphne.response.gap!"])] == [1, 3, 4]


def test_riders_run_for_a_group_without_members_and_may_only_write(make_layer, redis_url):
    layer = make_layer()
    client = redis.StrictRedis.from_url(redis_url)
    key = layer.prefix + "rider-due"

    assert layer.send_group_with_riders("empty", {"n": 1}, [["ZADD", key, "NX", 1, "a"]]) == [1]
    assert client.zscore(key, "a") == 1.0
    with pytest.raises(redis.exceptions.ResponseError, match="only SET or ZADD"):
        layer.send_group_with_riders("empty", {"n": 2}, [["DEL", key]])
    assert client.exists(key)
    client.delete(key)


def test_a_broadcast_to_a_thousand_member_room_fits_one_daphne(make_layer):
    layer = make_layer()
    members = ["daphne.response.big!s%d" % i for i in range(1000)]
    for member in members:
        layer.group_add("big", member)

    layer.send_group("big", {"text": "hello"})

    assert layer.channel_statistics("daphne.response.big!")["messages_pending"] == 1000
    assert layer.global_statistics()["channel_full_count"] == 0
    received = receive_all(layer, ["daphne.response.big!"])
    assert sorted(channel for channel, _ in received) == sorted(members)


# --- Never dropped silently ---------------------------------------------------


def test_a_full_member_is_counted_and_logged_and_the_others_still_get_it(make_layer, caplog):
    layer = make_layer(channel_capacity={"daphne.response.full*": 3})
    for i in range(3):
        layer.send("daphne.response.full!x%d" % i, {"filler": i})
    members = ["daphne.response.full!a", "daphne.response.ok!b", "plain.ok"]
    for member in members:
        layer.group_add("room", member)

    with caplog.at_level(logging.WARNING, logger="chat.transport.layer"):
        layer.send_group("room", {"text": "hi"})

    statistics = layer.global_statistics()
    assert statistics["channel_full_count"] == 1
    assert statistics["group_full_count"] == 1
    assert statistics["messages_count"] == 3 + 2
    full = layer.channel_statistics("daphne.response.full!")
    assert (full["channel_full_count"], full["group_full_count"]) == (1, 1)
    assert layer.group_statistics("room") == {"group_full_count": 1}
    [record] = [r for r in caplog.records if r.name == "chat.transport.layer"]
    assert record.levelno == logging.WARNING
    assert "room" in record.getMessage() and "daphne.response.full!a" in record.getMessage()
    assert record.args  # formatted lazily
    assert layer.receive(["daphne.response.ok!"]) == ("daphne.response.ok!b", {"text": "hi"})
    assert layer.receive(["plain.ok"]) == ("plain.ok", {"text": "hi"})
    assert [m for _, m in receive_all(layer, ["daphne.response.full!"])] == [
        {"filler": i} for i in range(3)
    ]


def test_a_send_to_a_full_channel_raises_and_is_counted_and_logged(make_layer, caplog):
    layer = make_layer(capacity=2)
    layer.send("tiny.work", {"n": 1})
    layer.send("tiny.work", {"n": 2})

    with caplog.at_level(logging.WARNING, logger="chat.transport.layer"):
        with pytest.raises(layer.ChannelFull):
            layer.send("tiny.work", {"n": 3})

    assert layer.global_statistics()["channel_full_count"] == 1
    assert layer.global_statistics()["group_full_count"] == 0
    assert layer.channel_statistics("tiny.work")["channel_full_count"] == 1
    assert any(
        "tiny.work" in r.getMessage() for r in caplog.records if r.name == "chat.transport.layer"
    )


def test_capacities_held_as_compiled_regexes_still_apply_to_group_sends(make_layer):
    layer = make_layer(channel_capacity={re.compile(r"^daphne\.response\.small!$"): 2})
    assert layer._lua_capacities is None
    for member in ["daphne.response.small!a", "daphne.response.small!b", "daphne.response.small!c"]:
        layer.group_add("room", member)

    layer.send_group("room", {"text": "hi"})

    assert len(receive_all(layer, ["daphne.response.small!"])) == 2
    assert layer.global_statistics()["group_full_count"] == 1


# --- Capacities -----------------------------------------------------------


def test_default_capacities_fill_in_behind_the_users_table(make_layer):
    default = make_layer(capacity=5)
    assert default.get_capacity("daphne.response.abc!") == 50000
    assert default.get_capacity("websocket.receive") == 2000
    assert default.get_capacity("http.request") == 1000
    assert default.get_capacity("chat.other") == 5

    tuned = make_layer(channel_capacity={"daphne.response*": 7, "chat.*": 9})
    assert tuned.get_capacity("daphne.response.abc!") == 7
    assert tuned.get_capacity("chat.other") == 9
    assert tuned.get_capacity("websocket.receive") == 2000


def test_a_consumed_channel_no_pattern_sizes_is_logged_once(make_layer, caplog):
    layer = make_layer(
        capacity=7, channel_capacity={"sized.*": 10, re.compile(r"^regex\.sized$"): 10}
    )
    channels = [
        "unsized.work",
        "sized.work",
        "regex.sized",
        "websocket.receive",
        "daphne.response.unsized!",
        "single.reader?abc",
    ]

    with caplog.at_level(logging.WARNING, logger="chat.transport.layer"):
        layer.receive(channels)
        first = [r for r in caplog.records if r.name == "chat.transport.layer"]
        for _ in range(3):
            layer.receive(channels)
        layer.receive(["unsized.work", "other.unsized"])
        make_layer(capacity=7).receive(["unsized.work"])

    [record] = first
    assert record.levelno == logging.WARNING
    assert record.args == ("unsized.work", 7)  # formatted lazily
    assert "CHANNEL_CAPACITY" in record.getMessage()
    assert "chat/settings.py" in record.getMessage()
    # Once per name for each layer object, and only for names no pattern sizes.
    named = [r.args[0] for r in caplog.records if r.name == "chat.transport.layer"]
    assert named == ["unsized.work", "other.unsized", "unsized.work"]


def test_a_prefix_holding_the_entry_separator_is_refused(redis_url):
    with pytest.raises(ValueError):
        ChatChannelLayer(hosts=[redis_url], prefix="bad|prefix:")


def test_untranslatable_globs_are_reported():
    assert glob_to_lua_pattern("daphne.response*") == rb"^daphne%.response.*$"
    assert glob_to_lua_pattern("[z-a]") is None
    assert glob_to_lua_pattern("[é]") is None


GLOB_ALPHABET = "ab-!?*[]._9é"
NAME_ALPHABET = "ab-!?[]._9é"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    glob=st.text(GLOB_ALPHABET, max_size=8),
    names=st.lists(st.text(NAME_ALPHABET, max_size=8), min_size=1, max_size=20),
)
def test_lua_capacity_patterns_match_exactly_what_fnmatch_matches(redis_url, glob, names):
    lua_pattern = glob_to_lua_pattern(glob)
    if lua_pattern is None:
        return
    # How asgiref's compile_capacities reads a glob.
    python_pattern = re.compile(fnmatch.translate(glob))
    # The glob itself (wildcards taken literally) and names built from it.
    names = names + [glob, glob.replace("*", "").replace("?", "a")]
    client = redis.StrictRedis.from_url(redis_url)
    matched = client.eval(
        "local out = {} for i = 1, #ARGV do"
        " out[i] = string.find(ARGV[i], KEYS[1]) and 1 or 0 end return out",
        1,
        lua_pattern,
        *[name.encode("utf8") for name in names],
    )
    assert [bool(m) for m in matched] == [bool(python_pattern.match(n)) for n in names]


# --- Expiry, flush, statistics ---------------------------------------------


def test_lists_and_groups_carry_their_expiry(make_layer, redis_url):
    layer = make_layer(expiry=1, group_expiry=2)
    client = redis.StrictRedis.from_url(redis_url)
    layer.group_add("room", "daphne.response.exp!a")
    layer.send_group("room", {"text": "soon gone"})
    layer.send("daphne.response.exp!b", {"text": "soon gone"})

    for key in keys_under(redis_url, layer.prefix):
        limit = 2 if key.endswith(("!", ":group:room")) else 1
        assert 0 < client.ttl(key) <= limit, key

    time.sleep(1.1)
    assert layer.receive(["daphne.response.exp!"]) == (None, None)
    assert [k for k in keys_under(redis_url, layer.prefix) if ":group:" not in k] == []


def test_members_older_than_group_expiry_get_nothing(make_layer, redis_url):
    layer = make_layer(group_expiry=60)
    layer.group_add("room", "daphne.response.old!fresh")
    # A member last added over group_expiry seconds ago, without waiting.
    redis.StrictRedis.from_url(redis_url).zadd(
        layer._group_key("room"), time.time() - 61, "daphne.response.old!stale"
    )

    layer.send_group("room", {"text": "hi"})

    assert receive_all(layer, ["daphne.response.old!"]) == [
        ("daphne.response.old!fresh", {"text": "hi"})
    ]
    assert layer.group_channels("room") == ["daphne.response.old!fresh"]


def test_flush_empties_redis_and_the_in_process_batch(make_layer, redis_url):
    layer = make_layer()
    for i in range(5):
        layer.send("daphne.response.fl!a", {"n": i})
    layer.group_add("room", "daphne.response.fl!b")
    layer.send_group("room", {"n": "group"})
    layer.send("fl.work", {"n": 1})
    assert layer.receive(["daphne.response.fl!"]) == ("daphne.response.fl!a", {"n": 0})

    layer.flush()

    assert layer.receive(["daphne.response.fl!", "fl.work"]) == (None, None)
    assert keys_under(redis_url, layer.prefix) == []
    assert keys_under(redis_url, layer.stats_prefix) == []


def test_statistics_keep_the_stock_keys(make_layer):
    layer = make_layer()
    layer.send("first_channel", {"pay": "load"})
    layer.send("first_channel", {"pay": "load"})
    layer.send("second_channel", {"pay": "load"})
    layer.group_add("room", "daphne.response.st!a")
    layer.send_group("room", {"pay": "load"})

    assert layer.global_statistics() == {
        "messages_count": 4,
        "channel_full_count": 0,
        "group_full_count": 0,
    }
    assert layer.channel_statistics("first_channel") == {
        "messages_count": 2,
        "messages_pending": 2,
        "messages_max_age": 0,
        "channel_full_count": 0,
        "group_full_count": 0,
    }
    group_channel = layer.channel_statistics("daphne.response.st!")
    assert group_channel["messages_count"] == 1
    assert group_channel["messages_pending"] == 1
    # Read from the entry's own expiry.
    assert 0 <= group_channel["messages_max_age"] <= 1


# --- Twisted mode -------------------------------------------------------------


def command_calls(client, *names):
    """Calls (int) of the named commands since the server's statistics were
    reset, scripts' own commands included, from INFO commandstats."""
    stats = client.info("commandstats")
    return sum(stats.get("cmdstat_%s" % name, {}).get("calls", 0) for name in names)


class TwistedReceiveTests(trial.TestCase):
    """receive_twisted driven by a real reactor, as Daphne drives it."""

    timeout = 60

    def setUp(self):
        [self.server] = start_redis_servers(1)
        self.client = redis.StrictRedis.from_url(self.server.url)
        prefix = unique_prefix()
        self.layer = ChatChannelLayer(
            hosts=[self.server.url], prefix=prefix + "asgi:", stats_prefix=prefix + "stats:"
        )

    def tearDown(self):
        closing = self.layer.disconnect_twisted()
        closing.addBoth(lambda _: self.server.stop())
        return closing

    @defer.inlineCallbacks
    def receive(self, count, channel="daphne.response.tw!"):
        received = []
        for _ in range(count):
            received.append((yield self.layer.receive_twisted([channel])))
        return received

    @defer.inlineCallbacks
    def test_batches_over_one_persistent_connection(self):
        sent = [("daphne.response.tw!c%d" % (i % 9), {"n": i}) for i in range(250)]
        for channel, message in sent:
            self.layer.send(channel, message)
        self.client.config_resetstat()
        connections = self.client.info("stats")["total_connections_received"]

        received = yield self.receive(250)

        self.assertEqual(received, sent)
        self.assertEqual(self.client.info("stats")["total_connections_received"] - connections, 1)
        # 100 + 100 + 50, the bodies in the entries.
        self.assertEqual(command_calls(self.client, "lmpop", "blmpop"), 3)
        self.assertEqual(command_calls(self.client, "eval", "evalsha"), 0)
        self.assertEqual(keys_under(self.server.url, self.layer.prefix), [])

    @defer.inlineCallbacks
    def test_group_entries_name_each_member(self):
        members = ["daphne.response.tw!s%d" % i for i in range(30)] + ["daphne.response.o!x"]
        for member in members:
            self.layer.group_add("room", member)
        self.layer.send_group("room", {"text": "hi"})

        received = yield self.receive(30)

        self.assertEqual(received, [(member, {"text": "hi"}) for member in members[:30]])
        self.assertFalse(self.client.exists(self.layer.prefix + "daphne.response.tw!"))
        # The member on the other process still has its own entry.
        self.assertEqual(self.client.llen(self.layer.prefix + "daphne.response.o!"), 1)

    @defer.inlineCallbacks
    def test_blocks_until_a_message_arrives_rather_than_polling(self):
        self.client.config_resetstat()
        waiting = self.layer.receive_twisted(["daphne.response.tw!"])
        yield task.deferLater(reactor, 0.5, lambda: None)

        self.assertFalse(waiting.called)
        # One BLMPOP for the whole wait, which brings the message itself.
        self.assertEqual(command_calls(self.client, "blmpop", "lmpop", "eval", "evalsha"), 1)
        self.layer.send("daphne.response.tw!late", {"late": True})
        self.assertEqual((yield waiting), ("daphne.response.tw!late", {"late": True}))
        self.assertEqual(command_calls(self.client, "blmpop"), 1)
        self.assertEqual(command_calls(self.client, "lmpop", "eval"), 0)

    @defer.inlineCallbacks
    def test_reconnects_after_redis_restarts(self):
        self.layer.send("daphne.response.tw!a", {"n": 1})
        self.assertEqual((yield self.receive(1)), [("daphne.response.tw!a", {"n": 1})])
        connection = self.layer._twisted_connections[0]

        self.server.stop()
        self.server.start()
        self.layer.send("daphne.response.tw!a", {"n": 2})
        received = None
        for _ in range(40):
            try:
                received = yield self.layer.receive_twisted(["daphne.response.tw!"])
            except Exception:  # noqa: BLE001 - Daphne's reader logs and retries too
                yield task.deferLater(reactor, 0.25, lambda: None)
            else:
                break

        self.assertEqual(received, ("daphne.response.tw!a", {"n": 2}))
        self.assertIs(self.layer._twisted_connections[0], connection)
