import pytest
from django.test import Client
from django.urls import reverse

from chat import conf
from chat.models import Room
from tests.factories import make_messages, make_room

pytestmark = pytest.mark.django_db


def test_the_index_lists_the_rooms(client):
    make_room("alpha", name="Alpha room")
    make_room("beta")
    page = client.get("/").content.decode()
    assert 'href="/alpha/"' in page and "Alpha room" in page
    assert 'href="/beta/"' in page


def test_the_index_form_opens_the_room_with_that_label(client):
    response = client.post("/", {"label": "team-chat"})
    assert response.status_code == 302
    assert response["Location"] == "/team-chat/"


@pytest.mark.parametrize("label", ["not a slug", "", "x" * 51, "new", "admin"])
def test_the_index_form_refuses_a_bad_label_with_its_error(client, label):
    response = client.post("/", {"label": label})
    assert response.status_code == 400
    assert response.context["form"].errors["label"]
    assert not Room.objects.exists()


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
