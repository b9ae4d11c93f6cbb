import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import override_settings

from chat.exceptions import ClientError
from chat.identity import (
    ANONYMOUS,
    GUEST,
    GUEST_NAME_SESSION_KEY,
    USER,
    Identity,
    clean_guest_name,
    identify,
    set_guest_name,
)


@pytest.mark.django_db
def test_a_signed_in_user_speaks_as_their_username_whatever_the_session_holds():
    user = User.objects.create_user("ann")
    assert identify(user, {GUEST_NAME_SESSION_KEY: "someone"}) == Identity(USER, "ann")
    assert identify(user, None) == Identity(USER, "ann")


def test_a_guest_speaks_as_the_name_in_their_session():
    assert identify(AnonymousUser(), {GUEST_NAME_SESSION_KEY: "bob"}) == Identity(GUEST, "bob")
    assert identify(None, {GUEST_NAME_SESSION_KEY: "bob"}) == Identity(GUEST, "bob")


@pytest.mark.parametrize("session", [None, {}, {GUEST_NAME_SESSION_KEY: ""}])
def test_without_a_user_or_a_guest_name_there_is_no_identity(session):
    assert identify(AnonymousUser(), session) is ANONYMOUS
    assert ANONYMOUS.kind is None and ANONYMOUS.handle is None


@pytest.mark.django_db
def test_a_guest_name_is_stripped_of_surrounding_whitespace():
    assert clean_guest_name("  bob the builder \t") == "bob the builder"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name, code",
    [
        ("", "HANDLE_EMPTY"),
        ("   ", "HANDLE_EMPTY"),
        ("x" * 51, "HANDLE_TOO_LONG"),
        ("bell\x07", "INVALID_FIELD"),
        ("two\nlines", "INVALID_FIELD"),
        ("\ud800", "INVALID_FIELD"),
    ],
)
def test_a_guest_name_outside_the_handle_rules_is_refused_with_the_protocols_code(name, code):
    with pytest.raises(ClientError) as raised:
        clean_guest_name(name)
    assert raised.value.code == code
    assert raised.value.detail


@pytest.mark.django_db
@override_settings(CHAT_HANDLE_MAX_LENGTH=5)
def test_a_guest_names_length_follows_the_handle_setting():
    assert clean_guest_name("abcde") == "abcde"
    with pytest.raises(ClientError) as raised:
        clean_guest_name("abcdef")
    assert raised.value.code == "HANDLE_TOO_LONG"


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["ann", "ANN", "Ann", " aNn "])
def test_a_guest_cannot_take_an_accounts_username_in_any_case(name):
    User.objects.create_user("Ann")
    with pytest.raises(ClientError) as raised:
        clean_guest_name(name)
    assert raised.value.code == "HANDLE_TAKEN"


def test_a_guest_name_is_kept_in_the_session_where_identify_finds_it():
    session = {}
    set_guest_name(session, "bob")
    assert session == {GUEST_NAME_SESSION_KEY: "bob"}
    assert identify(AnonymousUser(), session) == Identity(GUEST, "bob")
