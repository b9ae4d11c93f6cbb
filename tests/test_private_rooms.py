"""Private rooms: the one access rule on every HTTP path, the owners' member
management on the room page, creating one from ``/``, and the migration
that turned members-only rooms into private ones."""

import importlib
from unittest import mock

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client

from chat import ratelimit
from chat.models import Message, ReadMark, Room, RoomMembership, Upload
from tests.factories import make_messages, make_room, make_upload
from tests.images.test_imaging import encoded

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    caches[ratelimit.CACHE_ALIAS].clear()
    return tmp_path / "media"


def make_private_room(label="club", members=(), owners=()):
    """A private room with ``members`` and ``owners`` (users)."""
    room = Room.objects.create(label=label, name="Secret club", private=True)
    for user in members:
        RoomMembership.objects.create(room=room, user=user)
    for user in owners:
        RoomMembership.objects.create(room=room, user=user, role=RoomMembership.OWNER)
    return room


def signed_in(username):
    """A ``Client`` signed in as a new user called ``username``, and the user."""
    user = User.objects.create_user(username)
    client = Client()
    client.force_login(user)
    return client, user


def stranger():
    return Client()


def guest():
    client = Client()
    assert client.post("/lobby/name/", {"name": "gwen"}).status_code == 302
    return client


def non_member():
    return signed_in("mallory")[0]


OUTSIDERS = {"a stranger": stranger, "a guest": guest, "a signed-in non-member": non_member}


@pytest.fixture
def club():
    """A private room with an image, a failed upload and three messages; its
    member is ann, its owner olive."""
    ann, olive = User.objects.create_user("ann"), User.objects.create_user("olive")
    room = make_private_room(members=[ann], owners=[olive])
    make_messages(room, 3)
    image = make_upload(room, data=b"original", thumbnail=b"thumb", width=1, height=1)
    failed = make_upload(room, status=Upload.FAILED)
    return room, image, failed


def requests_for(room, image, failed):
    """Every HTTP path that reads or writes ``room``: (name, callable taking
    a client and returning its response)."""
    png = encoded("PNG", size=(8, 8)).getvalue()

    def upload(client):
        from django.core.files.uploadedfile import SimpleUploadedFile

        image_file = SimpleUploadedFile("p.png", png)
        return client.post("/club/upload/", {"handle": "x", "image": image_file})

    return [
        ("page", lambda c: c.get("/club/")),
        ("catch-up", lambda c: c.get("/club/messages", {"after": 0})),
        ("upload", upload),
        ("upload status", lambda c: c.get("/club/upload/%s/" % failed.pk)),
        ("upload retry", lambda c: c.post("/club/upload/%s/retry/" % failed.pk)),
        ("original", lambda c: c.get("/media/" + image.original.name)),
        ("thumbnail", lambda c: c.get("/media/" + image.thumbnail.name)),
        ("guest name", lambda c: c.post("/club/name/", {"name": "eve"})),
        ("members", lambda c: c.post("/club/members/", {"action": "add", "username": "ann"})),
    ]


@pytest.mark.parametrize("who", OUTSIDERS)
def test_every_path_of_a_private_room_answers_an_outsider_404_and_tells_nothing(club, who):
    client = OUTSIDERS[who]()
    room, image, failed = club
    uploads = Upload.objects.count()
    for name, request in requests_for(*club):
        response = request(client)
        assert response.status_code == 404, name
        body = response.content.decode()
        for secret in ("Secret club", "message 1", "olive", "ann"):
            assert secret not in body, (name, secret)
    assert Upload.objects.count() == uploads
    assert Upload.objects.get(pk=failed.pk).status == Upload.FAILED
    assert RoomMembership.objects.count() == 2
    assert Message.objects.count() == 3


@pytest.mark.parametrize("who", OUTSIDERS)
def test_a_private_rooms_404_is_the_404_of_a_room_that_cannot_exist(club, who):
    client = OUTSIDERS[who]()
    page, impossible = client.get("/club/"), client.get("/%s/" % ("x" * 51))
    assert (page.status_code, page.content) == (impossible.status_code, impossible.content)
    caught_up, nowhere = client.get("/club/messages"), client.get("/nowhere/messages")
    assert (caught_up.status_code, caught_up.json()) == (nowhere.status_code, nowhere.json())


@pytest.mark.parametrize("who", ["ann", "olive"])
def test_every_path_of_a_private_room_admits_its_members_and_owners(club, who):
    room, image, failed = club
    client = Client()
    client.force_login(User.objects.get(username=who))
    answers = {name: request(client).status_code for name, request in requests_for(*club)}
    assert answers == {
        "page": 200,
        "catch-up": 200,
        "upload": 202,
        "upload status": 200,
        "upload retry": 202,
        "original": 200,
        "thumbnail": 200,
        # A signed-in member speaks as their username; no guest name.
        "guest name": 400,
        # Only owners manage members; ann is one already.
        "members": 403 if who == "ann" else 400,
    }


def test_a_private_room_is_left_out_of_the_room_list_of_outsiders(club):
    for who, make in OUTSIDERS.items():
        assert 'href="/club/"' not in make().get("/").content.decode(), who
    member = Client()
    member.force_login(User.objects.get(username="ann"))
    assert 'href="/club/"' in member.get("/").content.decode()


def test_an_inactive_member_is_refused_like_an_outsider(club):
    ann = User.objects.get(username="ann")
    client = Client()
    client.force_login(ann)
    ann.is_active = False
    ann.save()
    assert client.get("/club/").status_code == 404


# ---- Member management ------------------------------------------------------


def owner_client():
    client = Client()
    client.force_login(User.objects.get(username="olive"))
    return client


def manage(client, action, username=""):
    return client.post("/club/members/", {"action": action, "username": username})


def members_of(room):
    return {m.user.username: m.role for m in room.memberships.select_related("user")}


def test_an_owner_adds_a_member_by_username_and_returns_to_the_page(club):
    room = club[0]
    User.objects.create_user("Bob")
    client = owner_client()
    response = manage(client, "add", " bob ")
    assert response.status_code == 302
    assert response["Location"] == "/club/#room-members"
    assert members_of(room) == {"ann": "member", "olive": "owner", "Bob": "member"}
    page = client.get("/club/").content.decode()
    assert "Bob is now a member." in page


def test_an_unknown_username_is_a_clear_error_on_the_form_and_changes_nothing(club):
    response = manage(owner_client(), "add", "nobody")
    assert response.status_code == 400
    assert response.context["member_form"].errors["username"] == ["No user is called nobody."]
    assert "No user is called nobody." in response.content.decode()
    assert members_of(club[0]) == {"ann": "member", "olive": "owner"}


def test_adding_a_member_twice_says_so(club):
    response = manage(owner_client(), "add", "ann")
    assert response.status_code == 400
    assert response.context["member_form"].errors["username"] == ["ann is a member already."]


def test_an_owner_makes_a_member_an_owner_and_may_then_step_down(club):
    room = club[0]
    client = owner_client()
    assert manage(client, "step_down").status_code == 400
    assert members_of(room)["olive"] == "owner"
    assert manage(client, "make_owner", "ann").status_code == 302
    assert manage(client, "step_down").status_code == 302
    assert members_of(room) == {"ann": "owner", "olive": "member"}
    # No longer an owner: the forms are gone and the view refuses.
    assert client.get("/club/").context["member_form"] is None
    assert manage(client, "remove", "ann").status_code == 403


def test_an_owner_removes_a_member_but_not_the_last_owner(club):
    room = club[0]
    client = owner_client()
    last = manage(client, "remove", "olive")
    assert last.status_code == 400
    assert last.context["member_form"].errors["username"][0].startswith("The room needs")
    with mock.patch("chat.revocation.member_removed") as removed:
        assert manage(client, "remove", "ann").status_code == 302
    assert members_of(room) == {"olive": "owner"}
    # The test's transaction is never committed: nothing is told yet.
    removed.assert_not_called()
    assert manage(client, "remove", "ann").context["member_form"].errors["username"] == [
        "ann is not a member."
    ]


def test_a_member_who_is_not_an_owner_is_refused_with_403(club):
    User.objects.create_user("bob")
    member = Client()
    member.force_login(User.objects.get(username="ann"))
    for action, username in [("add", "bob"), ("remove", "olive"), ("make_owner", "ann")]:
        assert manage(member, action, username).status_code == 403
    page = member.get("/club/")
    assert page.context["member_form"] is None
    assert 'action="/club/members/"' not in page.content.decode()
    # Members see the member list.
    assert [m.user.username for m in page.context["members"]] == ["olive", "ann"]
    assert members_of(club[0]) == {"ann": "member", "olive": "owner"}


def test_the_member_forms_are_protected_by_csrf(club):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.get(username="olive"))
    User.objects.create_user("bob")
    assert manage(strict, "add", "bob").status_code == 403
    assert "bob" not in members_of(club[0])


def test_the_member_forms_only_answer_post(club):
    assert owner_client().get("/club/members/").status_code == 405


def test_member_management_never_creates_a_room():
    client, _ = signed_in("olive")
    assert manage(client, "add", "olive").status_code == 404
    assert not Room.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_removing_a_member_tells_the_revocation_once_committed():
    olive, ann = User.objects.create_user("olive"), User.objects.create_user("ann")
    room = make_private_room(members=[ann], owners=[olive])
    client = Client()
    client.force_login(olive)
    with mock.patch("chat.revocation.member_removed") as removed:
        assert manage(client, "remove", "ann").status_code == 302
    removed.assert_called_once_with(room, ann)


# ---- Creating a private room from / ----------------------------------------


def test_a_signed_in_user_creates_a_private_room_they_own_from_the_index():
    client, olive = signed_in("olive")
    response = client.post("/", {"label": "plans", "private": "on"})
    assert (response.status_code, response["Location"]) == (302, "/plans/")
    room = Room.objects.get(label="plans")
    assert room.private
    assert members_of(room) == {"olive": "owner"}
    assert client.get("/plans/").status_code == 200
    assert stranger().get("/plans/").status_code == 404


def test_only_a_signed_in_user_sees_the_private_box_and_may_tick_it():
    assert 'name="private"' not in stranger().get("/").content.decode()
    assert 'name="private"' in signed_in("olive")[0].get("/").content.decode()
    response = stranger().post("/", {"label": "plans", "private": "on"})
    assert response.status_code == 400
    assert response.context["form"].errors["private"] == ["Log in to create a private room."]
    assert not Room.objects.exists()


def test_a_taken_label_gets_one_error_whatever_the_room_is(club):
    make_room("open")
    client, _ = signed_in("mallory")
    errors = []
    for fields in (
        {"label": "club"},
        {"label": "club", "private": "on"},
        {"label": "open", "private": "on"},
    ):
        response = client.post("/", fields)
        assert response.status_code == 400
        errors.append(response.context["form"].errors["label"])
        assert "Secret club" not in response.content.decode()
    assert errors == [["That label is taken; choose another."]] * 3
    assert not Room.objects.get(label="open").private
    assert members_of(club[0]) == {"ann": "member", "olive": "owner"}


def test_a_member_opens_their_private_room_from_the_index_as_before(club):
    member = Client()
    member.force_login(User.objects.get(username="ann"))
    for fields in ({"label": "club"}, {"label": "club", "private": "on"}):
        assert member.post("/", fields)["Location"] == "/club/"
    assert stranger().post("/", {"label": "open"})["Location"] == "/open/"


# ---- The migration -----------------------------------------------------------


def test_the_migration_makes_todays_readers_of_a_members_only_room_its_members():
    migration = importlib.import_module("chat.migrations.0008_private_rooms_and_memberships")
    ann, bob, carol, dave = (User.objects.create_user(n) for n in ("ann", "bob", "carol", "dave"))
    club = Room.objects.create(label="club", name="club", private=True)
    lobby = make_room("lobby")
    for seq, (handle, bot) in enumerate([("ann", False), ("carol", True), ("ghost", False)], 1):
        Message.objects.create(room=club, handle=handle, message="m", seq=seq, bot=bot)
    ReadMark.objects.create(user=bob, room=club, seq=1)
    ReadMark.objects.create(user=ann, room=club, seq=1)
    Message.objects.create(room=lobby, handle="dave", message="m", seq=1)
    ReadMark.objects.create(user=dave, room=lobby, seq=1)

    migration.keep_todays_readers(apps, None)

    # ann posted and read, bob read; carol's handle was a bot's; ghost has
    # no account; dave used a public room only. Nobody is made owner.
    assert members_of(club) == {"ann": "member", "bob": "member"}
    assert not lobby.memberships.exists()


@pytest.mark.django_db(transaction=True)
def test_migrating_keeps_a_members_only_rooms_readers_as_members_of_a_private_room():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("chat", "0005_images_and_webhooks")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    OldUser = old.get_model("auth", "User")
    OldRoom = old.get_model("chat", "Room")
    OldUser.objects.create(username="ann")
    bob = OldUser.objects.create(username="bob")
    club = OldRoom.objects.create(label="club", name="club", members_only=True)
    OldRoom.objects.create(label="open", name="open")
    old.get_model("chat", "Message").objects.create(room=club, handle="ann", message="m", seq=1)
    old.get_model("chat", "ReadMark").objects.create(room=club, user=bob, seq=1)
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        assert Room.objects.get(label="club").private
        assert not Room.objects.get(label="open").private
        assert members_of(Room.objects.get(label="club")) == {"ann": "member", "bob": "member"}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
