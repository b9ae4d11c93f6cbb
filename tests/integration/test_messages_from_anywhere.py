"""Messages from outside any socket, on the real split: ``manage.py
chatsay`` and the HTTP API for bots reach a room's live members, numbered
like every other message."""

import json
import urllib.request

import pytest

from bench.chat_client import ChatClient, stored_messages, unique_label
from bench.split import manage

pytestmark = pytest.mark.integration


def api_post(split, label, secret, body):
    """POST ``body`` (dict) to the room's API endpoint; returns (status, dict)."""
    request = urllib.request.Request(
        split.base_url + "/api/rooms/%s/messages" % label,
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer %s" % secret, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_a_member_receives_messages_from_chatsay_and_from_the_api(split, split_env):
    label = unique_label("anywhere")
    member = ChatClient(split, label)  # its connect creates the room
    member.send("ann", "first")
    first = member.receive()
    assert first["seq"] == 1

    printed = manage(split_env, "chatsay", label, "operator", "from the command line")
    said = member.receive()

    secret = manage(split_env, "chattoken", "create", unique_label("bot")).strip()
    status, answer = api_post(split, label, secret, {"handle": "robot", "message": "beep"})
    posted = member.receive()
    member.close()

    assert printed.strip() == "id=%d seq=2" % said["id"]
    assert (said["handle"], said["message"], said["seq"]) == (
        "operator",
        "from the command line",
        2,
    )
    assert "bot" not in said
    assert status == 201
    assert posted == answer
    assert (posted["handle"], posted["message"], posted["seq"], posted["bot"]) == (
        "robot",
        "beep",
        3,
        True,
    )
    assert stored_messages(split_env["DATABASE_URL"], label, ("id", "seq", "bot")) == [
        (first["id"], 1, False),
        (said["id"], 2, False),
        (posted["id"], 3, True),
    ]
