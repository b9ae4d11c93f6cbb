"""Search: the query language (chat/search.py), the ``/search/`` page on
the unit tests' SQLite (substring matching), and migration 0012's new labels
for rooms called "search" and "stream". The PostgreSQL full-text path is
tested on the real split in tests/integration/test_search.py."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat import conf, search, services
from chat.conversations import changes
from chat.conversations.rules import Actor
from chat.models import Message, Room, RoomMembership
from tests.factories import make_room

# ---- The query language ---------------------------------------------------


def test_words_are_what_is_left_between_spaces():
    query = search.parse("  deploy   friday ")
    assert query.words == ("deploy", "friday")
    assert query.text == "deploy friday"
    assert not query.has_filters


def test_a_quoted_phrase_is_one_term_and_keeps_its_quotes_for_postgresql():
    query = search.parse('release "on friday"  notes')
    assert query.words == ("release", "notes")
    assert query.phrases == ("on friday",)
    assert query.text == 'release "on friday" notes'


def test_a_minus_leaves_out_a_word_or_a_phrase():
    query = search.parse('deploy -friday -"late night" - --')
    assert query.words == ("deploy",)
    assert query.excluded == ("friday", "late night")
    assert query.text == 'deploy -friday -"late night"'


def test_in_and_from_filter_and_leave_the_text():
    query = search.parse("in:Lobby from:Ann deploy IN:ops From:@bob in:lobby")
    assert query.rooms == ("lobby", "ops")
    assert query.authors == ("Ann", "bob")
    assert query.words == ("deploy",)
    assert query.text == "deploy"


def test_filters_alone_are_a_query_with_no_text():
    query = search.parse("from:ann")
    assert query.authors == ("ann",)
    assert query.text == ""
    assert query.has_filters


def test_an_unbalanced_quote_makes_a_phrase_of_the_rest():
    query = search.parse('deploy "on friday')
    assert query.phrases == ("on friday",)
    assert query.text == 'deploy "on friday"'


def test_a_quote_inside_a_word_splits_it_and_empty_quotes_are_ignored():
    query = search.parse('ab"cd ef" "" "   "')
    assert query.words == ("ab",)
    assert query.phrases == ("cd ef",)


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "Type a word"),
        ("   ", "Type a word"),
        ('""', "Type a word"),
        ("-friday", "not only what to leave out"),
        ("in:", "in: needs a value"),
        ("from:", "from: needs a value"),
        ("from:@", "from: needs a value"),
        ("in:no.such", "in: needs a room's label"),
        ("in:" + "x" * (conf.LABEL_MAX_LENGTH + 1), "in: needs a room's label"),
        ("x" * (search.QUERY_MAX_LENGTH + 1), "too long"),
    ],
)
def test_a_query_that_cannot_run_says_why(text, says):
    with pytest.raises(search.QueryError, match=says):
        search.parse(text)


def test_highlighting_escapes_the_text_and_marks_only_the_matches():
    message = Message(message='<script>alert("x")</script> Deploy \x02now\x03, deploy!')
    html = search.highlight(message, search.parse("deploy"))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert html.count("<mark>") == 2 and html.count("</mark>") == 2
    assert "<mark>Deploy</mark>" in html and "<mark>deploy</mark>" in html


def test_highlighting_a_postgresql_headline_turns_only_its_sentinels_into_marks():
    message = Message(message="ignored")
    # As PostgreSQL returns it: the text escaped before ts_headline, and
    # one "<" that was not (whatever it holds is escaped once more).
    message.headline = "&lt;b&gt;x&lt;/b&gt; \x02deploy\x03 &amp;lt; & <i>"
    html = search.highlight(message, search.parse("deploy"))
    assert html == "&lt;b&gt;x&lt;/b&gt; <mark>deploy</mark> &amp;lt; &amp; &lt;i&gt;"


# ---- The page, on SQLite ----------------------------------------------------


def post(room, handle, text, user=None):
    author = Actor(user=user) if user is not None else None
    return services.post_message(room, handle, text, author=author)


def results(client, q, **params):
    """The ``(label, seq)`` of each result of ``/search/?q=…`` for ``client``."""
    response = client.get("/search/", {"q": q, **params})
    assert response.status_code == 200, response.content
    return [(m.room.label, m.seq) for m, _ in response.context["hits"]]


@pytest.fixture
def rooms(db):
    """Public ``lobby`` and private ``club`` (member ann), both saying
    "deploy"; ``mallory`` is signed up and in no room."""
    ann = User.objects.create_user("ann")
    User.objects.create_user("mallory")
    lobby = make_room("lobby")
    club = Room.objects.create(label="club", name="Club", private=True)
    RoomMembership.objects.create(room=club, user=ann)
    post(lobby, "bob", "deploy the lobby")
    post(club, "ann", "deploy the secret", user=ann)
    return {"lobby": lobby, "club": club, "ann": ann}


def signed_in(username):
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def guest():
    client = Client()
    assert client.post("/lobby/name/", {"name": "gwen"}).status_code == 302
    return client


@pytest.mark.parametrize(
    "who", ["a stranger", "a guest", "a signed-in non-member"], ids=lambda who: who
)
def test_outsiders_find_public_messages_but_never_a_private_rooms(rooms, who):
    client = {
        "a stranger": Client,
        "a guest": guest,
        "a signed-in non-member": lambda: signed_in("mallory"),
    }[who]()
    assert results(client, "deploy") == [("lobby", 1)]
    assert results(client, "secret") == []
    assert results(client, "in:club") == []
    assert results(client, "from:ann") == []
    assert b"secret" not in client.get("/search/", {"q": "deploy"}).content


def test_a_member_finds_the_private_rooms_messages_too_newest_first(rooms):
    assert results(signed_in("ann"), "deploy") == [("club", 1), ("lobby", 1)]


def test_in_and_from_narrow_the_search(rooms):
    ann = signed_in("ann")
    assert results(ann, "deploy in:lobby") == [("lobby", 1)]
    assert results(ann, "deploy in:LOBBY") == [("lobby", 1)]
    assert results(ann, "deploy from:ANN") == [("club", 1)]
    assert results(ann, "in:club") == [("club", 1)]
    assert results(ann, "deploy in:nowhere") == []


def test_phrases_and_exclusions(rooms):
    ann = signed_in("ann")
    assert results(ann, '"the lobby"') == [("lobby", 1)]
    assert results(ann, '"lobby the"') == []
    assert results(ann, "deploy -secret") == [("lobby", 1)]


def test_a_deleted_message_is_never_found(rooms):
    ann = rooms["ann"]
    message = Message.objects.get(room=rooms["club"])
    changes.delete(rooms["club"], Actor(user=ann), message.pk)
    assert results(signed_in("ann"), "deploy") == [("lobby", 1)]
    assert results(signed_in("ann"), "from:ann") == []


def test_an_edited_message_is_found_by_its_new_words_not_its_old_ones(rooms):
    ann = rooms["ann"]
    message = Message.objects.get(room=rooms["club"])
    changes.edit(rooms["club"], Actor(user=ann), message.pk, "ship the rocket")
    client = signed_in("ann")
    assert results(client, "rocket") == [("club", 1)]
    assert results(client, "secret") == []


def test_a_result_shows_room_author_time_highlighted_text_and_permalink(rooms):
    post(rooms["lobby"], "eve", "<img src=x onerror=alert(1)> deploy now")
    content = Client().get("/search/", {"q": "deploy"}).content.decode()
    assert 'href="/lobby/?at=2"' in content
    assert '<span class="handle">eve</span>' in content
    assert '<time class="local" datetime="' in content
    assert "&lt;img src=x onerror=alert(1)&gt; <mark>deploy</mark> now" in content
    assert "<img src=x" not in content


def test_twenty_a_page_newest_first_with_the_pages_linked(db):
    lobby = make_room("lobby")
    for n in range(45):
        post(lobby, "bob", "note %d" % n)
    client = Client()
    first = results(client, "note")
    assert [seq for _, seq in first] == list(range(45, 25, -1))
    third = results(client, "note", page=3)
    assert [seq for _, seq in third] == list(range(5, 0, -1))
    content = client.get("/search/", {"q": "note", "page": 2}).content.decode()
    assert "Page 2 of 3" in content and 'rel="next"' in content and 'rel="prev"' in content


def test_the_count_stops_at_the_cap(db, settings):
    settings.CHAT_SEARCH_MAX_RESULTS = 3
    lobby = make_room("lobby")
    for n in range(5):
        post(lobby, "bob", "note %d" % n)
    response = Client().get("/search/", {"q": "note"})
    assert response.context["count"] == 3 and response.context["capped"]
    assert b"More than 3 messages" in response.content


@pytest.mark.parametrize("q", ["", "   ", "-word", "in:"])
def test_an_empty_or_invalid_query_says_why_with_400(db, q):
    response = Client().get("/search/", {"q": q})
    assert response.status_code == 400
    assert response.context["error"]
    assert b'role="alert"' in response.content


def test_an_address_past_its_searches_is_told_to_wait_with_429(db, settings):
    settings.CHAT_SEARCH_BURST = 2
    settings.CHAT_SEARCH_PER_MINUTE = 1
    make_room("lobby")
    client = Client()
    for _ in range(2):
        assert client.get("/search/", {"q": "note"}).status_code == 200
    refused = client.get("/search/", {"q": "note"})
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert b"Too many searches" in refused.content and not refused.context["hits"]
    # An invalid query costs nothing and is told why, as before.
    assert client.get("/search/", {"q": "-x"}).status_code == 400


def test_without_a_query_the_page_offers_the_form(db):
    response = Client().get("/search/")
    assert response.status_code == 200
    assert b'id="search-q"' in response.content and not response.context["hits"]


def test_the_search_box_is_in_the_header_of_the_room_list_and_the_room_page(db):
    for path in ("/", "/lobby/"):
        content = Client().get(path).content.decode()
        assert 'class="site-search"' in content and 'action="/search/"' in content


# ---- New paths: search and stream -----------------------------------------


@pytest.mark.parametrize("label", ["search", "stream"])
def test_search_and_stream_can_no_longer_name_a_room(db, label):
    assert not conf.is_valid_label(label)
    assert Client().get("/%s/" % label).status_code in (200, 404)
    assert not Room.objects.filter(label=label).exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_relabels_rooms_called_search_or_stream_and_keeps_what_they_hold():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("chat", "0011_scheduled_messages")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    OldRoom, OldMessage = old.get_model("chat", "Room"), old.get_model("chat", "Message")
    OldMembership, OldReadMark = (
        old.get_model("chat", "RoomMembership"),
        old.get_model("chat", "ReadMark"),
    )
    OldUser = old.get_model("auth", "User")
    ann = OldUser.objects.create(username="ann")
    OldRoom.objects.create(label="search-room", name="taken already")
    searching = OldRoom.objects.create(label="search", name="Search party", private=True)
    streaming = OldRoom.objects.create(label="stream", name="stream")
    for seq in (1, 2):
        OldMessage.objects.create(
            room=searching, handle="ann", message="m%d" % seq, seq=seq, version=seq
        )
    OldMessage.objects.create(room=streaming, handle="bob", message="s", seq=1, version=1)
    OldMembership.objects.create(room=searching, user=ann)
    OldReadMark.objects.create(room=searching, user=ann, seq=2)
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        labels = dict(Room.objects.values_list("pk", "label"))
        assert labels[searching.pk] == "search-room-2"
        assert labels[streaming.pk] == "stream-room"
        assert "search" not in labels.values() and "stream" not in labels.values()
        relabelled = Room.objects.get(pk=searching.pk)
        assert (relabelled.name, relabelled.private) == ("Search party", True)
        assert list(relabelled.messages.order_by("seq").values_list("message", flat=True)) == [
            "m1",
            "m2",
        ]
        assert relabelled.memberships.get().user.username == "ann"
        assert relabelled.read_marks.get().seq == 2
        assert Room.objects.get(pk=streaming.pk).messages.count() == 1
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
