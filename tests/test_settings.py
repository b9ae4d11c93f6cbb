"""Settings from the environment, each read in a fresh interpreter."""

import json
import secrets
import subprocess
import sys

import pytest

from bench.split import PROJECT_DIR

CLEAN = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "chat.settings"}
PRODUCTION = dict(
    CLEAN, DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="chat.example.com"
)


def read_settings(env, *names):
    """The named settings (dict) as a process with ``env`` sees them."""
    code = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps({n: getattr(s, n) for n in %r}, default=str))" % (names,)
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=PROJECT_DIR, capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout)


def test_with_nothing_set_it_runs_on_sqlite_and_the_in_memory_layer_in_debug():
    found = read_settings(CLEAN, "DEBUG", "DATABASES", "CHANNEL_LAYERS", "ALLOWED_HOSTS")
    assert found["DEBUG"] is True
    assert found["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert found["CHANNEL_LAYERS"]["default"]["BACKEND"] == "asgiref.inmemory.ChannelLayer"
    assert "localhost" in found["ALLOWED_HOSTS"]


@pytest.mark.parametrize("value", ["0", "false", "False", "no", "off"])
def test_debug_off_values_turn_it_off(value):
    assert read_settings(dict(PRODUCTION, DEBUG=value), "DEBUG")["DEBUG"] is False


@pytest.mark.parametrize("secret", [None, "", "development-only-not-secret"])
def test_production_refuses_to_start_without_a_real_secret_key(secret):
    env = dict(PRODUCTION)
    env.pop("SECRET_KEY")
    if secret is not None:
        env["SECRET_KEY"] = secret
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        read_settings(env, "DEBUG")


def test_database_and_redis_urls_select_postgresql_and_redis():
    env = dict(
        PRODUCTION,
        DATABASE_URL="postgres://chat:pw@db.example.com:5432/chat",
        REDIS_URL="redis://cache.example.com:6379/2",
    )
    found = read_settings(env, "DATABASES", "CHANNEL_LAYERS")
    database = found["DATABASES"]["default"]
    assert database["ENGINE"] == "chat.transport.postgresql"
    assert (database["HOST"], database["NAME"], database["USER"]) == (
        "db.example.com",
        "chat",
        "chat",
    )
    layer = found["CHANNEL_LAYERS"]["default"]
    assert layer["BACKEND"] == "chat.transport.layer.ChatChannelLayer"
    assert layer["CONFIG"]["hosts"] == ["redis://cache.example.com:6379/2"]


def test_the_stock_layer_has_a_settings_module_of_its_own_for_the_benchmark():
    env = dict(
        PRODUCTION,
        REDIS_URL="redis://cache.example.com:6379/2",
        DJANGO_SETTINGS_MODULE="bench.stock_settings",
    )
    found = read_settings(env, "CHANNEL_LAYERS", "CHANNEL_SESSION_ENGINE")
    layer = found["CHANNEL_LAYERS"]["default"]
    assert layer["BACKEND"] == "asgi_redis.RedisChannelLayer"
    assert set(layer["CONFIG"]) == {"hosts", "prefix"}
    # Everything else is the chat's own.
    assert found["CHANNEL_SESSION_ENGINE"] == "chat.transport.channel_sessions"


def test_the_channel_capacities_sit_beside_the_routing_they_serve():
    env = dict(PRODUCTION, REDIS_URL="redis://cache.example.com:6379/2")
    layer = read_settings(env, "CHANNEL_LAYERS")["CHANNEL_LAYERS"]["default"]
    assert layer["ROUTING"] == "routing.channel_routing"
    assert layer["CONFIG"]["channel_capacity"]["websocket.receive"] == 2000


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("CHAT_RATE_LIMIT_BURST", "ten", "CHAT_RATE_LIMIT_BURST must be an integer"),
        ("CHAT_HISTORY_LENGTH", "-1", "CHAT_HISTORY_LENGTH must be at least 0"),
        ("DEBUG", "maybe", "DEBUG must be one of"),
        ("SECURE_HSTS_SECONDS", "1h", "SECURE_HSTS_SECONDS must be an integer"),
        ("REDIS_URL", "cache.example.com:6379", "REDIS_URL must hold redis:// URLs"),
    ],
)
def test_a_value_that_cannot_be_read_stops_the_process_naming_the_variable(name, value, expected):
    with pytest.raises(RuntimeError, match=expected):
        read_settings(dict(PRODUCTION, **{name: value}), "DEBUG")


def test_allowed_hosts_are_comma_separated():
    env = dict(PRODUCTION, ALLOWED_HOSTS="a.example.com, b.example.com,")
    assert read_settings(env, "ALLOWED_HOSTS")["ALLOWED_HOSTS"] == [
        "a.example.com",
        "b.example.com",
    ]


def test_the_deploy_checklist_is_clean_under_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=PRODUCTION,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_chat_tunables_can_come_from_the_environment():
    env = dict(CLEAN, CHAT_RATE_LIMIT_PER_MINUTE="0", CHAT_MESSAGE_MAX_LENGTH="500")
    found = read_settings(env, "CHAT_RATE_LIMIT_PER_MINUTE", "CHAT_MESSAGE_MAX_LENGTH")
    assert found == {"CHAT_RATE_LIMIT_PER_MINUTE": 0, "CHAT_MESSAGE_MAX_LENGTH": 500}


def test_webhooks_go_to_public_https_urls_only_in_production_and_may_use_http_in_debug():
    names = ("CHAT_WEBHOOK_ALLOW_HTTP", "CHAT_WEBHOOK_ALLOWED_NETWORKS")
    assert read_settings(PRODUCTION, *names) == {
        "CHAT_WEBHOOK_ALLOW_HTTP": False,
        "CHAT_WEBHOOK_ALLOWED_NETWORKS": [],
    }
    assert read_settings(CLEAN, *names) == {
        "CHAT_WEBHOOK_ALLOW_HTTP": True,
        "CHAT_WEBHOOK_ALLOWED_NETWORKS": [],
    }


def test_the_webhook_settings_are_read_and_a_bad_network_stops_the_process():
    env = dict(
        PRODUCTION,
        CHAT_WEBHOOK_ALLOW_HTTP="1",
        CHAT_WEBHOOK_ALLOWED_NETWORKS="10.1.2.3/32, ::1",
        CHAT_WEBHOOK_DEADLINE_SECONDS="7",
    )
    assert read_settings(
        env,
        "CHAT_WEBHOOK_ALLOW_HTTP",
        "CHAT_WEBHOOK_ALLOWED_NETWORKS",
        "CHAT_WEBHOOK_DEADLINE_SECONDS",
    ) == {
        "CHAT_WEBHOOK_ALLOW_HTTP": True,
        "CHAT_WEBHOOK_ALLOWED_NETWORKS": ["10.1.2.3/32", "::1"],
        "CHAT_WEBHOOK_DEADLINE_SECONDS": 7,
    }
    with pytest.raises(RuntimeError, match="CHAT_WEBHOOK_ALLOWED_NETWORKS"):
        read_settings(dict(PRODUCTION, CHAT_WEBHOOK_ALLOWED_NETWORKS="intranet"), "DEBUG")
