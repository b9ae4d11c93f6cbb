"""chat/signin.py and the sign-up limit: guessing passwords and making
accounts are throttled per client address (``REMOTE_ADDR``) and per
username, on ``/accounts/login/``, the admin's login and
``/accounts/signup/``."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client

from chat import ratelimit

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
GUESSER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The default hasher is slow on purpose; these tests hash hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def full_signup_buckets():
    caches[ratelimit.CACHE_ALIAS].clear()


@pytest.fixture
def ann():
    return User.objects.create_user("ann", password=PASSWORD)


def sign_in(address, username="ann", password="wrong", path="/accounts/login/", **headers):
    """POST a sign-in from ``address`` with a fresh client; returns the response."""
    client = Client(REMOTE_ADDR=address)
    return client.post(path, {"username": username, "password": password}, **headers)


def statuses(count, address=GUESSER, **kwargs):
    return [sign_in(address, **kwargs).status_code for _ in range(count)]


def test_thirty_wrong_passwords_for_one_user_are_refused_well_before_the_thirtieth(ann, settings):
    answers = statuses(30)
    limit = settings.CHAT_SIGNIN_FAILURES_PER_USER
    assert answers[: limit - 1] == [200] * (limit - 1)
    assert answers[limit - 1 :] == [429] * (31 - limit)
    assert limit <= 10


def test_a_locked_out_address_is_refused_even_with_the_right_password(ann):
    statuses(5)
    assert sign_in(GUESSER, password=PASSWORD).status_code == 429


def test_the_right_password_from_another_address_still_signs_in(ann):
    statuses(30)
    response = sign_in(ELSEWHERE, password=PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_the_lockout_page_says_to_wait_and_gives_retry_after_in_seconds(ann, settings):
    response = [sign_in(GUESSER) for _ in range(5)][-1]
    assert response.status_code == 429
    assert response["Retry-After"] == str(settings.CHAT_SIGNIN_COOLOFF_MINUTES * 60)
    page = response.content.decode()
    assert "Too many attempts" in page
    assert "Try again in 15 minutes" in page
    assert "Traceback" not in page


def test_the_admin_login_is_throttled_too(ann):
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    answers = statuses(30, username="root", path="/admin/login/")
    assert 429 in answers[:10]
    assert set(answers[answers.index(429) :]) == {429}
    response = sign_in(ELSEWHERE, username="root", password=PASSWORD, path="/admin/login/")
    assert response.status_code == 302


def test_a_forwarded_for_header_sent_to_the_worker_does_not_change_the_address(ann):
    # Only Daphne reads X-Forwarded-For (chat/transport/daphne_proxy.py);
    # a client that sends its own cannot pose as a fresh address here.
    answers = [
        sign_in(GUESSER, HTTP_X_FORWARDED_FOR="192.0.2.%d" % n).status_code for n in range(10)
    ]
    assert answers[4:] == [429] * 6
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {GUESSER}


def test_many_usernames_from_one_address_are_refused_at_the_address_limit(ann, settings):
    limit = settings.CHAT_SIGNIN_FAILURES_PER_ADDRESS
    answers = [sign_in(GUESSER, username="user%d" % n).status_code for n in range(limit + 5)]
    assert answers[: limit - 1] == [200] * (limit - 1)
    assert answers[limit - 1 :] == [429] * 6
    assert sign_in(GUESSER, password=PASSWORD).status_code == 429
    assert sign_in(ELSEWHERE, password=PASSWORD).status_code == 302


def test_a_username_alone_is_never_locked(ann):
    for n in range(6):
        statuses(5, address="192.0.2.%d" % n)
    assert sign_in(ELSEWHERE, password=PASSWORD).status_code == 302


def test_a_correct_password_clears_that_users_failures_from_that_address(ann):
    assert statuses(4) == [200] * 4
    assert sign_in(GUESSER, password=PASSWORD).status_code == 302
    assert statuses(4) == [200] * 4


def test_the_lock_ends_when_the_cool_off_has_passed(ann, settings):
    statuses(5)
    assert sign_in(GUESSER, password=PASSWORD).status_code == 429
    cool_off = timedelta(minutes=settings.CHAT_SIGNIN_COOLOFF_MINUTES)
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= cool_off + timedelta(seconds=1)
        attempt.save()
    assert sign_in(GUESSER, password=PASSWORD).status_code == 302


def test_the_test_clients_login_without_a_request_still_works(ann):
    # axes' own backend raises ValueError when authenticate() has no request.
    client = Client()
    assert client.login(username="ann", password=PASSWORD)
    assert not client.login(username="ann", password="wrong")


# Sign-up


def sign_up(address, username):
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    return Client(REMOTE_ADDR=address).post("/accounts/signup/", data)


def test_sign_ups_from_one_address_beyond_the_burst_are_refused_with_retry_after(settings):
    settings.CHAT_SIGNUP_BURST = 3
    settings.CHAT_SIGNUP_PER_HOUR = 10
    answers = [sign_up(GUESSER, "user%d" % n) for n in range(4)]
    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    assert 300 < int(answers[3]["Retry-After"]) <= 360
    assert "Too many sign-ups from here" in answers[3].content.decode()
    assert not User.objects.filter(username="user3").exists()
    assert sign_up(ELSEWHERE, "user3").status_code == 302


def test_refused_sign_up_forms_count_against_the_address_too(settings):
    settings.CHAT_SIGNUP_BURST = 2
    User.objects.create_user("ann")
    assert sign_up(GUESSER, "ann").status_code == 400
    assert sign_up(GUESSER, "ann").status_code == 400
    assert sign_up(GUESSER, "ann").status_code == 429


def test_the_default_sign_up_limit_lets_ten_through_then_refuses():
    answers = [sign_up(GUESSER, "user%d" % n).status_code for n in range(11)]
    assert answers == [302] * 10 + [429]


def test_no_sign_up_limit_applies_when_it_is_turned_off(settings):
    settings.CHAT_SIGNUP_BURST = 1
    settings.CHAT_SIGNUP_PER_HOUR = 0
    assert [sign_up(GUESSER, "user%d" % n).status_code for n in range(3)] == [302] * 3
