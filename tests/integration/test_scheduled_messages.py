"""Messages sent later on the real split: Daphne, two workers and the delay
process (``rundelay``), real Redis and PostgreSQL, real WebSocket clients
(docs/protocol.md, "Messages sent later")."""

import datetime
import os
import time
import uuid

import psycopg2
import pytest
import redis
import websocket

from bench.chat_client import ChatClient, guest_sessions, unique_label, user_sessions
from bench.split import manage, running
from tests import services

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def delay_split(split_env, postgres_url):
    """A split of this module's own, with the delay process, on its own
    database and channel-layer prefix: its tests kill and restart
    ``rundelay``. Its own database, because a delay server sends every due
    row of its database's table on its own channel layer: the session's
    split's ``rundelay`` would otherwise post this one's messages."""
    tag = uuid.uuid4().hex[:6]
    with services.scratch_database(postgres_url, "chat_test_delay_%s" % tag) as database_url:
        env = dict(
            split_env, DATABASE_URL=database_url, CHANNEL_LAYER_PREFIX="asgi-delay-%s:" % tag
        )
        with running(env, workers=2, delay=True) as split:
            split.env_of_test = env
            yield split


def in_seconds(seconds):
    """The instant ``seconds`` from now, as a schedule frame's ``at``."""
    at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
    return at, at.isoformat().replace("+00:00", "Z")


def scheduled_rows(database_url, label):
    """``(id, text, status, reason, message_id)`` of room ``label``'s
    scheduled messages, by id."""
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.id, s.text, s.status, s.reason, s.message_id FROM chat_scheduledmessage s "
            "JOIN chat_room r ON r.id = s.room_id WHERE r.label = %s ORDER BY s.id",
            [label],
        )
        return cursor.fetchall()


def stored(database_url, label):
    """``(id, handle, message, timestamp)`` of room ``label``'s messages, by seq."""
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT m.id, m.handle, m.message, m.timestamp FROM chat_message m "
            "JOIN chat_room r ON r.id = m.room_id WHERE r.label = %s ORDER BY m.seq",
            [label],
        )
        return cursor.fetchall()


def wait_until_settled(database_url, label, timeout=90):
    """Wait until none of room ``label``'s scheduled messages is pending;
    returns the rows. Raises ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = scheduled_rows(database_url, label)
        if rows and all(row[2] != "pending" for row in rows):
            return rows
        time.sleep(0.2)
    raise TimeoutError("Still pending after %d s: %r" % (timeout, rows))


def schedule(client, text, at_text):
    """Send a schedule frame and return its ``scheduled`` answer."""
    client.send_frame(type="schedule", message=text, at=at_text)
    frames = client.receive_until(lambda f: f.get("type") in ("scheduled", "error"))
    return frames[-1]


def test_a_scheduled_message_arrives_once_on_time_after_rundelay_is_killed_and_restarted(
    delay_split, split_env
):
    env = dict(os.environ, **delay_split.env_of_test)
    label = unique_label("later")
    name = unique_label("ann").replace("-", "_")
    (session_key,) = user_sessions(env, name)
    author = ChatClient(delay_split, label, session_key=session_key)
    reader = ChatClient(delay_split, label)
    due, at_text = in_seconds(6)

    answer = schedule(author, "see you in six seconds", at_text)
    assert answer["type"] == "scheduled"
    assert [p["message"] for p in answer["pending"]] == ["see you in six seconds"]
    # The delay server has taken it (its DelayedMessage row) before it dies.
    time.sleep(1.5)
    delay_split.kill(delay_split.delay)
    time.sleep(1)
    delay_split.start_delay()
    delay_split.wait_ready()

    heard = reader.receive_until(lambda f: f.get("message") == "see you in six seconds")
    arrived = datetime.datetime.now(datetime.UTC)
    assert heard[-1]["handle"] == name
    # Once: nothing more comes, and PostgreSQL holds it once.
    reader.send_frame(type="ping")
    after = reader.receive_until(lambda f: f.get("type") == "pong")
    assert not [f for f in after if f.get("message") == "see you in six seconds"]
    database_url = delay_split.env_of_test["DATABASE_URL"]
    rows = stored(database_url, label)
    assert [row[2] for row in rows] == ["see you in six seconds"]
    # Not before its time (the delay server's and the frame's clocks are
    # this machine's).
    assert rows[0][3] >= due - datetime.timedelta(milliseconds=100)
    ((_, _, status, _, message_id),) = scheduled_rows(database_url, label)
    assert (status, message_id) == ("sent", rows[0][0])
    print("\nposted %.0f ms after its time" % ((arrived - due).total_seconds() * 1000))
    author.close()
    reader.close()


def test_only_an_identified_socket_may_schedule_and_a_guest_may_in_a_public_room(split, split_env):
    env = dict(os.environ, **split_env)
    label = unique_label("public")
    stranger = ChatClient(split, label)
    answer = schedule(stranger, "from nobody", in_seconds(60)[1])
    assert (answer["type"], answer["error"]) == ("error", "IDENTITY_REQUIRED")

    (guest_key,) = guest_sessions(env, unique_label("gwen"))
    guest = ChatClient(split, label, session_key=guest_key)
    answer = schedule(guest, "from a guest", in_seconds(60)[1])
    assert [p["message"] for p in answer["pending"]] == ["from a guest"]
    # A stranger can neither list nor cancel anyone's; another guest finds
    # nothing of this one's.
    for frame in ({"type": "list_scheduled"}, {"type": "cancel_scheduled", "id": answer["id"]}):
        stranger.send_frame(**frame)
        refused = stranger.receive_until(lambda f: f.get("type") == "error")[-1]
        assert refused["error"] == "IDENTITY_REQUIRED"
    (other_key,) = guest_sessions(env, unique_label("otto"))
    other = ChatClient(split, label, session_key=other_key)
    other.send_frame(type="list_scheduled")
    assert other.receive_until(lambda f: f.get("type") == "scheduled")[-1]["pending"] == []
    other.send_frame(type="cancel_scheduled", id=answer["id"])
    refused = other.receive_until(lambda f: f.get("type") == "error")[-1]
    assert refused["error"] == "SCHEDULED_NOT_FOUND"
    other.close()
    assert [row[1:3] for row in scheduled_rows(split_env["DATABASE_URL"], label)] == [
        ("from a guest", "pending")
    ]
    for client in (stranger, guest):
        client.close()


def test_nobody_outside_a_private_room_can_schedule_into_it_and_a_removed_member_gets_nothing(
    split, split_env
):
    env = dict(os.environ, **split_env)
    label = unique_label("private")
    owner, member, outsider = (unique_label(n).replace("-", "_") for n in ("olive", "ann", "mal"))
    owner_key, member_key, outsider_key = user_sessions(env, owner, member, outsider)
    (guest_key,) = guest_sessions(env, unique_label("gwen"))
    manage(env, "chatroom", "create", label, "--private", "--members", member, "--owners", owner)

    # A stranger, a guest and a signed-in non-member cannot even join the
    # socket that schedule frames travel on.
    for session_key in (None, guest_key, outsider_key):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            ChatClient(split, label, timeout=10, session_key=session_key)
        assert refused.value.status_code == 403

    ann = ChatClient(split, label, session_key=member_key)
    answer = schedule(ann, "after I am gone", in_seconds(4)[1])
    assert answer["type"] == "scheduled"
    manage(env, "chatroom", "create", label, "--private", "--members", "", "--owners", owner)

    ((_, text, status, reason, message_id),) = wait_until_settled(split_env["DATABASE_URL"], label)
    assert (text, status, reason, message_id) == (
        "after I am gone",
        "refused",
        "ACCESS_DENIED",
        None,
    )
    assert stored(split_env["DATABASE_URL"], label) == []
    ann.close()


def test_many_copies_of_one_delivery_at_once_post_it_once(delay_split, split_env):
    # Both workers take copies of the same delivery at the same moment: the
    # claim in the storing transaction lets exactly one of them post it.
    env = dict(os.environ, **delay_split.env_of_test)
    label = unique_label("copies")
    (session_key,) = user_sessions(env, unique_label("ann").replace("-", "_"))
    author = ChatClient(delay_split, label, session_key=session_key)
    # Due in 3 s: the copies come while it is pending and less than
    # EARLY_TOLERANCE_MS early, so they race each other and the delay
    # server's own delivery.
    answer = schedule(author, "only once", in_seconds(3)[1])
    manage(
        env,
        "shell",
        "-c",
        "from channels import Channel\n"
        "for _ in range(40):\n"
        "    Channel('chat.scheduled').send({'id': %d}, immediately=True)\n" % answer["id"],
    )
    ((_, _, status, _, message_id),) = wait_until_settled(env["DATABASE_URL"], label)
    queue = redis.Redis.from_url(env["REDIS_URL"])
    key = env["CHANNEL_LAYER_PREFIX"] + "chat.scheduled"
    deadline = time.monotonic() + 60
    while queue.llen(key) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # the last copies taken are handled
    rows = stored(env["DATABASE_URL"], label)
    assert [row[2] for row in rows] == ["only once"]
    assert (status, message_id) == ("sent", rows[0][0])
    author.close()
