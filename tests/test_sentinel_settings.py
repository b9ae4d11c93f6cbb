"""Redis Sentinel settings: ``chat.env.redis_sentinel`` parsing, the
settings it builds, and the clients the layer and the channel sessions get."""

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django_redis.cache import RedisCache

from chat.env import redis_sentinel
from chat.transport.layer import ChatChannelLayer
from chat.transport.sentinel import MasterConnectionPool
from tests.test_settings import PRODUCTION, read_settings

SENTINELS = "10.0.0.1:26379, 10.0.0.2:26380,10.0.0.3"
VARIABLES = ("REDIS_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_DB")


@pytest.fixture
def environ(monkeypatch):
    for name in VARIABLES + ("REDIS_SENTINEL_PASSWORD",):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_sentinel_variables_there_is_no_sentinel(environ):
    environ.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert redis_sentinel() is None


def test_sentinels_and_master_are_parsed_with_the_default_port_db_and_no_password(environ):
    environ.setenv("REDIS_SENTINELS", SENTINELS)
    environ.setenv("REDIS_SENTINEL_MASTER", "mymaster")
    assert redis_sentinel() == {
        "sentinels": [("10.0.0.1", 26379), ("10.0.0.2", 26380), ("10.0.0.3", 26379)],
        "master": "mymaster",
        "db": 0,
        "password": None,
    }


def test_the_db_and_password_are_the_masters(environ):
    environ.setenv("REDIS_SENTINELS", SENTINELS)
    environ.setenv("REDIS_SENTINEL_MASTER", "mymaster")
    environ.setenv("REDIS_SENTINEL_DB", "2")
    environ.setenv("REDIS_SENTINEL_PASSWORD", "s3cret")
    found = redis_sentinel()
    assert (found["db"], found["password"]) == (2, "s3cret")


def test_redis_url_and_sentinels_together_are_refused_naming_both(environ):
    environ.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    environ.setenv("REDIS_SENTINELS", SENTINELS)
    environ.setenv("REDIS_SENTINEL_MASTER", "mymaster")
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL.*REDIS_SENTINELS"):
        redis_sentinel()


@pytest.mark.parametrize(
    "given, missing",
    [
        ({"REDIS_SENTINELS": SENTINELS}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINEL_MASTER": "mymaster"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINEL_DB": "1"}, "REDIS_SENTINELS and REDIS_SENTINEL_MASTER"),
    ],
)
def test_half_a_sentinel_configuration_is_refused_naming_what_is_missing(environ, given, missing):
    for name, value in given.items():
        environ.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match="%s is unset" % missing):
        redis_sentinel()


@pytest.mark.parametrize("entry", ["host:port", "host:70000", ":26379", "host:"])
def test_a_sentinel_that_is_not_host_and_port_is_refused_naming_the_variable(environ, entry):
    environ.setenv("REDIS_SENTINELS", entry)
    environ.setenv("REDIS_SENTINEL_MASTER", "mymaster")
    with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINELS"):
        redis_sentinel()


def test_a_db_that_is_not_a_number_is_refused_naming_the_variable(environ):
    environ.setenv("REDIS_SENTINELS", SENTINELS)
    environ.setenv("REDIS_SENTINEL_MASTER", "mymaster")
    environ.setenv("REDIS_SENTINEL_DB", "one")
    with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINEL_DB"):
        redis_sentinel()


def test_sentinel_settings_put_the_layer_and_the_channel_sessions_on_the_master():
    env = dict(PRODUCTION, REDIS_SENTINELS=SENTINELS, REDIS_SENTINEL_MASTER="mymaster")
    found = read_settings(env, "REDIS_URLS", "CHANNEL_LAYERS", "CHANNEL_SESSION_CACHE")
    assert found["REDIS_URLS"] == []
    config = found["CHANNEL_LAYERS"]["default"]["CONFIG"]
    assert found["CHANNEL_LAYERS"]["default"]["BACKEND"] == "chat.transport.layer.ChatChannelLayer"
    assert config["hosts"] is None
    assert config["sentinel_master"] == "mymaster"
    assert [tuple(address) for address in config["sentinels"]][0] == ("10.0.0.1", 26379)
    cache = found["CHANNEL_SESSION_CACHE"]
    assert cache["LOCATION"] == ["mymaster"]
    assert cache["OPTIONS"]["CLIENT_CLASS"] == "chat.transport.sentinel.SentinelClient"


def test_settings_with_redis_url_and_sentinels_refuse_to_load():
    env = dict(
        PRODUCTION,
        REDIS_URL="redis://127.0.0.1:6379/0",
        REDIS_SENTINELS=SENTINELS,
        REDIS_SENTINEL_MASTER="mymaster",
    )
    with pytest.raises(RuntimeError, match="REDIS_URL or REDIS_SENTINELS"):
        read_settings(env, "CHANNEL_LAYERS")


def test_the_layer_on_sentinels_has_one_shard_whose_client_asks_the_sentinels():
    layer = ChatChannelLayer(
        sentinels=[("10.0.0.1", 26379)],
        sentinel_master="mymaster",
        connection_kwargs={"db": 3, "password": "s3cret"},
    )
    assert layer.ring_size == 1
    pool = layer.connection(0).connection_pool
    assert isinstance(pool, MasterConnectionPool)
    assert isinstance(layer.connection(0), redis.Redis)
    assert (pool.service_name, pool.connection_kwargs["db"]) == ("mymaster", 3)
    assert pool.connection_kwargs["password"] == "s3cret"


def test_the_layer_refuses_hosts_and_sentinels_together_and_sentinels_without_a_master():
    with pytest.raises(ValueError, match="not both"):
        ChatChannelLayer(hosts=["redis://127.0.0.1:6379/0"], sentinels=[("10.0.0.1", 26379)])
    with pytest.raises(ValueError, match="name of their master"):
        ChatChannelLayer(sentinels=[("10.0.0.1", 26379)])


def test_the_channel_sessions_client_is_on_the_master_the_sentinels_name():
    cache = RedisCache(
        ["mymaster"],
        {
            "OPTIONS": {
                "CLIENT_CLASS": "chat.transport.sentinel.SentinelClient",
                "SENTINELS": [("10.0.0.1", 26379)],
                "DB": 1,
                "PASSWORD": None,
            }
        },
    )
    client = cache.client.get_client(write=False)
    assert isinstance(client.connection_pool, MasterConnectionPool)
    assert client.connection_pool.service_name == "mymaster"
    assert client.connection_pool.connection_kwargs["db"] == 1


class MovingMaster:
    """A stand-in for ``Sentinel`` naming ``address`` as the master."""

    address = ("10.0.0.1", 6379)

    def discover_master(self, name):
        return self.address


def test_the_master_pool_records_a_new_master_and_closes_only_idle_connections():
    sentinel = MovingMaster()
    pool = MasterConnectionPool("mymaster", sentinel)
    assert pool.get_master_address() == ("10.0.0.1", 6379)
    idle, busy = pool.get_connection("GET"), pool.get_connection("GET")
    pool.release(idle)
    closed = []
    idle.disconnect = lambda: closed.append("idle")
    busy.disconnect = lambda: closed.append("busy")

    sentinel.address = ("10.0.0.2", 6379)
    assert pool.get_master_address() == ("10.0.0.2", 6379)
    assert pool.get_master_address() == ("10.0.0.2", 6379)
    assert closed == ["idle"]
    assert pool.master_address == ("10.0.0.2", 6379)
