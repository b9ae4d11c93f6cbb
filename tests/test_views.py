import datetime
import re
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from chat import conf, services
from chat.conversations import changes
from chat.conversations.rules import Actor
from chat.forms import GuestNameForm
from chat.identity import ANONYMOUS, GUEST, GUEST_NAME_SESSION_KEY, USER, Identity
from chat.models import Message, ReadMark, Room, RoomMembership
from tests.factories import make_messages, make_room

pytestmark = pytest.mark.django_db


def test_the_index_lists_the_rooms(client):
    make_messages(make_room("alpha", name="Alpha room"), 1)
    make_messages(make_room("beta"), 1)
    page = client.get("/").content.decode()
    assert 'href="/alpha/"' in page and "Alpha room" in page
    assert 'href="/beta/"' in page


def test_the_index_form_opens_the_room_with_that_label(client):
    response = client.post("/", {"label": "team-chat"})
    assert response.status_code == 302
    assert response["Location"] == "/team-chat/"


@pytest.mark.parametrize("label", ["", "   ", "!!! ???", "new", "Admin", "x" * 201])
def test_the_index_form_refuses_a_bad_name_with_its_error(client, label):
    response = client.post("/", {"label": label})
    assert response.status_code == 400
    assert response.context["form"].errors["label"]
    assert not Room.objects.exists()


def test_a_reserved_name_says_which_label_it_would_make(client):
    response = client.post("/", {"label": "Accounts"})
    assert response.context["form"].errors["label"] == [
        "The label accounts is reserved; choose another name."
    ]


def test_the_index_form_makes_a_label_from_a_name_and_keeps_the_name(client):
    response = client.post("/", {"label": "  Team   Standup "})
    assert response.status_code == 302
    assert response["Location"] == "/team-standup/"
    room = Room.objects.get(label="team-standup")
    assert room.name == "Team Standup"
    assert not room.private


def test_a_long_name_makes_a_label_of_at_most_the_label_length(client):
    response = client.post("/", {"label": "x" * 51})
    assert response["Location"] == "/%s/" % ("x" * conf.LABEL_MAX_LENGTH)


def test_a_name_whose_label_names_a_public_room_opens_it_keeping_its_name(client):
    make_room("team-standup", name="The standup")
    response = client.post("/", {"label": "Team Standup"})
    assert response["Location"] == "/team-standup/"
    assert Room.objects.get().name == "The standup"


def test_an_existing_label_with_capitals_is_opened_as_it_is(client):
    make_room("Lobby")
    assert client.post("/", {"label": "Lobby"})["Location"] == "/Lobby/"
    assert Room.objects.count() == 1


def test_a_name_makes_a_private_room_with_that_name(client):
    ann = User.objects.create_user("ann", password="pw")
    client.force_login(ann)
    response = client.post("/", {"label": "Board Room", "private": "on"})
    assert response["Location"] == "/board-room/"
    room = Room.objects.get(label="board-room")
    assert (room.name, room.private) == ("Board Room", True)
    assert RoomMembership.objects.get(room=room).user == ann


def test_the_index_form_is_protected_by_csrf():
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/", {"label": "team-chat"}).status_code == 403
    page = strict.get("/")
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()


def test_new_redirects_to_a_fresh_random_room(client):
    make_room("taken")
    first = client.get("/new/")
    second = client.get("/new/")
    assert first.status_code == second.status_code == 302
    label = first["Location"].strip("/")
    assert conf.is_valid_label(label) and len(label) == 10
    assert first["Location"] != second["Location"]


def test_a_room_is_created_on_first_visit(client):
    response = client.get("/fresh-room/")
    assert response.status_code == 200
    assert Room.objects.get().label == "fresh-room"
    assert client.get("/fresh-room/").status_code == 200
    assert Room.objects.count() == 1


def test_the_room_page_shows_the_last_fifty_messages_oldest_first(client):
    room = make_room()
    messages = make_messages(room, 55)
    page = client.get(reverse("chat:room", kwargs={"label": room.label})).content.decode()

    shown = [m for m in messages if 'data-id="%d"' % m.pk in page]
    assert shown == messages[-50:]
    positions = [page.index('data-id="%d"' % m.pk) for m in shown]
    assert positions == sorted(positions)


def test_the_room_page_escapes_what_people_said(client):
    room = make_room()
    room.messages.create(handle="<i>mallory</i>", message="<img src=x onerror=alert(1)>", seq=1)
    page = client.get("/lobby/").content.decode()
    assert "<img src=x" not in page and "<i>mallory" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_room_page_shows_each_message_formatted_as_its_frames_html(client):
    room = make_room()
    text = "**look**: `x < y`\n> <script>alert(1)</script>\nhttps://example.com/a"
    message = room.messages.create(handle="ann", message=text, seq=1)

    page = client.get("/lobby/").content.decode()

    assert '<div class="text formatted">%s</div>' % message.as_dict()["html"] in page
    assert "<strong>look</strong>" in page and "<code>x &lt; y</code>" in page
    assert "<script>alert" not in page
    assert 'href="https://example.com/a" target="_blank" rel="noopener noreferrer' in page


def test_a_label_longer_than_the_limit_is_not_found(client):
    assert client.get("/%s/" % ("x" * 51)).status_code == 404
    assert not Room.objects.exists()


def test_a_path_that_is_not_a_slug_is_not_found(client):
    assert client.get("/not%20a%20slug/").status_code == 404


def test_the_room_page_offers_older_messages_only_when_there_are_some(client):
    room = make_room()
    make_messages(room, 50)
    assert 'id="older" type="button" hidden' in client.get("/lobby/").content.decode()
    room.messages.create(handle="ann", message="one more", seq=51)
    assert 'id="older" type="button">' in client.get("/lobby/").content.decode()


def test_the_messages_endpoint_pages_forward_after_an_id(client):
    room = make_room()
    messages = make_messages(room, 7)

    first = client.get("/lobby/messages", {"after": 0, "limit": 5}).json()
    assert first == {"messages": [m.as_dict() for m in messages[:5]], "has_more": True}
    rest = client.get("/lobby/messages", {"after": messages[4].pk, "limit": 5}).json()
    assert rest == {"messages": [m.as_dict() for m in messages[5:]], "has_more": False}


def test_the_messages_endpoint_pages_back_before_an_id(client):
    room = make_room()
    messages = make_messages(room, 7)

    page = client.get("/lobby/messages", {"before": messages[5].pk, "limit": 3}).json()
    assert page == {"messages": [m.as_dict() for m in messages[2:5]], "has_more": True}
    page = client.get("/lobby/messages", {"before": messages[2].pk, "limit": 3}).json()
    assert page == {"messages": [m.as_dict() for m in messages[:2]], "has_more": False}


def test_the_messages_endpoint_gives_the_latest_page_by_default(client):
    room = make_room()
    messages = make_messages(room, 120)
    page = client.get("/lobby/messages").json()
    assert page["messages"] == [m.as_dict() for m in messages[-100:]]
    assert page["has_more"] is True


@pytest.mark.parametrize(
    "query",
    [
        {"after": "-1"},
        {"after": "x"},
        {"after": "²"},
        {"before": "1.5"},
        {"after": "1", "before": "5"},
        {"limit": "0"},
        {"limit": "501"},
        {"after": "9" * 30},
    ],
)
def test_the_messages_endpoint_refuses_bad_parameters_with_a_json_error(client, query):
    make_room()
    response = client.get("/lobby/messages", query)
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_PARAMETER"
    assert response.json()["detail"]


def test_the_messages_endpoint_does_not_create_rooms(client):
    response = client.get("/nowhere/messages")
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"
    assert not Room.objects.exists()


def make_user(username="ann"):
    return User.objects.create_user(username)


def make_private_room(label="club", members=()):
    """A private room with ``members`` (users) as its members."""
    room = Room.objects.create(label=label, name=label, private=True)
    for user in members:
        RoomMembership.objects.create(room=room, user=user)
    return room


ROOM_CONTEXT = {
    "room",
    "history",
    "has_older",
    "handle_max_length",
    "message_max_length",
    "identity",
    "guest_form",
    "membership",
    "members",
    "owner_count",
    "member_form",
    "read_seq",
    "ping_interval_ms",
    "typing_interval_ms",
    "read_interval_ms",
}


def test_the_room_page_gives_its_template_every_name_it_relies_on(client):
    response = client.get("/lobby/")
    assert ROOM_CONTEXT <= set(response.context.keys())
    assert response.context["room"] == Room.objects.get(label="lobby")
    assert response.context["handle_max_length"] == 50
    assert response.context["message_max_length"] == 2000
    assert response.context["ping_interval_ms"] == 20000
    assert response.context["typing_interval_ms"] == 2000
    assert response.context["read_interval_ms"] == 5000


def test_the_room_page_offers_someone_without_a_name_the_guest_name_form(client):
    response = client.get("/lobby/")
    assert response.context["identity"] == ANONYMOUS
    assert isinstance(response.context["guest_form"], GuestNameForm)
    assert not response.context["guest_form"].is_bound
    assert response.context["read_seq"] is None


def test_the_guest_name_form_is_labelled_and_sized_by_the_handle_limit():
    form = GuestNameForm()
    assert form["name"].label == "Your name"
    assert 'maxlength="50"' in str(form["name"])
    with override_settings(CHAT_HANDLE_MAX_LENGTH=12):
        assert 'maxlength="12"' in str(GuestNameForm()["name"])


def test_the_room_page_knows_a_named_guest_and_offers_no_form(client):
    session = client.session
    session[GUEST_NAME_SESSION_KEY] = "bob"
    session.save()
    response = client.get("/lobby/")
    assert response.context["identity"] == Identity(GUEST, "bob")
    assert response.context["guest_form"] is None
    assert response.context["read_seq"] is None


def test_the_room_page_knows_a_signed_in_user_and_where_they_stopped_reading(client):
    ann = make_user("ann")
    room = make_room()
    make_messages(room, 9)
    client.force_login(ann)

    response = client.get("/lobby/")
    assert response.context["identity"] == Identity(USER, "ann")
    assert response.context["guest_form"] is None
    assert response.context["read_seq"] is None

    ReadMark.objects.create(user=ann, room=room, seq=6)
    ReadMark.objects.create(user=ann, room=make_room("elsewhere"), seq=2)
    assert client.get("/lobby/").context["read_seq"] == 6


def test_the_history_tags_guest_messages_and_shows_as_mine_only_the_users_own(client):
    room = make_room()
    Message.objects.create(room=room, handle="ann", message="the real ann", seq=1)
    Message.objects.create(room=room, handle="ann", message="an old impostor", seq=2, guest=True)
    client.force_login(make_user("ann"))

    page = client.get("/lobby/").content.decode()

    items = re.findall(r'<li class="(message[^"]*)"[^>]*>(.*?)</li>', page, re.S)
    assert [(classes, "guest-label" in body) for classes, body in items] == [
        ("message mine", False),
        ("message guest", True),
    ]


def test_a_guest_name_is_kept_in_the_session_and_the_guest_sent_back_to_the_room(client):
    response = client.post("/lobby/name/", {"name": "  bob  "})
    assert response.status_code == 302
    assert response["Location"] == "/lobby/"
    assert client.session[GUEST_NAME_SESSION_KEY] == "bob"


def test_a_guest_name_holds_across_requests_and_rooms(client):
    client.post("/lobby/name/", {"name": "bob"})
    assert client.get("/lobby/").context["identity"] == Identity(GUEST, "bob")
    assert client.get("/garden/").context["identity"] == Identity(GUEST, "bob")
    assert "bob" not in Client().get("/lobby/").content.decode()


def test_the_guest_name_url_is_named_and_sits_under_the_room():
    assert reverse("chat:guest_name", kwargs={"label": "lobby"}) == "/lobby/name/"


@pytest.mark.parametrize(
    "name, error",
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("x" * 51, "Ensure this value has at most 50 characters (it has 51)."),
        ("bell\x07", "The handle contains characters that are not allowed."),
        ("tab\tname", "The handle contains characters that are not allowed."),
        ("ANN", "That name belongs to an account; pick another."),
        ("aNn", "That name belongs to an account; pick another."),
    ],
)
def test_a_refused_guest_name_gets_400_with_the_error_on_the_form_and_stores_nothing(
    client, name, error
):
    make_user("ann")
    response = client.post("/lobby/name/", {"name": name})
    assert response.status_code == 400
    assert response.templates[0].name == "chat/room.html"
    form = response.context["guest_form"]
    assert form.is_bound and form.errors["name"] == [error]
    assert GUEST_NAME_SESSION_KEY not in client.session
    assert response.context["identity"] == ANONYMOUS


def test_a_refused_guest_name_leaves_an_earlier_name_in_place(client):
    client.post("/lobby/name/", {"name": "bob"})
    assert client.post("/lobby/name/", {"name": "\x00"}).status_code == 400
    assert client.session[GUEST_NAME_SESSION_KEY] == "bob"


def test_a_signed_in_user_cannot_take_a_guest_name(client):
    client.force_login(make_user("ann"))
    response = client.post("/lobby/name/", {"name": "bob"})
    assert response.status_code == 400
    assert GUEST_NAME_SESSION_KEY not in client.session
    assert response.context["identity"] == Identity(USER, "ann")


def test_a_guest_name_is_only_posted(client):
    assert client.get("/lobby/name/").status_code == 405


def test_the_guest_name_form_is_protected_by_csrf():
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/lobby/name/", {"name": "bob"}).status_code == 403
    assert GUEST_NAME_SESSION_KEY not in strict.session


@pytest.mark.parametrize("name", ["", "bob"])
def test_a_private_room_answers_a_guest_404_with_nothing_of_the_room(client, name):
    make_messages(make_private_room(label="club", members=[make_user("ann")]), 3)
    if name:
        client.post("/lobby/name/", {"name": name})
    response = client.get("/club/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "message 1" not in page and "ann" not in page


def test_a_private_room_shows_a_member_its_history(client):
    ann = make_user("ann")
    messages = make_messages(make_private_room(members=[ann]), 3)
    client.force_login(ann)
    response = client.get("/club/")
    assert response.status_code == 200
    assert response.context["history"] == messages


@pytest.mark.parametrize("name", ["", "bob"])
def test_the_messages_endpoint_of_a_private_room_answers_a_guest_as_for_no_room(client, name):
    make_messages(make_private_room(), 3)
    if name:
        client.post("/lobby/name/", {"name": name})
    response = client.get("/club/messages", {"after": 0})
    nowhere = client.get("/nowhere/messages", {"after": 0})
    assert response.status_code == nowhere.status_code == 404
    assert (
        response.json()
        == nowhere.json()
        == {
            "type": "error",
            "error": "NOT_FOUND",
            "detail": "No such room.",
        }
    )


def test_the_messages_endpoint_of_a_private_room_serves_a_member(client):
    ann = make_user("ann")
    messages = make_messages(make_private_room(members=[ann]), 3)
    client.force_login(ann)
    response = client.get("/club/messages", {"after": 0})
    assert response.status_code == 200
    assert response.json()["messages"] == [m.as_dict() for m in messages]


def online(counts):
    """Patch ``chat.presence.online_counts`` to answer ``counts`` ({label:
    int}, 0 for the labels it leaves out)."""
    return mock.patch(
        "chat.presence.online_counts",
        side_effect=lambda labels: {label: counts.get(label, 0) for label in labels},
    )


def room_items(page):
    """The room list of an index ``page`` (str), in order: a dict of each
    room's label (str) to the HTML (str) of its ``<li class="room">``."""
    items = re.findall(r'<li class="room" data-label="([^"]+)">(.*?)</li>', page, re.S)
    return dict(items)


def test_the_index_lists_the_latest_active_rooms_first_with_who_is_online(client):
    now = timezone.now()
    make_messages(make_room("recent"), 1, start=now - datetime.timedelta(minutes=1))
    make_messages(make_room("busy"), 1, start=now - datetime.timedelta(hours=2))
    make_room("empty")
    with online({"busy": 3}):
        items = room_items(client.get("/").content.decode())
    assert list(items) == ["recent", "busy"]
    assert '<span class="online">3 online</span>' in items["busy"]
    assert '<span class="online">0 online</span>' in items["recent"]


@override_settings(CHAT_ROOM_LIST_PAGE_SIZE=2)
def test_the_index_pages_through_the_rooms_with_links_both_ways(client):
    now = timezone.now()
    for n in range(5):
        make_messages(make_room("room-%d" % n), 1, start=now - datetime.timedelta(minutes=n))
    with online({}):
        first, second, last = (client.get("/", {"page": p}).content.decode() for p in (1, 2, 3))
        beyond = client.get("/", {"page": 9}).content.decode()
        nonsense = client.get("/", {"page": "-1x"}).content.decode()
    assert list(room_items(first)) == ["room-0", "room-1"]
    assert list(room_items(second)) == ["room-2", "room-3"]
    assert list(room_items(last)) == ["room-4"]
    assert 'rel="next" href="?page=2"' in first and 'rel="prev"' not in first
    assert 'rel="prev" href="?page=1"' in second and 'rel="next" href="?page=3"' in second
    assert 'rel="next"' not in last
    assert "No rooms on this page" in beyond
    assert list(room_items(nonsense)) == ["room-0", "room-1"]


@override_settings(CHAT_ROOMS_PER_HOUR=2)
def test_a_visitor_who_creates_too_many_rooms_gets_a_429_page_and_no_room(client):
    assert client.get("/first/").status_code == 200
    assert client.get("/second/").status_code == 200
    refused = client.get("/third/")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many new rooms" in refused.content.decode()
    assert not Room.objects.filter(label="third").exists()
    # Rooms that exist still open, for the same visitor.
    assert client.get("/first/").status_code == 200
    assert client.post("/third/name/", {"name": "Gus"}).status_code == 429


def test_the_index_shows_each_rooms_last_activity_as_a_time(client):
    start = datetime.datetime(2026, 11, 30, 9, 15, 0, tzinfo=datetime.UTC)
    make_messages(make_room("lobby"), 2, start=start)
    with online({}):
        page = client.get("/").content.decode()
    # As the live counts write it (microseconds), so the page can compare.
    assert '<time class="activity" datetime="2026-11-30T09:15:01.000000Z">' in page
    assert page.count('class="activity"') == 1


def test_the_index_shows_a_signed_in_user_what_they_have_not_read(client):
    ann = make_user("ann")
    lobby, garden, attic = make_room("lobby"), make_room("garden"), make_room("attic")
    make_messages(lobby, 8)
    make_messages(garden, 2)
    make_messages(attic, 4)
    ReadMark.objects.create(user=ann, room=lobby, seq=5)
    ReadMark.objects.create(user=ann, room=attic, seq=4)
    client.force_login(ann)
    with online({}):
        items = room_items(client.get("/").content.decode())
    assert '<span class="unread" data-unread="3">3 unread</span>' in items["lobby"]
    assert '<span class="unread" data-unread="0">0 unread</span>' in items["attic"]
    assert "unread" not in items["garden"]


def test_the_index_shows_no_unread_figures_to_a_guest(client):
    make_messages(make_room("lobby"), 8)
    with online({}):
        assert 'class="unread"' not in client.get("/").content.decode()


def test_the_index_still_opens_rooms_by_label_and_at_random(client):
    make_messages(make_room("lobby"), 1)
    with online({"lobby": 1}):
        page = client.get("/").content.decode()
    assert '<form method="post" action="/" class="new-room">' in page
    assert 'href="/new/"' in page


@pytest.mark.parametrize("label", ["accounts", "api", "media"])
def test_the_sites_own_paths_are_reserved_labels(client, label):
    assert label in conf.RESERVED_LABELS
    assert not conf.is_valid_label(label)
    assert client.post("/", {"label": label}).status_code == 400
    assert client.get("/%s/" % label).status_code == 404
    assert not Room.objects.exists()


# Catching up by seq (added 2026-12-05)


def changed_room():
    """The room ``lobby`` after seven events: ann posts 1, 2, 3 and 4
    (seqs 1 to 4), edits 1 (5), bob reacts to 3 (6), ann deletes 2 (7).
    Returns the room and its messages by text."""
    room = make_room()
    ann, bob = Actor(user=make_user("ann")), Actor(user=make_user("bob"))
    posted = {n: services.post_message(room, "ann", "m%d" % n, author=ann) for n in (1, 2, 3, 4)}
    changes.edit(room, ann, posted[1].pk, "m1, edited")
    changes.react(room, bob, posted[3].pk, "👍", "bob")
    changes.delete(room, ann, posted[2].pk)
    return room, posted


def current(message):
    return (
        Message.objects.select_related("room", "upload")
        .prefetch_related("reactions")
        .get(pk=message.pk)
        .as_dict()
    )


def test_the_messages_endpoint_gives_what_changed_after_a_seq_ordered_by_version(client):
    _, posted = changed_room()
    page = client.get("/lobby/messages", {"after_seq": 4}).json()
    assert page == {
        "messages": [current(posted[1]), current(posted[3]), current(posted[2])],
        "has_more": False,
    }
    assert [m["version"] for m in page["messages"]] == [5, 6, 7]
    assert page["messages"][0]["message"] == "m1, edited"
    assert page["messages"][1]["reactions"] == [{"emoji": "👍", "count": 1, "handles": ["bob"]}]
    assert page["messages"][2] == {
        **{k: page["messages"][2][k] for k in ("type", "id", "seq", "timestamp", "handle")},
        "version": 7,
        "deleted": True,
        "message": "",
    }


def test_catching_up_by_seq_from_zero_gives_every_message_once_in_its_current_state(client):
    _, posted = changed_room()
    seen, after, pages = {}, 0, 0
    while True:
        page = client.get("/lobby/messages", {"after_seq": after, "limit": 2}).json()
        pages += 1
        for message in page["messages"]:
            seen[message["id"]] = message
            after = message.get("version", message["seq"])
        if not page["has_more"]:
            break
    assert pages == 2
    assert after == 7
    assert seen == {m.pk: current(m) for m in posted.values()}
    assert "m2" not in str(seen)


def test_every_catch_up_gives_messages_in_their_current_state_and_no_deleted_text(client):
    _, posted = changed_room()
    by_id = client.get("/lobby/messages", {"after": 0}).json()["messages"]
    latest = client.get("/lobby/messages").json()["messages"]
    assert by_id == latest == [current(posted[n]) for n in (1, 2, 3, 4)]
    assert by_id[1]["deleted"] is True and by_id[1]["message"] == ""


def test_the_catch_up_reads_the_reactions_of_changed_messages_only(
    client, django_assert_num_queries
):
    room = make_room()
    messages = make_messages(room, 5)
    # The room and the page: no query for reactions...
    with django_assert_num_queries(2):
        assert len(client.get("/lobby/messages", {"after_seq": 0}).json()["messages"]) == 5
    changes.react(room, Actor(user=make_user("bob")), messages[2].pk, "👍", "bob")
    changes.react(room, Actor(user=make_user("cat")), messages[4].pk, "👍", "cat")
    # ...and one for all the changed messages' reactions.
    with django_assert_num_queries(3):
        page = client.get("/lobby/messages", {"after_seq": 0}).json()["messages"]
    assert [m.get("reactions", [{}])[0].get("count") for m in page] == [None, None, None, 1, 1]


@pytest.mark.parametrize(
    "query",
    [
        {"after_seq": "-1"},
        {"after_seq": "x"},
        {"after_seq": "1", "after": "1"},
        {"after_seq": "1", "before": "1"},
    ],
)
def test_the_messages_endpoint_refuses_a_bad_after_seq_or_two_bounds(client, query):
    make_room()
    response = client.get("/lobby/messages", query)
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_PARAMETER"


@pytest.mark.parametrize("who", ["stranger", "guest", "non-member"])
def test_catching_up_by_seq_in_a_private_room_answers_others_as_for_no_room(client, who):
    make_messages(make_private_room(members=[make_user("ann")]), 3)
    if who == "guest":
        client.post("/lobby/name/", {"name": "gus"})
    elif who == "non-member":
        client.force_login(make_user("mallory"))
    response = client.get("/club/messages", {"after_seq": 0})
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"


@pytest.mark.parametrize("value", ["1.5", "1e3", "+1", " 1", "0x1", "٣", "１", "9" * 19, ""])
def test_catching_up_by_seq_refuses_anything_but_a_plain_non_negative_integer(client, value):
    changed_room()
    response = client.get("/lobby/messages", {"after_seq": value})
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_PARAMETER"


def test_catching_up_by_seq_past_the_rooms_last_event_gives_nothing(client):
    changed_room()
    for after in (7, 2**31, "9" * 18):
        page = client.get("/lobby/messages", {"after_seq": after}).json()
        assert page == {"messages": [], "has_more": False}


# Permalinks and where the page opens (added 2026-12-05)


def shown_seqs(response):
    return [message.seq for message in response.context["history"]]


def test_a_permalink_opens_the_room_around_its_message_however_old(client):
    room = make_room()
    make_messages(room, 500)
    response = client.get("/lobby/", {"at": 250})
    assert response.status_code == 200
    assert shown_seqs(response) == list(range(225, 275))
    assert response.context["highlight_seq"] == 250
    assert (response.context["has_older"], response.context["has_newer"]) == (True, True)
    # The page catches up after its newest: the messages after it follow.
    assert response.context["last_seq"] == 274
    page = response.content.decode()
    assert 'data-has-newer="true"' in page and 'data-last-seq="274"' in page
    assert re.search(r'<li class="message highlighted" data-id="\d+" data-seq="250"', page)
    assert page.count("highlighted") == 1


def test_a_permalink_near_the_start_shows_the_first_messages_and_nothing_older(client):
    make_messages(make_room(), 500)
    response = client.get("/lobby/", {"at": 3})
    assert shown_seqs(response) == list(range(1, 28))
    assert (response.context["has_older"], response.context["has_newer"]) == (False, True)
    assert 'id="older" type="button" hidden' in response.content.decode()


def test_a_permalink_near_the_end_is_the_room_page_with_the_message_highlighted(client):
    make_messages(make_room(), 60)
    response = client.get("/lobby/", {"at": 50})
    assert shown_seqs(response) == list(range(25, 61))
    assert response.context["has_newer"] is False
    assert response.context["last_seq"] == 60
    assert "data-has-newer" not in response.content.decode()


def test_every_message_links_to_its_permalink(client):
    make_messages(make_room(), 3)
    page = client.get("/lobby/").content.decode()
    for seq in (1, 2, 3):
        assert 'class="permalink" href="/lobby/?at=%d"' % seq in page


def test_a_permalink_to_no_message_opens_where_it_would_be_and_says_so(client):
    make_messages(make_room(), 10)
    response = client.get("/lobby/", {"at": 99})
    assert response.status_code == 200
    assert response.context["highlight_seq"] is None
    assert shown_seqs(response) == list(range(1, 11))
    assert "This room has no message 99" in response.context["link_notice"]
    assert "This room has no message 99" in response.content.decode()


@pytest.mark.parametrize("at", ["x", "-1", "1.5", "9" * 19])
def test_a_permalink_that_is_not_a_number_gets_400_and_the_room_as_usual(client, at):
    make_messages(make_room(), 3)
    response = client.get("/lobby/", {"at": at})
    assert response.status_code == 400
    assert shown_seqs(response) == [1, 2, 3]
    assert "'at' must be a message's number" in response.context["link_notice"]
    assert "must be a message" in response.content.decode()


@pytest.mark.parametrize("who", ["stranger", "guest", "non-member"])
def test_a_permalink_into_a_private_room_is_not_found_for_anyone_but_members(client, who):
    make_messages(make_private_room(members=[make_user("ann")]), 3)
    if who == "guest":
        client.post("/lobby/name/", {"name": "gus"})
    elif who == "non-member":
        client.force_login(make_user("mallory"))
    for at in ("2", "99", "x"):
        response = client.get("/club/", {"at": at})
        assert response.status_code == 404
        page = response.content.decode()
        assert "message 1" not in page and "ann" not in page


def test_a_permalink_into_a_private_room_opens_for_a_member(client):
    ann = make_user("ann")
    make_messages(make_private_room(members=[ann]), 3)
    client.force_login(ann)
    response = client.get("/club/", {"at": 2})
    assert response.status_code == 200
    assert response.context["highlight_seq"] == 2


def test_the_room_page_opens_at_the_first_of_more_unread_than_it_shows(client):
    ann = make_user("ann")
    room = make_room()
    make_messages(room, 95)
    ReadMark.objects.create(user=ann, room=room, seq=20)
    client.force_login(ann)

    response = client.get("/lobby/")

    # Ten read ones, then the first forty of 75 unread; the rest catch up.
    assert shown_seqs(response) == list(range(11, 61))
    assert response.context["unread_seq"] == 21
    assert response.context["has_newer"] is True
    page = response.content.decode()
    line = page.index('id="unread"')
    assert page.index('data-seq="20"') < line < page.index('data-seq="21"')


def test_the_new_messages_line_is_among_the_last_fifty_when_they_hold_the_first_unread(client):
    ann = make_user("ann")
    room = make_room()
    make_messages(room, 95)
    ReadMark.objects.create(user=ann, room=room, seq=70)
    client.force_login(ann)
    response = client.get("/lobby/")
    assert shown_seqs(response) == list(range(46, 96))
    assert response.context["unread_seq"] == 71
    assert response.context["has_newer"] is False


def test_past_the_reach_of_unread_the_room_opens_at_the_newest_without_a_line(client):
    ann = make_user("ann")
    room = make_room()
    make_messages(room, 700)
    ReadMark.objects.create(user=ann, room=room, seq=100)
    client.force_login(ann)
    response = client.get("/lobby/")
    assert shown_seqs(response) == list(range(651, 701))
    # Its place is not shown yet: the page puts it there once it has loaded it.
    assert response.context["unread_seq"] is None
    assert 'id="unread"' not in response.content.decode()


def test_the_page_catches_up_after_the_last_change_to_what_it_shows(client):
    changed_room()
    response = client.get("/lobby/")
    assert response.context["last_seq"] == 7
    assert 'data-version="5"' in response.content.decode()


def test_the_history_shows_edited_tombstones_and_reactions_as_the_page_draws_them(client):
    changed_room()
    client.force_login(User.objects.get(username="bob"))
    page = client.get("/lobby/").content.decode()
    items = re.findall(r'<li class="(message[^"]*)" data-id="\d+" data-seq="(\d)"', page)
    assert items == [
        ("message", "1"),
        ("message deleted", "2"),
        ("message", "3"),
        ("message", "4"),
    ]
    assert page.count('class="edited"') == 1
    assert "<p>m4</p>" in page and "<p>m2</p>" not in page
    assert '<p class="text tombstone">message deleted</p>' in page
    assert (
        '<button type="button" class="reaction" data-emoji="👍" aria-pressed="true"'
        ' title="bob" aria-label="👍 1: bob">'
    ) in page


def test_the_room_page_tells_the_script_who_may_moderate_and_the_edit_window(client):
    ann, olive = make_user("ann"), make_user("olive")
    room = make_private_room(members=[ann])
    RoomMembership.objects.create(room=room, user=olive, role=RoomMembership.OWNER)
    client.force_login(ann)
    assert 'data-moderator="false"' in client.get("/club/").content.decode()
    client.force_login(olive)
    page = client.get("/club/").content.decode()
    assert 'data-moderator="true"' in page
    assert 'data-edit-window-seconds="600"' in page


# ---- The room's topic and share link (added 2026-12-05) -------------------


def test_anyone_signed_in_sets_a_public_rooms_topic_shown_in_its_header(client):
    lobby = make_room("lobby")
    client.force_login(User.objects.create_user("ann"))
    response = client.post("/lobby/topic/", {"topic": "  Daily   standup,\n9:30 "})
    assert response.status_code == 302
    lobby.refresh_from_db()
    assert lobby.topic == "Daily standup, 9:30"
    page = client.get("/lobby/").content.decode()
    assert '<p id="topic" class="topic">Daily standup, 9:30</p>' in page


def test_a_topic_is_escaped_in_the_header(client):
    make_room("lobby")
    client.force_login(User.objects.create_user("ann"))
    client.post("/lobby/topic/", {"topic": "<script>x</script>"})
    page = client.get("/lobby/").content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in page


def test_strangers_and_guests_may_not_set_a_topic_and_see_no_form(client):
    lobby = make_room("lobby")
    assert client.post("/lobby/topic/", {"topic": "mine"}).status_code == 403
    session = client.session
    session[GUEST_NAME_SESSION_KEY] = "gus"
    session.save()
    assert client.post("/lobby/topic/", {"topic": "mine"}).status_code == 403
    assert 'id="topicform"' not in client.get("/lobby/").content.decode()
    lobby.refresh_from_db()
    assert lobby.topic == ""


def test_only_a_private_rooms_owners_set_its_topic_and_non_members_get_404(client):
    attic = make_room("attic")
    Room.objects.filter(pk=attic.pk).update(private=True)
    owner, member, outsider = (User.objects.create_user(n) for n in ("olga", "mia", "otto"))
    RoomMembership.objects.create(room=attic, user=owner, role=RoomMembership.OWNER)
    RoomMembership.objects.create(room=attic, user=member)
    client.force_login(outsider)
    assert client.post("/attic/topic/", {"topic": "x"}).status_code == 404
    client.force_login(member)
    assert client.post("/attic/topic/", {"topic": "x"}).status_code == 403
    assert 'id="topicform"' not in client.get("/attic/").content.decode()
    client.force_login(owner)
    assert 'id="topicform"' in client.get("/attic/").content.decode()
    assert client.post("/attic/topic/", {"topic": "plans"}).status_code == 302
    attic.refresh_from_db()
    assert attic.topic == "plans"


def test_a_topic_too_long_is_refused_and_nothing_stored(client):
    lobby = make_room("lobby")
    client.force_login(User.objects.create_user("ann"))
    response = client.post("/lobby/topic/", {"topic": "x" * (Room.TOPIC_MAX_LENGTH + 1)})
    assert response.status_code == 400
    assert "at most 250 characters" in response.content.decode()
    lobby.refresh_from_db()
    assert lobby.topic == ""


def test_the_topic_of_a_room_that_does_not_exist_is_404_and_creates_nothing(client):
    client.force_login(User.objects.create_user("ann"))
    assert client.post("/nowhere/topic/", {"topic": "x"}).status_code == 404
    assert not Room.objects.exists()


def test_the_share_link_is_the_rooms_full_url(client):
    make_room("lobby")
    page = client.get("/lobby/").content.decode()
    assert 'id="share-link" href="http://testserver/lobby/"' in page
    assert 'id="copy-link"' in page


def test_a_signed_in_reader_gets_the_sidebar_and_others_do_not(client):
    lobby = make_room("lobby")
    assert 'id="sidebar"' not in client.get("/lobby/").content.decode()
    ann = User.objects.create_user("ann")
    ReadMark.objects.create(user=ann, room=lobby, seq=0)
    client.force_login(ann)
    page = client.get("/lobby/").content.decode()
    assert 'id="sidebar"' in page
    assert 'data-label="lobby"' in page
    assert "channels/js/websocketbridge.js" in page
