"""``manage.py chatroom``: rooms and their members from the command line,
and the admin's room page, which does the same for staff."""

import io
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, ManagementUtility, call_command

from chat.models import Room, RoomMembership
from tests.factories import make_room

pytestmark = pytest.mark.django_db


def chatroom(*args):
    """Run ``chatroom`` with ``args``; returns its stdout (str)."""
    out = io.StringIO()
    call_command("chatroom", *args, stdout=out)
    return out.getvalue()


def users(*names):
    return [User.objects.create_user(name) for name in names]


def members_of(label):
    room = Room.objects.get(label=label)
    return {m.user.username: m.role for m in room.memberships.select_related("user")}


def test_create_makes_a_private_room_with_its_members_and_owners():
    users("ann", "bob", "carol")
    out = chatroom("create", "plans", "--private", "--members", "ann,bob", "--owners", "carol")
    assert out.strip() == "Room plans: private, 3 member(s)."
    assert Room.objects.get(label="plans").private
    assert members_of("plans") == {"ann": "member", "bob": "member", "carol": "owner"}


def test_members_lists_usernames_and_roles_owners_first():
    users("ann", "bob", "carol")
    chatroom("create", "plans", "--private", "--members", "bob,ann", "--owners", "carol")
    assert chatroom("members", "plans") == "carol\towner\nann\tmember\nbob\tmember\n"


@pytest.mark.django_db(transaction=True)
def test_create_sets_exactly_the_members_named_and_tells_the_revocation_of_the_removed():
    users("ann", "bob", "carol")
    chatroom("create", "plans", "--private", "--members", "ann,bob")
    with (
        mock.patch("chat.revocation.member_removed") as removed,
        mock.patch("chat.revocation.room_made_private") as made_private,
    ):
        chatroom("create", "plans", "--members", "bob", "--owners", "carol")
        chatroom("create", "lobby", "--private")
        chatroom("create", "lobby", "--private")
    assert members_of("plans") == {"bob": "member", "carol": "owner"}
    assert Room.objects.get(label="lobby").private
    ann = User.objects.get(username="ann")
    removed.assert_called_once_with(Room.objects.get(label="plans"), ann)
    made_private.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_converting_an_existing_public_room_tells_the_revocation():
    make_room("lobby")
    with mock.patch("chat.revocation.room_made_private") as made_private:
        chatroom("create", "lobby", "--private")
    made_private.assert_called_once_with(Room.objects.get(label="lobby"))


def test_owners_alone_are_added_and_the_other_members_stay():
    users("ann", "bob")
    chatroom("create", "plans", "--private", "--members", "ann")
    chatroom("create", "plans", "--owners", "bob")
    assert members_of("plans") == {"ann": "member", "bob": "owner"}


def test_unknown_users_are_named_and_nothing_changes():
    users("ann")
    make_room("lobby")
    with pytest.raises(CommandError) as raised:
        chatroom("create", "lobby", "--private", "--members", "ann,zed", "--owners", "yves")
    assert str(raised.value) == "No user is called zed, yves."
    assert not Room.objects.get(label="lobby").private
    assert not RoomMembership.objects.exists()
    with pytest.raises(CommandError):
        chatroom("create", "fresh", "--members", "zed")
    assert not Room.objects.filter(label="fresh").exists()


@pytest.mark.parametrize("label", ["not a slug", "x" * 51, "admin"])
def test_an_invalid_label_is_refused(label):
    with pytest.raises(CommandError) as raised:
        chatroom("create", label)
    assert str(raised.value) == "That is not a valid room label."
    assert not Room.objects.exists()


def test_members_of_an_unknown_room_is_an_error():
    with pytest.raises(CommandError) as raised:
        chatroom("members", "nowhere")
    assert str(raised.value) == "No room is labelled 'nowhere'."


def test_a_failure_exits_with_status_1_from_the_command_line(capsys):
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "chatroom", "create", "x", "--members", "zed"]).execute()
    assert exited.value.code == 1
    assert "No user is called zed." in capsys.readouterr().err


# ---- The admin ---------------------------------------------------------------


def inline_data(room, rows, **room_fields):
    """The admin change form's POST for ``room`` with membership ``rows``
    (dicts of ``id``, ``user``, ``role``, optional ``DELETE``)."""
    prefix = "memberships"
    data = {
        "name": room.name,
        "label": room.label,
        "webhook_url": "",
        prefix + "-TOTAL_FORMS": str(len(rows)),
        prefix + "-INITIAL_FORMS": str(sum(1 for row in rows if row.get("id"))),
        prefix + "-MIN_NUM_FORMS": "0",
        prefix + "-MAX_NUM_FORMS": "1000",
    }
    if room_fields.get("private", room.private):
        data["private"] = "on"
    for n, row in enumerate(rows):
        for key, value in row.items():
            data["%s-%d-%s" % (prefix, n, key)] = value
        data["%s-%d-room" % (prefix, n)] = str(room.pk)
    return data


@pytest.mark.django_db(transaction=True)
def test_staff_manage_members_in_the_admin_and_removals_are_told_after_commit(client):
    staff = User.objects.create_superuser("staff", "staff@example.com", "x")
    ann, bob, carol = users("ann", "bob", "carol")
    client.force_login(staff)
    room = make_room("lobby")
    url = "/admin/chat/room/%d/change/" % room.pk
    assert "memberships-0-user" in client.get(url).content.decode()

    with mock.patch("chat.revocation.room_made_private") as made_private:
        data = inline_data(
            room,
            [{"user": str(ann.pk), "role": "owner"}, {"user": str(bob.pk), "role": "member"}],
            private=True,
        )
        assert client.post(url, data).status_code == 302
    made_private.assert_called_once_with(room)
    assert members_of("lobby") == {"ann": "owner", "bob": "member"}

    room.refresh_from_db()
    ann_row, bob_row = (room.memberships.get(user=u) for u in (ann, bob))
    with mock.patch("chat.revocation.member_removed") as removed:
        data = inline_data(
            room,
            [
                {"id": str(ann_row.pk), "user": str(ann.pk), "role": "owner", "DELETE": "on"},
                {"id": str(bob_row.pk), "user": str(carol.pk), "role": "member"},
            ],
        )
        assert client.post(url, data).status_code == 302
    assert members_of("lobby") == {"carol": "member"}
    assert sorted(call.args[1].username for call in removed.call_args_list) == ["ann", "bob"]

    with mock.patch("chat.revocation.member_removed") as removed:
        response = client.post("/admin/chat/room/%d/delete/" % room.pk, {"post": "yes"})
        assert response.status_code == 302
    assert not Room.objects.exists()
    assert [(c.args[0].label, c.args[1].username) for c in removed.call_args_list] == [
        ("lobby", "carol")
    ]
