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
    message = Message.objects.create(room=room, handle="ann", message="hi", timestamp=moment, seq=1)

    assert message.as_dict() == {
        "id": message.pk,
        "seq": 1,
        "timestamp": "2017-05-01T14:00:00.123456Z",
        "handle": "ann",
        "message": "hi",
    }


def test_as_dict_converts_other_time_zones_to_utc():
    room = make_room()
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2017, 5, 1, 16, 0, 0, tzinfo=plus_two)
    message = Message.objects.create(room=room, handle="ann", message="hi", timestamp=moment, seq=1)

    assert message.as_dict()["timestamp"] == "2017-05-01T14:00:00.000000Z"


def test_a_message_defaults_to_now():
    before = timezone.now()
    message = Message.objects.create(room=make_room(), handle="ann", message="hi", seq=1)
    assert before <= message.timestamp <= timezone.now()


def test_messages_before_are_the_last_ones_below_an_id_oldest_first():
    room = make_room()
    messages = make_messages(room, 60)
    make_messages(make_room("elsewhere"), 3)

    assert room.messages_before(None, 50) == messages[-50:]
    assert room.messages_before(messages[10].pk, 5) == messages[5:10]
    assert room.messages_before(messages[0].pk, 5) == []


def test_messages_after_are_the_first_ones_above_an_id_oldest_first():
    room = make_room()
    messages = make_messages(room, 20)
    make_messages(make_room("elsewhere"), 3)

    assert room.messages_after(0, 5) == messages[:5]
    assert room.messages_after(messages[16].pk, 10) == messages[17:]
    assert room.messages_after(messages[-1].pk, 10) == []


class SendMessageTests(ChannelTestCase):
    def test_send_message_stores_it_and_broadcasts_as_dict_to_the_group(self):
        room = make_room()
        room.group.add("member-a")
        room.group.add("member-b")

        stored = room.send_message("ann", "hello")

        self.assertEqual(Message.objects.get().pk, stored.pk)
        self.assertEqual(stored.seq, 1)
        for member in ("member-a", "member-b"):
            frame = self.get_next_message(member, require=True)
            self.assertEqual(json.loads(frame.content["text"]), stored.as_dict())

    def test_a_message_is_not_broadcast_to_other_rooms(self):
        room, other = make_room("one"), make_room("two")
        other.group.add("outsider")
        room.send_message("ann", "hello")
        Channel("outsider").send({"text": "marker"})

        self.assertEqual(self.get_next_message("outsider").content["text"], "marker")

    def test_messages_are_numbered_one_by_one_within_each_room(self):
        room, other = make_room("one"), make_room("two")
        seqs = [room.send_message("ann", "m%d" % n).seq for n in range(3)]
        self.assertEqual(seqs, [1, 2, 3])
        self.assertEqual(other.send_message("bob", "first").seq, 1)
