"""Private rooms on the real split: the handshake is refused with HTTP 403
to everyone but the room's members, whose socket works as any other."""

import os

import pytest
import websocket

from bench.chat_client import ChatClient, guest_sessions, unique_label, user_sessions
from bench.split import manage

pytestmark = pytest.mark.integration


def chatroom(env, *args):
    """Run ``manage.py chatroom`` with ``args`` against the split's database."""
    manage(env, "chatroom", *args)


def test_a_private_rooms_handshake_is_refused_with_403_to_non_members_and_works_for_members(
    split, split_env
):
    env = dict(os.environ, **split_env)
    label = unique_label("private")
    owner, member, outsider = (unique_label(n).replace("-", "_") for n in ("olive", "ann", "mal"))
    owner_key, member_key, outsider_key = user_sessions(env, owner, member, outsider)
    (guest_key,) = guest_sessions(env, unique_label("gwen"))
    chatroom(env, "create", label, "--private", "--members", member, "--owners", owner)

    for session_key in (None, guest_key, outsider_key):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            ChatClient(split, label, timeout=10, session_key=session_key)
        assert refused.value.status_code == 403

    olive = ChatClient(split, label, session_key=owner_key)
    ann = ChatClient(split, label, session_key=member_key)
    ann.send_frame(message="members only")
    for client in (olive, ann):
        heard = client.receive_until(lambda frame: frame.get("message") == "members only")
        assert heard[-1]["handle"] == member
        client.close()
