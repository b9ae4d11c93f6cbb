"""Messages sent later, on the real split, while its processes are killed
with SIGKILL around their time: each is posted exactly once
(chat/scheduling.py; docs/operations.md, "The delay process type")."""

import datetime
import os
import signal
import time
import uuid

import psycopg2
import pytest
import redis

from bench.chat_client import ChatClient, unique_label, user_sessions
from bench.split import running
from tests import services

pytestmark = pytest.mark.integration

COUNT = 12  # messages scheduled per test
SPACING_S = 0.5  # between their times
LEAD_S = 8  # from scheduling to the first one's time


@pytest.fixture
def delay_env(fault_env, postgres_url):
    """The fault tests' environment (dict of str) on a database of the
    test's own: a delay server sends every due row of its database on its
    own channel layer, so another split's ``rundelay`` on the same
    database (the session's) would send this one's rows elsewhere."""
    name = "chat_test_delay_%s" % uuid.uuid4().hex[:6]
    with services.scratch_database(postgres_url, name) as database_url:
        yield dict(fault_env, DATABASE_URL=database_url)


@pytest.fixture
def delay_split(delay_env):
    """A split of the test's own, with two workers and the delay process."""
    with running(delay_env, workers=2, delay=True) as split:
        yield split


def schedule_burst(split, env, label, lead_s=LEAD_S):
    """Schedule COUNT messages in room ``label``, SPACING_S apart from
    ``lead_s`` seconds from now, through a signed-in socket; returns their
    texts (list of str) and the first one's time (monotonic, s)."""
    name = unique_label("ann").replace("-", "_")
    (session_key,) = user_sessions(dict(os.environ, **env), name)
    client = ChatClient(split, label, session_key=session_key)
    start = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=lead_s)
    texts = []
    for n in range(COUNT):
        at = start + datetime.timedelta(seconds=n * SPACING_S)
        text = "later %d %s" % (n, uuid.uuid4().hex[:6])
        client.send_frame(type="schedule", message=text, at=at.isoformat().replace("+00:00", "Z"))
        client.receive_until(lambda f: f.get("type") == "scheduled" and f.get("id"))
        texts.append(text)
    client.close()
    first_due = time.monotonic() + (start - datetime.datetime.now(datetime.UTC)).total_seconds()
    return texts, first_due


def settled(database_url, label, timeout=120):
    """Room ``label``'s scheduled rows ``(text, status, message_id)`` once
    none is pending, and its stored messages' texts (list of str, by
    seq). Raises ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT s.text, s.status, s.message_id FROM chat_scheduledmessage s "
                "JOIN chat_room r ON r.id = s.room_id WHERE r.label = %s ORDER BY s.id",
                [label],
            )
            rows = cursor.fetchall()
            cursor.execute(
                "SELECT m.message FROM chat_message m JOIN chat_room r ON r.id = m.room_id "
                "WHERE r.label = %s ORDER BY m.seq",
                [label],
            )
            texts = [row[0] for row in cursor.fetchall()]
        if rows and all(row[1] != "pending" for row in rows):
            return rows, texts
        if time.monotonic() > deadline:
            raise TimeoutError("Still pending after %d s: %r" % (timeout, rows))
        time.sleep(0.5)


def delay_rows(database_url):
    """How many rows the delay server holds (int)."""
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute('SELECT COUNT(*) FROM "channels.delay_delayedmessage"')
        return cursor.fetchone()[0]


def assert_each_posted_once(texts, rows, stored):
    assert sorted(stored) == sorted(texts), "each text stored exactly once"
    assert [row[1] for row in rows] == ["sent"] * len(texts)
    assert all(row[2] is not None for row in rows)


def sleep_until(moment):
    time.sleep(max(0.0, moment - time.monotonic()))


def test_killing_rundelay_around_their_time_posts_each_scheduled_message_once(
    delay_split, delay_env
):
    label = unique_label("delay-killed")
    texts, first_due = schedule_burst(delay_split, delay_env, label)
    # Killed while the first ones are being sent, restarted while the
    # rest are due: its rows are in PostgreSQL, not in the process.
    sleep_until(first_due + 1.2)
    delay_split.kill(delay_split.delay, signal.SIGKILL)
    waiting = delay_rows(delay_env["DATABASE_URL"])
    assert waiting > 0, "killed with messages still waiting in it"
    sleep_until(first_due + COUNT * SPACING_S + 1)
    delay_split.start_delay()
    delay_split.wait_ready()

    rows, stored = settled(delay_env["DATABASE_URL"], label)
    assert_each_posted_once(texts, rows, stored)
    delay_split.check_alive()


def test_killing_a_worker_around_their_time_posts_each_scheduled_message_once(
    delay_split, delay_env
):
    label = unique_label("worker-killed")
    texts, first_due = schedule_burst(delay_split, delay_env, label)
    sleep_until(first_due + 1.7)
    killed = delay_split.workers[0]
    delay_split.kill(killed, signal.SIGKILL)

    rows, stored = settled(delay_env["DATABASE_URL"], label)
    assert_each_posted_once(texts, rows, stored)
    assert killed.returncode == -signal.SIGKILL
    delay_split.check_alive()


def test_messages_lost_after_the_delay_server_sent_them_are_posted_once_by_the_sweep(
    delay_split, delay_env
):
    # The delay server deletes its row once it has sent it on; a worker
    # killed holding that message takes it along. Stand-in for it: no
    # worker runs while they come due, and the channel's queue is then
    # emptied, as the killed worker's pop would have.
    label = unique_label("lost")
    # Far enough ahead that no worker is left by the first one's time.
    texts, first_due = schedule_burst(delay_split, delay_env, label, lead_s=15)
    for worker in list(delay_split.workers):
        delay_split.kill(worker, signal.SIGKILL)
    assert time.monotonic() < first_due, "the workers were killed before any was due"
    sleep_until(first_due + COUNT * SPACING_S)
    deadline = time.monotonic() + 60
    while delay_rows(delay_env["DATABASE_URL"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    queue = redis.Redis.from_url(delay_env["REDIS_URL"])
    key = delay_env["CHANNEL_LAYER_PREFIX"] + "chat.scheduled"
    assert queue.llen(key) == COUNT, "the delay server sent every one on"
    queue.delete(key)

    delay_split.start_worker()
    delay_split.wait_ready()
    rows, stored = settled(delay_env["DATABASE_URL"], label)
    assert_each_posted_once(texts, rows, stored)
