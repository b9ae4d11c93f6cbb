import importlib
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import caches
from django.test import override_settings

import chat.migrations
from chat.exceptions import ClientError
from chat.identity import (
    ANONYMOUS,
    GUEST,
    GUEST_AUTHOR_SESSION_KEY,
    GUEST_NAME_SESSION_KEY,
    USER,
    Identity,
    check_unregistered,
    clean_guest_name,
    ensure_guest_author,
    guest_author,
    guest_name_in_use,
    hold_guest_name,
    identify,
    set_guest_name,
)
from chat.models import RegisteredHandle


@pytest.fixture(autouse=True)
def empty_guest_names():
    """No guest name held by an earlier test."""
    caches["channel_sessions"].clear()
    yield
    caches["channel_sessions"].clear()


@pytest.mark.django_db
def test_a_signed_in_user_speaks_as_their_username_whatever_the_session_holds():
    user = User.objects.create_user("ann")
    assert identify(user, {GUEST_NAME_SESSION_KEY: "someone"}) == Identity(USER, "ann")
    assert identify(user, None) == Identity(USER, "ann")


@pytest.mark.django_db
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


@pytest.mark.django_db
def test_a_guest_name_is_kept_in_the_session_where_identify_finds_it():
    session = {}
    set_guest_name(session, "bob")
    assert session[GUEST_NAME_SESSION_KEY] == "bob"
    assert set(session) == {GUEST_NAME_SESSION_KEY, GUEST_AUTHOR_SESSION_KEY}
    assert identify(AnonymousUser(), session) == Identity(GUEST, "bob")


# What a stranger types for the registered "ann": case, a zero-width space,
# fullwidth letters, a bidi override, a combining grapheme joiner.
LOOKALIKES_OF_ANN = ["ANN", "Ann", "ａｎｎ", "Ａｎｎ", "ann\u034f", "a\u034fnn"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", LOOKALIKES_OF_ANN)
def test_a_guest_cannot_take_a_username_written_in_another_case_width_or_with_invisibles(name):
    User.objects.create_user("ann")
    with pytest.raises(ClientError) as raised:
        clean_guest_name(name)
    assert raised.value.code == "HANDLE_TAKEN"
    assert raised.value.status == 409


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["ann\u200b", "\u202eann", "a\u200dnn", "\ufeffann"])
def test_a_guest_name_with_a_format_character_is_refused_outright(name):
    with pytest.raises(ClientError) as raised:
        clean_guest_name(name)
    assert raised.value.code == "INVALID_FIELD"


@pytest.mark.django_db
def test_a_username_with_a_ligature_is_taken_in_its_plain_spelling_and_back():
    User.objects.create_user("fiona")
    User.objects.create_user("\ufb03x")  # "ﬃx", a ligature NFKC spells "ffix"
    for name in ["\ufb01ona", "FIONA", "ffix", "FFIX"]:
        with pytest.raises(ClientError):
            check_unregistered(name)


@pytest.mark.django_db
def test_a_name_nobody_registered_is_allowed_and_held_as_a_guests():
    User.objects.create_user("ann")
    check_unregistered("anna")
    assert guest_name_in_use("ANNA")
    assert not guest_name_in_use("ann")


@pytest.mark.django_db
def test_a_guest_name_held_lapses_after_the_hold():
    with override_settings(CHAT_GUEST_NAME_HOLD_SECONDS=0):
        # A timeout of 0 expires the key at once (Django's cache API).
        hold_guest_name("gus")
    assert not guest_name_in_use("gus")


@pytest.mark.django_db
def test_a_guest_name_registered_since_it_was_picked_is_dropped_from_the_identity():
    session = {GUEST_NAME_SESSION_KEY: "Gus"}
    assert identify(AnonymousUser(), session) == Identity(GUEST, "Gus")
    User.objects.create_user("gus")
    assert identify(AnonymousUser(), session) is ANONYMOUS


@pytest.mark.django_db
def test_the_registered_handles_follow_a_rename_and_a_deletion():
    user = User.objects.create_user("ann")
    assert RegisteredHandle.is_registered("ANN")
    user.username = "Annabel"
    user.save()
    assert not RegisteredHandle.is_registered("ann")
    assert RegisteredHandle.is_registered("annabel")
    user.delete()
    assert not RegisteredHandle.objects.exists()


@pytest.mark.django_db
def test_saving_a_user_without_its_username_spends_no_query_on_its_handle(
    django_assert_num_queries,
):
    user = User.objects.create_user("ann")
    with django_assert_num_queries(1):
        user.save(update_fields=["last_login"])


def migration(suffix):
    """The migration module of chat whose name ends with ``suffix``, found
    by name so that renumbering it does not break the test."""
    path = next(Path(chat.migrations.__file__).parent.glob("*_%s.py" % suffix))
    return importlib.import_module("chat.migrations.%s" % path.stem)


@pytest.mark.django_db
def test_the_migration_registers_the_users_that_existed_before_it():
    User.objects.create_user("ANN")
    User.objects.create_user("\uff22ob")  # a fullwidth B, as an old admin form let through
    RegisteredHandle.objects.all().delete()

    migration("guest_and_registered_handles").register_existing_users(django_apps, None)

    assert sorted(RegisteredHandle.objects.values_list("canonical", flat=True)) == ["ann", "bob"]


def test_picking_a_name_gives_the_session_a_random_author_id_kept_across_names():
    session = {}
    set_guest_name(session, "gus")
    author = session[GUEST_AUTHOR_SESSION_KEY]
    assert len(author) == 32 and int(author, 16) >= 0
    set_guest_name(session, "gustav")
    assert session[GUEST_AUTHOR_SESSION_KEY] == author
    other = {}
    set_guest_name(other, "gus")
    assert other[GUEST_AUTHOR_SESSION_KEY] != author


def test_a_guest_named_before_author_ids_is_given_one_when_it_is_first_needed():
    session = {GUEST_NAME_SESSION_KEY: "gus"}
    assert guest_author(session) is None
    author, made = ensure_guest_author(session)
    assert made and guest_author(session) == author
    assert ensure_guest_author(session) == (author, False)
