"""``manage.py chatsay``: posting a message from the command line."""

import io
import json

import pytest
from channels.test import ChannelTestCase
from django.core.management import CommandError, ManagementUtility, call_command

from chat.models import Message
from tests.factories import make_room

pytestmark = pytest.mark.django_db


def chatsay(*args):
    """Run ``chatsay`` with ``args``; returns what it printed (str)."""
    out = io.StringIO()
    call_command("chatsay", *args, stdout=out)
    return out.getvalue()


class ChatsayTests(ChannelTestCase):
    def test_chatsay_posts_the_message_broadcasts_it_and_prints_its_id_and_seq(self):
        room = make_room()
        room.group.add("member")

        printed = chatsay("lobby", "operator", "maintenance at noon")

        stored = Message.objects.get()
        self.assertEqual(printed.strip(), "id=%d seq=1" % stored.pk)
        self.assertEqual(
            (stored.handle, stored.message, stored.bot), ("operator", "maintenance at noon", False)
        )
        frame = json.loads(self.get_next_message("member", require=True).content["text"])
        self.assertEqual(frame, stored.as_dict())


def test_chatsay_can_mark_its_message_as_a_bots():
    make_room()
    chatsay("lobby", "cron", "nightly backup done", "--bot")
    assert Message.objects.get().bot


def test_chatsay_into_an_unknown_room_fails_with_one_line_and_creates_nothing():
    with pytest.raises(CommandError) as raised:
        chatsay("nowhere", "operator", "hello")
    assert str(raised.value) == "No such room. (NOT_FOUND)"
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "handle, text, code",
    [
        (" ", "hello", "HANDLE_EMPTY"),
        ("op", "", "MESSAGE_EMPTY"),
        ("op", "x" * 2001, "MESSAGE_TOO_LONG"),
    ],
)
def test_chatsay_refuses_what_the_protocol_refuses_with_its_detail(handle, text, code):
    make_room()
    with pytest.raises(CommandError) as raised:
        chatsay("lobby", handle, text)
    assert str(raised.value).endswith("(%s)" % code)
    assert "\n" not in str(raised.value)
    assert not Message.objects.exists()


def test_chatsay_exits_non_zero_on_a_bad_room_when_run_from_the_command_line(capsys):
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "chatsay", "nowhere", "op", "hi"]).execute()
    assert exited.value.code == 1
    assert "CommandError: No such room. (NOT_FOUND)" in capsys.readouterr().err
