import pytest

from chat import selectors
from tests.factories import make_messages, make_room

pytestmark = pytest.mark.django_db


def test_find_room_finds_by_label_and_never_creates():
    room = make_room("lobby")
    assert selectors.find_room("lobby") == room
    assert selectors.find_room("nowhere") is None
    assert selectors.find_room("new") is None
    assert selectors.find_room("lobby") == room


def test_messages_before_are_the_last_ones_below_an_id_oldest_first():
    room = make_room()
    messages = make_messages(room, 60)
    make_messages(make_room("elsewhere"), 3)

    assert selectors.messages_before(room, None, 50) == messages[-50:]
    assert selectors.messages_before(room, messages[10].pk, 5) == messages[5:10]
    assert selectors.messages_before(room, messages[0].pk, 5) == []


def test_messages_after_are_the_first_ones_above_an_id_oldest_first():
    room = make_room()
    messages = make_messages(room, 20)
    make_messages(make_room("elsewhere"), 3)

    assert selectors.messages_after(room, 0, 5) == messages[:5]
    assert selectors.messages_after(room, messages[16].pk, 10) == messages[17:]
    assert selectors.messages_after(room, messages[-1].pk, 10) == []
