import json

import pytest
from channels import Channel
from channels.test import ChannelTestCase

from chat import services
from chat.exceptions import ClientError
from chat.models import Message, Room
from tests.factories import make_room

pytestmark = pytest.mark.django_db


def test_open_room_creates_a_room_on_first_use_and_finds_it_after():
    first = services.open_room("lobby")
    again = services.open_room("lobby")
    assert first.pk == again.pk
    assert (first.label, first.name) == ("lobby", "lobby")
    assert Room.objects.count() == 1


@pytest.mark.parametrize("label", ["new", "admin", "no spaces", "x" * 51, ""])
def test_open_room_refuses_a_label_that_may_not_name_a_room_and_creates_nothing(label):
    with pytest.raises(ClientError) as raised:
        services.open_room(label)
    assert raised.value.code == "INVALID_LABEL"
    assert not Room.objects.exists()


class PostMessageTests(ChannelTestCase):
    def test_post_message_stores_it_and_broadcasts_as_dict_to_the_group(self):
        room = make_room()
        room.group.add("member-a")
        room.group.add("member-b")

        stored = services.post_message(room, "ann", "hello")

        self.assertEqual(Message.objects.get().pk, stored.pk)
        self.assertEqual(stored.seq, 1)
        for member in ("member-a", "member-b"):
            frame = self.get_next_message(member, require=True)
            self.assertEqual(json.loads(frame.content["text"]), stored.as_dict())

    def test_a_message_is_not_broadcast_to_other_rooms(self):
        room, other = make_room("one"), make_room("two")
        other.group.add("outsider")
        services.post_message(room, "ann", "hello")
        Channel("outsider").send({"text": "marker"})

        self.assertEqual(self.get_next_message("outsider").content["text"], "marker")

    def test_messages_are_numbered_one_by_one_within_each_room(self):
        room, other = make_room("one"), make_room("two")
        seqs = [services.post_message(room, "ann", "m%d" % n).seq for n in range(3)]
        self.assertEqual(seqs, [1, 2, 3])
        self.assertEqual(services.post_message(other, "bob", "first").seq, 1)
