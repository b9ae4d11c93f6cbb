"""Who may edit, delete, react to and read the history of a message:
chat/conversations/rules.py, the one place every path asks."""

import datetime
import uuid
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import override_settings
from django.utils import timezone

from chat import services
from chat.conversations.rules import (
    DELETE,
    EDIT,
    NOBODY,
    REACT,
    READ_HISTORY,
    Actor,
    check_change,
    edit_window,
    may_change,
)
from chat.exceptions import ClientError
from chat.models import Message, RoomMembership
from tests.factories import make_room

pytestmark = pytest.mark.django_db

GUS = uuid.uuid4()


@pytest.fixture
def people():
    """Users of a room: its owner, its author (a member), another member,
    a staff member who is no member, and an outsider."""
    return {
        name: User.objects.create_user(name, is_staff=name == "staff")
        for name in ("owner", "author", "member", "staff", "outsider")
    }


def room_of(people, private=False):
    room = make_room("private" if private else "lobby")
    room.private = private
    room.save()
    RoomMembership.objects.create(room=room, user=people["owner"], role=RoomMembership.OWNER)
    RoomMembership.objects.create(room=room, user=people["author"])
    RoomMembership.objects.create(room=room, user=people["member"])
    return room


def message_in(room, minutes_ago=0, **author):
    return Message.objects.create(
        room=room,
        handle="someone",
        message="hello",
        seq=(room.last_seq or 0) + Message.objects.filter(room=room).count() + 1,
        timestamp=timezone.now() - datetime.timedelta(minutes=minutes_ago),
        **author,
    )


def refusal(actor, message, action, now=None):
    """The code ``check_change`` refuses with (str), or None if allowed."""
    try:
        check_change(actor, message, action, now)
    except ClientError as error:
        return error.code
    return None


def test_only_the_author_edits_a_message(people):
    message = message_in(room_of(people), user=people["author"])
    assert refusal(Actor(user=people["author"]), message, EDIT) is None
    for name in ("owner", "member", "staff", "outsider"):
        assert refusal(Actor(user=people[name]), message, EDIT) == "NOT_YOURS", name
    assert refusal(Actor(guest_author=GUS), message, EDIT) == "NOT_YOURS"


def test_a_guest_edits_what_their_session_wrote_and_no_other_guests():
    message = message_in(make_room(), guest_author=GUS, guest=True)
    assert may_change(Actor(guest_author=str(GUS)), message, EDIT)
    assert refusal(Actor(guest_author=uuid.uuid4()), message, EDIT) == "NOT_YOURS"


def test_a_bots_token_edits_and_deletes_the_bots_messages_only():
    room = make_room()
    weather, _ = services.create_api_token("weather")
    other, _ = services.create_api_token("other")
    mine = message_in(room, api_token=weather, bot=True)
    theirs = message_in(room, api_token=other, bot=True)
    bot = Actor(api_token_id=weather.pk)
    assert may_change(bot, mine, EDIT) and may_change(bot, mine, DELETE)
    assert refusal(bot, theirs, EDIT) == refusal(bot, theirs, DELETE) == "NOT_YOURS"
    assert refusal(bot, mine, REACT) == "IDENTITY_REQUIRED"


@override_settings(CHAT_EDIT_WINDOW_SECONDS=600)
def test_an_edit_after_the_window_is_too_late_but_a_delete_is_not(people):
    author = Actor(user=people["author"])
    room = room_of(people)
    fresh = message_in(room, minutes_ago=9, user=people["author"])
    old = message_in(room, minutes_ago=11, user=people["author"])
    assert refusal(author, fresh, EDIT) is None
    assert refusal(author, old, EDIT) == "TOO_LATE"
    assert refusal(author, old, DELETE) is None


@override_settings(CHAT_EDIT_WINDOW_SECONDS=0)
def test_a_window_of_zero_lets_authors_edit_at_any_time(people):
    assert edit_window() is None
    old = message_in(room_of(people), minutes_ago=60 * 24 * 365, user=people["author"])
    assert may_change(Actor(user=people["author"]), old, EDIT)


def test_the_default_window_is_ten_minutes():
    assert edit_window() == datetime.timedelta(minutes=10)


def test_owners_and_staff_delete_anyones_message_and_members_only_their_own(people):
    room = room_of(people)
    for author in ({"user": people["author"]}, {"guest_author": GUS}, {}):
        message = message_in(room, **author)
        assert may_change(Actor(user=people["owner"]), message, DELETE)
        assert may_change(Actor(user=people["staff"]), message, DELETE)
        assert refusal(Actor(user=people["member"]), message, DELETE) == "NOT_YOURS"
        assert refusal(Actor(guest_author=uuid.uuid4()), message, DELETE) == "NOT_YOURS"


def test_a_message_from_nobody_is_edited_by_nobody(people):
    message = message_in(room_of(people))
    for name in people:
        assert refusal(Actor(user=people[name]), message, EDIT) == "NOT_YOURS"


def test_an_inactive_owner_or_staff_member_moderates_nothing(people):
    message = message_in(room_of(people), user=people["author"])
    for name in ("owner", "staff"):
        people[name].is_active = False
        people[name].save()
        assert refusal(Actor(user_id=people[name].pk), message, DELETE) == "IDENTITY_REQUIRED"
        assert refusal(Actor(user_id=people[name].pk), message, READ_HISTORY) == "NOT_ALLOWED"


def test_an_author_deactivated_or_deleted_since_their_socket_opened_acts_as_nobody(people):
    room = room_of(people)
    message = message_in(room, user=people["author"])
    author = Actor(user_id=people["author"].pk)
    assert refusal(author, message, EDIT) is None
    people["author"].is_active = False
    people["author"].save()
    for action in (EDIT, DELETE, REACT):
        assert refusal(Actor(user_id=people["author"].pk), message, action) == "IDENTITY_REQUIRED"
    # A deleted user's messages are nobody's; their id still names nobody.
    gone = people["member"].pk
    mine = message_in(room, user=people["member"])
    people["member"].delete()
    mine.refresh_from_db()
    for action in (EDIT, DELETE, REACT):
        assert refusal(Actor(user_id=gone), mine, action) == "IDENTITY_REQUIRED"


@override_settings(CHAT_EDIT_WINDOW_SECONDS=600)
def test_the_edit_window_is_measured_on_the_servers_clock_and_includes_its_last_instant(people):
    message = message_in(room_of(people), user=people["author"])
    author = Actor(user=people["author"])
    end = message.timestamp + datetime.timedelta(seconds=600)
    assert refusal(author, message, EDIT, now=end) is None
    assert refusal(author, message, EDIT, now=end + datetime.timedelta(microseconds=1)) == (
        "TOO_LATE"
    )
    # Without a time given, the rule reads the server's clock: nothing a
    # client sends names a time (the edit frame has no such field).
    with mock.patch("django.utils.timezone.now", return_value=end):
        assert refusal(author, message, EDIT) is None
    with mock.patch("django.utils.timezone.now", return_value=end + datetime.timedelta(seconds=1)):
        assert refusal(author, message, EDIT) == "TOO_LATE"


def test_anyone_with_an_identity_reacts_and_nobody_without_one(people):
    message = message_in(room_of(people), user=people["author"])
    for actor in (Actor(user=people["outsider"]), Actor(guest_author=GUS)):
        assert may_change(actor, message, REACT)
    assert refusal(NOBODY, message, REACT) == "IDENTITY_REQUIRED"
    assert refusal(Actor.of_request(AnonymousUser()), message, EDIT) == "IDENTITY_REQUIRED"


def test_only_owners_and_staff_read_the_edit_history(people):
    message = message_in(room_of(people), user=people["author"])
    assert may_change(Actor(user=people["owner"]), message, READ_HISTORY)
    assert may_change(Actor(user=people["staff"]), message, READ_HISTORY)
    for actor in (Actor(user=people["author"]), Actor(guest_author=GUS), NOBODY):
        assert refusal(actor, message, READ_HISTORY) == "NOT_ALLOWED"


def test_in_a_private_room_a_stranger_a_guest_and_a_non_member_find_no_message(people):
    message = message_in(room_of(people, private=True), user=people["author"])
    actors = [NOBODY, Actor(guest_author=GUS), Actor(user=people["outsider"])]
    for actor in actors:
        for action in (EDIT, DELETE, REACT, READ_HISTORY):
            assert refusal(actor, message, action) == "MESSAGE_NOT_FOUND", (actor, action)
    # Staff are no exception: they moderate the rooms they can read.
    assert refusal(Actor(user=people["staff"]), message, DELETE) == "MESSAGE_NOT_FOUND"
    assert may_change(Actor(user=people["owner"]), message, DELETE)


def test_a_deleted_message_is_not_found_for_anything(people):
    message = message_in(room_of(people), user=people["author"])
    message.deleted_at = timezone.now()
    for action in (EDIT, DELETE, REACT, READ_HISTORY):
        assert refusal(Actor(user=people["owner"]), message, action) == "MESSAGE_NOT_FOUND"


def test_an_unknown_action_is_a_programming_error(people):
    with pytest.raises(ValueError):
        check_change(NOBODY, message_in(make_room()), "pin")
