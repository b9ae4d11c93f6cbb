"""Settings for the benchmark's side-by-side runs on stock asgi_redis.

The chat's own settings with one change: the channel layer is plain
``asgi_redis.RedisChannelLayer`` with its defaults, so a run measures what
the project's layer (``chat.transport.layer``) changes and nothing else.
``manage.py chatbench --layer stock`` boots the split with
``DJANGO_SETTINGS_MODULE=bench.stock_settings``; nothing else should use it.
As in channels' own test project, each layer under test has a settings
module of its own.
"""

from django.core.exceptions import ImproperlyConfigured

from chat.settings import *  # noqa: F403
from chat.settings import CHANNEL_LAYER_PREFIX, CHANNEL_ROUTING, REDIS_URLS

if not REDIS_URLS:
    raise ImproperlyConfigured("The stock layer needs REDIS_URL: it is a Redis layer.")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "asgi_redis.RedisChannelLayer",
        "ROUTING": CHANNEL_ROUTING,
        "CONFIG": {"hosts": REDIS_URLS, "prefix": CHANNEL_LAYER_PREFIX},
    },
}
