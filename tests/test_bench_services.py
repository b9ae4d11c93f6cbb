"""The helpers the benchmark and the tests share (bench/services.py)."""

import psycopg2
import redis

from bench import services


def test_the_consumed_channels_are_the_routings_and_runworkers_defaults():
    assert services.consumed_channels() == [
        "chat.scheduled",
        "chat.thumbnail",
        "chat.webhook",
        "http.disconnect",
        "http.request",
        "websocket.connect",
        "websocket.disconnect",
        "websocket.receive",
    ]


def test_queued_messages_count_consumed_and_response_channels_but_not_unconsumed_ones(
    redis_url, redis_prefix
):
    client = redis.StrictRedis.from_url(redis_url)
    client.rpush(redis_prefix + "websocket.receive", "a", "b")
    client.rpush(redis_prefix + "daphne.response.abc!", "c")
    client.rpush(redis_prefix + "chat.nobody-reads-this", "d", "e", "f")
    client.set(redis_prefix + "a-body", "not a queue")

    assert services.count_queued_messages(redis_url, redis_prefix) == 3
    assert not services.wait_for_empty_queues(redis_url, redis_prefix, timeout=0)
    client.delete(redis_prefix + "websocket.receive")
    assert services.wait_for_empty_queues(redis_url, redis_prefix, timeout=0)


def test_stored_messages_reads_rooms_by_label_or_prefix_in_seq_order(postgres_url):
    with services.scratch_database(postgres_url, "chat_test_services") as url:
        with psycopg2.connect(url) as connection, connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE chat_room (id int PRIMARY KEY, label text);"
                "CREATE TABLE chat_message (id int, room_id int, seq int, message text);"
                "INSERT INTO chat_room VALUES (1, 'a_b'), (2, 'axb'), (3, 'other');"
                "INSERT INTO chat_message VALUES (10, 1, 2, 'two'), (9, 1, 1, 'one'),"
                " (11, 2, 1, 'x'), (12, 3, 1, 'elsewhere');"
            )
        connection.close()
        by_label = services.stored_messages(url, labels=["a_b"], columns=("id", "message"))
        # "_" in a prefix is a literal underscore, not LIKE's any-character.
        by_prefix = services.stored_messages(url, label_prefix="a_", columns=("seq",))
        counted = services.count_stored_messages(url, "a")

    assert by_label == [("a_b", 9, "one"), ("a_b", 10, "two")]
    assert by_prefix == [("a_b", 1), ("a_b", 2)]
    assert counted == 3


def test_the_default_redis_url_is_the_first_shard_or_the_local_one(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "")
    assert services.default_redis_url() == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("REDIS_URL", "redis://one:6379/0, redis://two:6379/0")
    assert services.default_redis_url() == "redis://one:6379/0"
