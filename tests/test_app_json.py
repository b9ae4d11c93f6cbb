"""app.json, Heroku's manifest of the app, against the Procfile it deploys."""

import json

import pytest

from bench.split import PROJECT_DIR, procfile_commands

# Procfile types that run once per deploy rather than as a process formation.
ONE_OFF_TYPES = {"release"}


@pytest.fixture(scope="module")
def manifest():
    return json.loads((PROJECT_DIR / "app.json").read_text())


def test_the_manifest_has_the_keys_a_deploy_needs(manifest):
    for key in ("name", "description", "buildpacks", "formation", "addons", "env"):
        assert key in manifest, key


def test_the_python_buildpack_builds_the_app(manifest):
    assert [pack["url"] for pack in manifest["buildpacks"]] == ["heroku/python"]


def test_every_procfile_process_type_is_in_the_formation_and_nothing_else(manifest):
    running = set(procfile_commands()) - ONE_OFF_TYPES
    assert set(manifest["formation"]) == running


def test_the_release_phase_is_left_to_the_procfile(manifest):
    assert "release" in procfile_commands()
    assert "release" not in manifest["formation"]
    assert "postdeploy" not in manifest.get("scripts", {})


def test_every_process_type_runs_at_least_one_process(manifest):
    for name, process in manifest["formation"].items():
        assert isinstance(process["quantity"], int), name
        assert process["quantity"] >= 1, name


def test_postgres_and_redis_are_provisioned_by_named_plans(manifest):
    plans = [addon["plan"] if isinstance(addon, dict) else addon for addon in manifest["addons"]]
    assert all(plans)
    assert {plan.split(":")[0] for plan in plans} >= {"heroku-postgresql", "heroku-redis"}


def test_the_secret_key_is_generated(manifest):
    assert manifest["env"]["SECRET_KEY"]["generator"] == "secret"
    assert "value" not in manifest["env"]["SECRET_KEY"]


def test_debug_is_off_and_the_allowed_hosts_must_be_given(manifest):
    assert manifest["env"]["DEBUG"]["value"] == "0"
    assert manifest["env"]["ALLOWED_HOSTS"]["required"] is True


def test_every_config_var_is_described(manifest):
    for name, var in manifest["env"].items():
        assert var.get("description"), name


def test_the_web_process_takes_the_clients_address_from_the_routers_header(manifest):
    # Behind Heroku's router every connection comes from the router; without
    # --proxy-headers every per-address limit would key on it.
    web = procfile_commands()["web"].split()
    assert web[:2] == ["daphne", "asgi:channel_layer"]
    assert "--proxy-headers" in web
    assert manifest["env"]["CHAT_PROXY_TRUSTED_HOPS"]["value"] == "1"
