"""The client's address on the real split, whose Daphne runs with
``--proxy-headers`` as the Procfile says: the test's HTTP client plays the
router and sets ``X-Forwarded-For``, and every per-address limit keys on
the entry it appended."""

import uuid

import pytest
import requests

from bench.split import procfile_commands

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


def address():
    """A documentation address (str, 198.18.0.0/15) no other test uses."""
    n = uuid.uuid4().int
    return "198.%d.%d.%d" % (18 + n % 2, (n >> 8) % 256, (n >> 16) % 254 + 1)


class Browser:
    """One browser behind the router: a session with its CSRF cookie, whose
    every request the router forwards ``for_address``."""

    def __init__(self, split, for_address):
        self.split = split
        self.http = requests.Session()
        self.http.headers["X-Forwarded-For"] = for_address
        assert self.http.get(split.base_url + "/accounts/login/", timeout=30).status_code == 200

    def post(self, path, data):
        data = dict(data, csrfmiddlewaretoken=self.http.cookies["csrftoken"])
        return self.http.post(
            self.split.base_url + path, data=data, allow_redirects=False, timeout=30
        )

    def sign_in(self, username, password):
        return self.post("/accounts/login/", {"username": username, "password": password})


def sign_up(split, username):
    answer = Browser(split, address()).post(
        "/accounts/signup/", {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert answer.status_code == 302, answer.text


def test_the_split_runs_daphne_with_proxy_headers_as_the_procfile_says():
    assert "--proxy-headers" in procfile_commands()["web"].split()


def test_two_forwarded_addresses_are_limited_separately_on_sign_in(split):
    username = "ann%s" % uuid.uuid4().hex[:8]
    sign_up(split, username)
    guesser = Browser(split, address())
    answers = [guesser.sign_in(username, "wrong-%d" % n) for n in range(6)]
    assert [a.status_code for a in answers] == [200] * 4 + [429] * 2
    assert "Too many attempts" in answers[-1].text
    assert guesser.sign_in(username, PASSWORD).status_code == 429

    elsewhere = Browser(split, address())
    assert elsewhere.sign_in(username, "wrong").status_code == 200
    signed_in = elsewhere.sign_in(username, PASSWORD)
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/"


def test_an_address_the_client_writes_before_the_routers_entry_changes_nothing(split):
    username = "bob%s" % uuid.uuid4().hex[:8]
    sign_up(split, username)
    guesser_address = address()
    guesser = Browser(split, guesser_address)
    for n in range(5):
        guesser.sign_in(username, "wrong-%d" % n)
    # The client sent its own X-Forwarded-For, which the router appended to.
    for n in range(3):
        guesser.http.headers["X-Forwarded-For"] = "192.0.2.%d, %s" % (n, guesser_address)
        assert guesser.sign_in(username, PASSWORD).status_code == 429


def test_unknown_api_tokens_are_limited_per_forwarded_address(split):
    def guess(for_address):
        return requests.get(
            split.base_url + "/api/rooms/lobby/messages",
            headers={"Authorization": "Bearer guess", "X-Forwarded-For": for_address},
            timeout=30,
        )

    guesser = address()
    answers = [guess(guesser) for _ in range(11)]
    assert [a.status_code for a in answers] == [401] * 10 + [429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert guess(address()).status_code == 401
