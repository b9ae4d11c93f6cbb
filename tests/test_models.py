import datetime

import pytest
from django.utils import timezone

from chat.models import Message
from tests.factories import make_room

pytestmark = pytest.mark.django_db


def test_a_room_names_its_group_after_its_label():
    assert make_room("lobby").group_name == "chat.lobby"


def test_as_dict_is_the_one_payload_shape_with_a_utc_iso_timestamp():
    room = make_room()
    moment = datetime.datetime(2017, 5, 1, 14, 0, 0, 123456, tzinfo=datetime.UTC)
    message = Message.objects.create(room=room, handle="ann", message="hi", timestamp=moment, seq=1)

    assert message.as_dict() == {
        "type": "message",
        "id": message.pk,
        "seq": 1,
        "timestamp": "2017-05-01T14:00:00.123456Z",
        "handle": "ann",
        "message": "hi",
        "html": "<p>hi</p>",
    }


def test_as_dict_keeps_the_text_as_sent_and_adds_it_formatted_as_html():
    text = "**see** <b>this</b>: https://example.com/a"
    message = Message.objects.create(room=make_room(), handle="ann", message=text, seq=1)

    payload = message.as_dict()

    assert payload["message"] == text
    assert payload["html"] == (
        '<p><strong>see</strong> &lt;b&gt;this&lt;/b&gt;: <a href="https://example.com/a"'
        ' target="_blank" rel="noopener noreferrer nofollow ugc">https://example.com/a</a></p>'
    )


def test_as_dict_marks_a_guests_message_and_leaves_the_key_out_otherwise():
    room = make_room()
    guest = Message.objects.create(room=room, handle="gus", message="hi", seq=1, guest=True)
    member = Message.objects.create(room=room, handle="ann", message="hi", seq=2)

    assert guest.as_dict()["guest"] is True
    assert "guest" not in member.as_dict()


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
