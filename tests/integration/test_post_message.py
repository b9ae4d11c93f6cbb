"""chat.services.post_message on PostgreSQL, raced by several processes at once:
numbering, storing and broadcasting stay one message at a time per room."""

import contextlib
import os
import subprocess
import sys

import psycopg2
import pytest

from bench.chat_client import ChatClient, stored_messages, unique_label
from bench.split import PROJECT_DIR

pytestmark = pytest.mark.integration

SENDERS = 4
PER_SENDER = 25

# Each process waits for a go-ahead file, so that they all send at once.
SEND_CODE = """
import os, time
from chat import services
from chat.models import Room
room = Room.objects.get(label=%(label)r)
while not os.path.exists(%(go)r):
    time.sleep(0.005)
for n in range(%(count)d):
    services.post_message(room, %(handle)r, "%%s %%d" %% (%(handle)r, n))
"""


def test_racing_senders_get_gapless_seqs_broadcast_in_seq_order(split, split_env, tmp_path):
    label = unique_label("race")
    member = ChatClient(split, label)  # its connect creates the room
    member.send("opener", "first")
    first = member.receive()
    assert first["seq"] == 1

    go = tmp_path / "go"
    env = dict(os.environ, **split_env)
    senders = [
        subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                SEND_CODE
                % {
                    "label": label,
                    "go": str(go),
                    "count": PER_SENDER,
                    "handle": "sender-%d" % s,
                },
            ],
            cwd=PROJECT_DIR,
            env=env,
        )
        for s in range(SENDERS)
    ]
    go.touch()
    assert [sender.wait(timeout=60) for sender in senders] == [0] * SENDERS

    frames = [first] + member.receive_many(SENDERS * PER_SENDER)
    member.close()

    # Numbered 1, 2, 3, … with no gap, broadcast in that order, and stored
    # with those numbers in the same order.
    assert [frame["seq"] for frame in frames] == list(range(1, len(frames) + 1))
    assert stored_messages(split_env["DATABASE_URL"], label, ("id", "seq")) == [
        (frame["id"], frame["seq"]) for frame in frames
    ]
    # Each sender's messages kept their order.
    for s in range(SENDERS):
        handle = "sender-%d" % s
        texts = [frame["message"] for frame in frames if frame["handle"] == handle]
        assert texts == ["%s %d" % (handle, n) for n in range(PER_SENDER)]

    # The room notes its newest message, in the statement that stored it.
    with contextlib.closing(psycopg2.connect(split_env["DATABASE_URL"])) as connection:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT r.last_seq, r.last_activity = MAX(m.timestamp) FROM chat_room r "
                "JOIN chat_message m ON m.room_id = r.id WHERE r.label = %s GROUP BY r.id",
                [label],
            )
            assert cursor.fetchone() == (len(frames), True)
