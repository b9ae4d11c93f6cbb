import html
import re
import urllib.parse

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client

from chat import ratelimit
from chat.models import Room

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The default hasher is slow on purpose; these tests hash dozens of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def full_signup_buckets():
    """Every test signs up from 127.0.0.1 with the address's sign-up limit
    untouched (tests/test_signin.py tests the limit)."""
    caches[ratelimit.CACHE_ALIAS].clear()


def signed_in_username(client):
    """The username (str) the client's session is signed in as, or None."""
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def sign_up(client, username="ann", password=PASSWORD, **extra):
    data = {"username": username, "password1": password, "password2": password, **extra}
    return client.post("/accounts/signup/", data)


def test_signing_up_creates_the_user_and_signs_them_in(client):
    response = sign_up(client)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert User.objects.get().username == "ann"
    assert signed_in_username(client) == "ann"
    assert "Signed in as ann" in client.get("/").content.decode()


def test_signing_up_goes_back_to_the_page_it_was_asked_from(client):
    response = sign_up(client, next="/lobby/")
    assert response["Location"] == "/lobby/"


@pytest.mark.parametrize("next_url", ["https://elsewhere.example/", "//elsewhere.example/x"])
def test_signing_up_never_redirects_to_another_site(client, next_url):
    response = sign_up(client, next=next_url)
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.parametrize(
    "password, message",
    [
        ("short1x", "This password is too short."),
        ("password", "This password is too common."),
        ("8412093756", "This password is entirely numeric."),
        ("annabelle-lee", "The password is too similar to the username."),
    ],
)
def test_a_weak_password_is_refused_with_the_validators_message_and_no_user(
    client, password, message
):
    response = sign_up(client, username="annabelle-lee", password=password)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not User.objects.exists()
    assert signed_in_username(client) is None


def test_two_different_passwords_are_refused(client):
    response = client.post(
        "/accounts/signup/", {"username": "ann", "password1": PASSWORD, "password2": PASSWORD + "!"}
    )
    assert response.status_code == 400
    assert "The two password fields didn" in response.content.decode()
    assert not User.objects.exists()


def test_a_username_longer_than_a_handle_is_refused(client):
    response = sign_up(client, username="a" * 51)
    assert response.status_code == 400
    assert response.context["form"].errors["username"] == [
        "A username may be at most 50 characters."
    ]
    assert not User.objects.exists()


def test_a_username_taken_in_another_case_is_refused(client):
    User.objects.create_user("Ann")
    response = sign_up(client, username="aNN")
    assert response.status_code == 400
    assert response.context["form"].errors["username"]
    assert User.objects.count() == 1


def test_a_username_that_reads_as_a_registered_one_is_refused(client):
    User.objects.create_user("Straße")
    for username in ["STRASSE", "strasse", "ＳＴＲＡＳＳＥ"]:
        response = sign_up(client, username=username)
        assert response.status_code == 400
        assert response.context["form"].errors["username"] == [
            "A user with that username already exists."
        ]
    assert User.objects.count() == 1


@pytest.fixture
def guest_names():
    """No guest name held before or after the test."""
    caches["channel_sessions"].clear()
    yield
    caches["channel_sessions"].clear()


def test_a_name_a_guest_is_using_now_is_refused_at_sign_up_until_it_lapses(client, guest_names):
    guest = Client()
    assert guest.post("/lobby/name/", {"name": "Gus"}).status_code == 302

    response = sign_up(client, username="gus")

    assert response.status_code == 400
    assert response.context["form"].has_error("username", code="guest_name_in_use")
    assert not User.objects.exists()
    caches["channel_sessions"].clear()  # the hold has lapsed
    assert sign_up(client, username="gus").status_code == 302


def test_a_guest_may_sign_up_under_the_name_they_have_been_using(client, guest_names):
    assert client.post("/lobby/name/", {"name": "Gus"}).status_code == 302
    assert sign_up(client, username="gus").status_code == 302
    assert signed_in_username(client) == "gus"


def test_after_sign_up_another_guest_holding_the_name_loses_it_at_the_next_page(
    client, guest_names
):
    other = Client()
    other.post("/lobby/name/", {"name": "gus"})
    caches["channel_sessions"].clear()  # that guest left an hour ago
    sign_up(client, username="Gus")

    page = other.get("/lobby/")

    assert page.context["identity"].kind is None
    assert page.context["guest_form"] is not None


def test_the_signup_page_labels_its_fields_and_explains_the_password_rules(client):
    page = client.get("/accounts/signup/?next=/lobby/").content.decode()
    for field in ("username", "password1", "password2"):
        assert '<label for="id_%s">' % field in page
        assert 'id="id_%s"' % field in page
    assert "at least 8 characters" in page
    assert '<input type="hidden" name="next" value="/lobby/">' in page


def test_logging_in_signs_in_and_goes_back_to_the_page_it_was_asked_from(client):
    User.objects.create_user("ann", password=PASSWORD)
    response = client.post(
        "/accounts/login/", {"username": "ann", "password": PASSWORD, "next": "/lobby/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/lobby/"
    assert signed_in_username(client) == "ann"


def test_logging_in_without_a_next_goes_to_the_room_list(client):
    User.objects.create_user("ann", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "ann", "password": PASSWORD})
    assert response["Location"] == "/"


def test_a_wrong_password_shows_the_error_and_signs_nobody_in(client):
    User.objects.create_user("ann", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "ann", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert signed_in_username(client) is None


def test_the_login_page_labels_its_fields_and_keeps_the_next_page(client):
    page = client.get("/accounts/login/?next=/lobby/").content.decode()
    assert '<label for="id_username">' in page and '<label for="id_password">' in page
    assert '<input type="hidden" name="next" value="/lobby/">' in page
    assert 'href="/accounts/signup/?next=/lobby/"' in page


def test_logging_out_by_post_signs_out_and_goes_to_the_room_list(client):
    client.force_login(User.objects.create_user("ann"))
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert signed_in_username(client) is None


def test_logging_out_by_get_is_refused_and_keeps_the_user_signed_in(client):
    client.force_login(User.objects.create_user("ann"))
    assert client.get("/accounts/logout/").status_code == 405
    assert signed_in_username(client) == "ann"


def test_logging_out_needs_the_csrf_token():
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.create_user("ann"))
    assert strict.post("/accounts/logout/").status_code == 403
    assert signed_in_username(strict) == "ann"


def test_signing_up_needs_the_csrf_token():
    strict = Client(enforce_csrf_checks=True)
    assert sign_up(strict).status_code == 403
    assert not User.objects.exists()


def test_the_header_offers_log_in_and_sign_up_back_to_the_current_page(client):
    page = client.get("/lobby/").content.decode()
    assert '<a class="login" href="/accounts/login/?next=/lobby/">Log in</a>' in page
    assert '<a class="signup" href="/accounts/signup/?next=/lobby/">Sign up</a>' in page
    assert "Signed in as" not in page and "Log out" not in page


def test_the_header_escapes_the_current_path_into_the_next_parameter(client):
    page = client.get("/", {"q": "a&b"}).content.decode()
    href = re.search(r'<a class="login" href="([^"]*)"', page).group(1)
    url = urllib.parse.urlsplit(html.unescape(href))
    assert url.path == "/accounts/login/"
    assert urllib.parse.parse_qs(url.query) == {"next": ["/?q=a%26b"]}


def test_the_header_shows_who_is_signed_in_and_a_logout_form(client):
    client.force_login(User.objects.create_user("ann"))
    page = client.get("/lobby/").content.decode()
    assert "Signed in as ann" in page
    logout_form = page[page.index('<form class="logout"') :]
    logout_form = logout_form[: logout_form.index("</form>")]
    assert 'method="post" action="/accounts/logout/"' in logout_form
    assert 'name="csrfmiddlewaretoken"' in logout_form
    assert "Log in" not in page and "Sign up" not in page


def test_the_header_on_the_login_page_carries_the_next_page_it_was_given(client):
    page = client.get("/accounts/login/?next=/lobby/").content.decode()
    assert '<a class="signup" href="/accounts/signup/?next=/lobby/">Sign up</a>' in page
    page = client.get("/accounts/login/").content.decode()
    assert '<a class="signup" href="/accounts/signup/">Sign up</a>' in page


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/"])
def test_the_account_pages_are_not_taken_for_rooms(client, path):
    assert client.get(path).status_code == 200
    assert client.get("/accounts/").status_code == 404
    assert not Room.objects.exists()
