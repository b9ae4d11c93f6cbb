import datetime
import json

import pytest
from channels import Channel
from channels.test import ChannelTestCase
from django.utils import timezone

from chat.models import Message
from tests.factories import make_messages, make_room

pytestmark = pytest.mark.django_db


def test_a_room_names_its_group_after_its_label():
    assert make_room("lobby").group_name == "chat-lobby"


def test_as_dict_is_the_one_payload_shape_with_a_utc_iso_timestamp():
    room = make_room()
    moment = datetime.datetime(2017, 5, 1, 14, 0, 0, 123456, tzinfo=datetime.UTC)
    message = Message.objects.create(room=room, handle="ann", message="hi", timestamp=moment)

    assert message.as_dict() == {
        "id": message.pk,
        "timestamp": "2017-05-01T14:00:00.123456Z",
        "handle": "ann",
        "message": "hi",
    }


def test_as_dict_converts_other_time_zones_to_utc():
    room = make_room()
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2017, 5, 1, 16, 0, 0, tzinfo=plus_two)
    message = Message.objects.create(room=room, handle="ann", message="hi", timestamp=moment)

    assert message.as_dict()["timestamp"] == "2017-05-01T14:00:00.000000Z"


def test_a_message_defaults_to_now():
    before = timezone.now()
    message = Message.objects.create(room=make_room(), handle="ann", message="hi")
    assert before <= message.timestamp <= timezone.now()


def test_recent_messages_are_the_last_ones_oldest_first():
    room = make_room()
    messages = make_messages(room, 60)
    other = make_room("elsewhere")
    make_messages(other, 3)

    assert room.recent_messages() == messages[-50:]
    assert room.recent_messages(limit=5) == messages[-5:]


class SendMessageTests(ChannelTestCase):
    def test_send_message_stores_it_and_broadcasts_as_dict_to_the_group(self):
        room = make_room()
        room.group.add("member-a")
        room.group.add("member-b")

        stored = room.send_message("ann", "hello")

        self.assertEqual(Message.objects.get().pk, stored.pk)
        for member in ("member-a", "member-b"):
            frame = self.get_next_message(member, require=True)
            self.assertEqual(json.loads(frame.content["text"]), stored.as_dict())

    def test_a_message_is_not_broadcast_to_other_rooms(self):
        room, other = make_room("one"), make_room("two")
        other.group.add("outsider")
        room.send_message("ann", "hello")
        Channel("outsider").send({"text": "marker"})

        self.assertEqual(self.get_next_message("outsider").content["text"], "marker")
