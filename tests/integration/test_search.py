"""Search on the real split, on PostgreSQL's full-text search: a message
sent over the socket is found at once by every reader of its room and by
nobody else; an edit is found by its new words only, a deleted message not
at all; results are highlighted by ts_headline, escaped."""

import os
import random
import re
import string

import pytest
import requests

from bench.chat_client import ChatClient, guest_sessions, unique_label, user_sessions
from bench.split import manage

pytestmark = pytest.mark.integration


def word():
    """A word no other test's message holds (str, 12 lowercase letters)."""
    return "".join(random.choice(string.ascii_lowercase) for _ in range(12))


def found(split, q, session_key=None):
    """The ``(label, seq)`` of each result of ``/search/?q=…`` as the
    session ``session_key`` (or nobody) sees it, and the page's HTML."""
    cookies = {"sessionid": session_key} if session_key else {}
    answer = requests.get(split.base_url + "/search/", params={"q": q}, cookies=cookies, timeout=30)
    assert answer.status_code == 200, answer.text
    hits = re.findall(r'<li class="result" data-label="([^"]+)" data-seq="(\d+)"', answer.text)
    return [(label, int(seq)) for label, seq in hits], answer.text


def said(client, text):
    """Send ``text`` on ``client`` and return its stored frame."""
    client.send_frame(message=text)
    return client.receive_until(lambda frame: frame.get("message") == text)[-1]


def test_full_text_search_keeps_private_rooms_private_and_follows_edits_and_deletes(
    split, split_env
):
    env = dict(os.environ, **split_env)
    public, private = unique_label("open"), unique_label("hidden")
    ann, mal = (unique_label(n).replace("-", "_") for n in ("ann", "mal"))
    ann_key, mal_key = user_sessions(env, ann, mal)
    (guest_key,) = guest_sessions(env, unique_label("gwen"))
    manage(env, "chatroom", "create", private, "--private", "--members", ann)
    shared, secret, old, new = word(), word(), word(), word()

    in_public = ChatClient(split, public, session_key=ann_key)
    in_private = ChatClient(split, private, session_key=ann_key)
    said(in_public, "Deploying the %s <b>release</b> today" % shared)
    said(in_private, "deploy %s with the %s codes" % (shared, secret))
    edited = said(in_private, "the %s plan" % old)
    gone = said(in_private, "%s and %s, to be deleted" % (shared, new))
    in_private.send_frame(type="edit", id=edited["id"], message="the %s plan" % new)
    in_private.receive_until(lambda f: f.get("change") == "edit")
    in_private.send_frame(type="delete", id=gone["id"])
    in_private.receive_until(lambda f: f.get("change") == "delete")

    # The member finds both rooms, newest first, stemmed ("deploy" finds
    # "Deploying"), highlighted and escaped.
    hits, html = found(split, "deploy " + shared, ann_key)
    assert hits == [(private, 1), (public, 1)]
    assert "<mark>Deploying</mark> the <mark>%s</mark> &lt;b&gt;release&lt;/b&gt;" % shared in html
    assert found(split, '"%s with" in:%s' % (shared, private), ann_key)[0] == [(private, 1)]
    assert found(split, "%s -%s" % (shared, secret), ann_key)[0] == [(public, 1)]
    assert found(split, "%s from:%s" % (shared, ann.upper()), ann_key)[0] == [
        (private, 1),
        (public, 1),
    ]
    # The edit is found by its new words only; the deleted message not at all.
    assert found(split, new, ann_key)[0] == [(private, edited["seq"])]
    assert found(split, old, ann_key)[0] == []

    for outsider in (None, guest_key, mal_key):
        hits, html = found(split, shared, outsider)
        assert hits == [(public, 1)]
        assert secret not in html
        assert found(split, secret, outsider)[0] == []
        assert found(split, "in:%s" % private, outsider)[0] == []
    for client in (in_public, in_private):
        client.close()
