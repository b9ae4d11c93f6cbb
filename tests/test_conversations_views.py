"""A message's edit history over HTTP, for the room's owners and staff:
chat/conversations/views.py."""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from chat import services
from chat.conversations import changes
from chat.conversations.rules import Actor
from chat.models import Room, RoomMembership
from tests.factories import make_room

pytestmark = pytest.mark.django_db


def edited_message(room, author):
    message = services.post_message(room, author.username, "one", author=Actor(user=author))
    for text in ("two", "three"):
        changes.edit(room, Actor(user=author), message.pk, text)
    return message


def history_url(label, message):
    return "/%s/messages/%d/history" % (label, message.pk)


def test_an_owner_reads_every_edit_oldest_first(client):
    room = make_room()
    ann, owner = User.objects.create_user("ann"), User.objects.create_user("owner")
    RoomMembership.objects.create(room=room, user=owner, role=RoomMembership.OWNER)
    message = edited_message(room, ann)
    client.force_login(owner)

    answer = client.get(history_url("lobby", message))

    assert answer.status_code == 200
    body = answer.json()
    assert body["message"]["message"] == "three"
    assert [(e["seq"], e["editor"], e["message"]) for e in body["edits"]] == [
        (2, "ann", "one"),
        (3, "ann", "two"),
    ]
    assert all(e["edited_at"].endswith("Z") for e in body["edits"])


def test_staff_read_it_too_and_a_guests_edits_name_the_guest(client):
    room = make_room()
    gus = Actor(guest_author="0" * 32)
    message = services.post_message(room, "gus", "one", author=gus, guest=True)
    changes.edit(room, gus, message.pk, "two")
    client.force_login(User.objects.create_user("staff", is_staff=True))
    edits = client.get(history_url("lobby", message)).json()["edits"]
    assert [(e["editor"], e["message"]) for e in edits] == [("gus", "one")]


@pytest.mark.parametrize("who", ["stranger", "guest", "author", "member"])
def test_a_reader_who_is_neither_owner_nor_staff_is_not_allowed(client, who):
    room = make_room()
    ann = User.objects.create_user("ann")
    message = edited_message(room, ann)
    if who == "guest":
        client.post("/lobby/name/", {"name": "gus"})
    elif who == "author":
        client.force_login(ann)
    elif who == "member":
        member = User.objects.create_user("bob")
        RoomMembership.objects.create(room=room, user=member)
        client.force_login(member)
    answer = client.get(history_url("lobby", message))
    assert answer.status_code == 403
    assert answer.json()["error"] == "NOT_ALLOWED"


@pytest.mark.parametrize("who", ["stranger", "guest", "non-member", "staff non-member"])
def test_in_a_private_room_anyone_but_a_member_is_answered_as_for_no_room(client, who):
    room = Room.objects.create(label="club", name="club", private=True)
    owner = User.objects.create_user("owner")
    RoomMembership.objects.create(room=room, user=owner, role=RoomMembership.OWNER)
    message = edited_message(room, owner)
    if who == "guest":
        client.post("/lobby/name/", {"name": "gus"})
    elif who == "non-member":
        client.force_login(User.objects.create_user("mallory"))
    elif who == "staff non-member":
        client.force_login(User.objects.create_user("staff", is_staff=True))
    answer = client.get(history_url("club", message))
    nowhere = client.get("/nowhere/messages/%d/history" % message.pk)
    assert answer.status_code == nowhere.status_code == 404
    assert (
        answer.json()
        == nowhere.json()
        == {
            "type": "error",
            "error": "NOT_FOUND",
            "detail": "No such room.",
        }
    )
    client.force_login(owner)
    assert client.get(history_url("club", message)).status_code == 200


def test_a_message_of_another_room_or_a_deleted_one_is_not_found(client):
    room, other = make_room(), make_room("other")
    owner = User.objects.create_user("owner", is_staff=True)
    elsewhere = edited_message(other, owner)
    deleted = edited_message(room, owner)
    changes.delete(room, Actor(user=owner), deleted.pk)
    client.force_login(owner)
    for message in (elsewhere, deleted):
        answer = client.get(history_url("lobby", message))
        assert answer.status_code == 404
        assert answer.json()["error"] == "MESSAGE_NOT_FOUND"


def test_the_history_is_only_read(client):
    room = make_room()
    message = edited_message(room, User.objects.create_user("ann", last_login=timezone.now()))
    client.force_login(User.objects.create_user("staff", is_staff=True))
    assert client.post(history_url("lobby", message)).status_code == 405


def test_the_admin_shows_a_messages_edit_history_and_reactions_read_only(client):
    room = make_room()
    ann = Actor(user=User.objects.create_user("ann"))
    message = services.post_message(room, "ann", "a first draft", author=ann)
    changes.edit(room, ann, message.pk, "the final text")
    changes.react(room, ann, message.pk, "🎉", "ann")
    client.force_login(User.objects.create_superuser("root", "root@example.com", "x"))
    page = client.get("/admin/chat/message/%d/change/" % message.pk).content.decode()
    assert "a first draft" in page and "🎉" in page
    assert 'name="edits-0-text"' not in page
    assert 'name="reactions-0-emoji"' not in page


@pytest.mark.parametrize("message_id", [0, 2**31, 2**63, 10**30])
def test_an_id_no_message_can_have_is_not_found(client, message_id):
    make_room()
    client.force_login(User.objects.create_user("staff", is_staff=True))
    answer = client.get("/lobby/messages/%d/history" % message_id)
    assert answer.status_code == 404
    assert answer.json()["error"] == "MESSAGE_NOT_FOUND"
