"""``manage.py chattoken``: API tokens from the command line."""

import io

import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from chat.models import ApiToken, hash_api_token

pytestmark = pytest.mark.django_db


def chattoken(*args):
    """Run ``chattoken`` with ``args``; returns ``(stdout, stderr)`` (str)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("chattoken", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_the_secret_once_and_stores_only_its_hash():
    out, err = chattoken("create", "weather-bot")
    secret = out.strip()
    stored = ApiToken.objects.get(name="weather-bot")
    assert len(secret) >= 43 and "\n" not in secret
    assert stored.token_hash == hash_api_token(secret) != secret
    assert "shown only this once" in err
    assert ApiToken.find_active(secret) == stored


def test_create_refuses_a_name_already_taken():
    chattoken("create", "bot")
    with pytest.raises(CommandError) as raised:
        chattoken("create", "bot")
    assert "already exists" in str(raised.value)
    assert ApiToken.objects.count() == 1


def test_revoke_makes_the_token_fail_from_then_on():
    secret = chattoken("create", "bot")[0].strip()
    out, _ = chattoken("revoke", "bot")
    assert out.startswith("Revoked the token 'bot'")
    assert ApiToken.objects.get().is_revoked
    assert ApiToken.find_active(secret) is None


def test_revoke_refuses_an_unknown_name():
    with pytest.raises(CommandError) as raised:
        chattoken("revoke", "nobody")
    assert str(raised.value) == "No token is named 'nobody'."


def test_create_and_revoke_need_a_name():
    for action in ("create", "revoke"):
        with pytest.raises(CommandError):
            chattoken(action)


def test_list_shows_each_token_and_whether_it_is_revoked_but_never_a_secret():
    secret = chattoken("create", "alpha")[0].strip()
    chattoken("create", "beta")
    chattoken("revoke", "beta")
    out, _ = chattoken("list")
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["alpha", "beta"]
    assert lines[0].endswith("active") and "revoked" in lines[1]
    assert secret not in out


def test_a_failure_exits_non_zero_from_the_command_line(capsys):
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "chattoken", "revoke", "nobody"]).execute()
    assert exited.value.code == 1
    assert "No token is named 'nobody'." in capsys.readouterr().err


def test_a_token_added_in_the_admin_shows_its_secret_once(admin_client):
    response = admin_client.post("/admin/chat/apitoken/add/", {"name": "from-admin"}, follow=True)
    shown = [str(message) for message in response.context["messages"]]
    stored = ApiToken.objects.get(name="from-admin")
    secret = shown[0].split(" is ")[1].split(" ")[0]
    assert ApiToken.find_active(secret) == stored
    assert stored.token_hash != secret
    again = admin_client.get("/admin/chat/apitoken/%d/change/" % stored.pk)
    assert secret not in again.content.decode()


def test_the_admin_revokes_the_selected_tokens(admin_client):
    secret = chattoken("create", "bot")[0].strip()
    stored = ApiToken.objects.get()
    admin_client.post(
        "/admin/chat/apitoken/",
        {"action": "revoke", "_selected_action": [stored.pk]},
    )
    assert ApiToken.find_active(secret) is None
