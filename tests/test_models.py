import datetime

import pytest
from django.utils import timezone

from chat.models import Message, Reaction, Room
from tests.factories import make_room, make_upload

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


def test_a_message_saved_without_a_version_gets_its_seq():
    message = Message.objects.create(room=make_room(), handle="ann", message="hi", seq=4)
    assert message.version == 4
    assert "version" not in message.as_dict()


def test_as_dict_gives_the_version_and_the_edit_time_of_a_changed_message():
    moment = datetime.datetime(2017, 5, 1, 14, 5, 0, tzinfo=datetime.UTC)
    message = Message.objects.create(
        room=make_room(), handle="ann", message="fixed", seq=1, version=3, edited_at=moment
    )
    payload = message.as_dict()
    assert (payload["version"], payload["edited"]) == (3, "2017-05-01T14:05:00.000000Z")
    assert "reactions" not in payload


def test_a_deleted_message_is_a_tombstone_without_text_image_reactions_or_edit_time(
    settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    room = make_room()
    upload = make_upload(room, thumbnail=b"png")
    message = Message.objects.create(
        room=room,
        handle="ann",
        message="secret",
        seq=1,
        version=5,
        guest=True,
        edited_at=timezone.now(),
        deleted_at=timezone.now(),
        upload=upload,
    )
    Reaction.objects.create(message=message, emoji="👍", handle="bob")
    assert message.as_dict() == {
        "type": "message",
        "id": message.pk,
        "seq": 1,
        "version": 5,
        "timestamp": message.as_dict()["timestamp"],
        "handle": "ann",
        "guest": True,
        "deleted": True,
        "message": "",
    }


def test_reactions_are_grouped_by_emoji_in_the_order_each_was_first_given():
    message = Message.objects.create(room=make_room(), handle="ann", message="hi", seq=1, version=4)
    for emoji, handle in [("👍", "bob"), ("🎉", "cat"), ("👍", "ann"), ("👍", "dan")]:
        Reaction.objects.create(message=message, emoji=emoji, handle=handle)
    assert message.as_dict()["reactions"] == [
        {"emoji": "👍", "count": 3, "handles": ["bob", "ann", "dan"]},
        {"emoji": "🎉", "count": 1, "handles": ["cat"]},
    ]


def test_a_message_that_never_changed_costs_no_query_for_its_reactions(
    django_assert_num_queries,
):
    message = Message.objects.create(room=make_room(), handle="ann", message="hi", seq=1)
    with django_assert_num_queries(0):
        assert "reactions" not in message.as_dict()


def test_saving_a_room_read_earlier_keeps_the_counter_the_stream_wrote_since():
    room = make_room()
    stale = Room.objects.get(pk=room.pk)
    Room.objects.filter(pk=room.pk).update(last_seq=7, last_activity=timezone.now())
    stale.name = "renamed"
    stale.save()
    room.refresh_from_db()
    assert (room.name, room.last_seq) == ("renamed", 7)
    assert room.last_activity is not None


@pytest.mark.django_db(transaction=True)
def test_migrating_numbers_events_from_each_rooms_newest_message():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("chat", "0008_private_rooms_and_memberships")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    OldRoom, OldMessage = old.get_model("chat", "Room"), old.get_model("chat", "Message")
    rooms = {
        label: OldRoom.objects.create(label=label, name=label, last_seq=last_seq)
        for label, last_seq in [("unset", None), ("behind", 1), ("ahead", 9), ("empty", None)]
    }
    for label in ("unset", "behind", "ahead"):
        for seq in (1, 2, 3):
            OldMessage.objects.create(room=rooms[label], handle="h", message="m", seq=seq)
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        counters = dict(Room.objects.values_list("label", "last_seq"))
        assert counters == {"unset": 3, "behind": 3, "ahead": 9, "empty": None}
        assert all(m.version == m.seq for m in Message.objects.all())
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
