"""The ASGI entry point that Daphne serves: ``daphne asgi:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat.settings")

channel_layer = get_channel_layer()

# Cut off WebSocket clients that stop reading (chat/transport/daphne_websocket.py).
from chat.transport import daphne_websocket  # noqa: E402

daphne_websocket.install()

# Answer /healthz in Daphne, even with no worker running (chat/transport/daphne_health.py).
from chat.transport import daphne_health  # noqa: E402

daphne_health.install()

# Refuse request bodies over their path's limit before reading them
# (chat/transport/daphne_http.py); after daphne_health, whose request it extends.
from chat.transport import daphne_http  # noqa: E402

daphne_http.install()

# Behind a router, the client's address is the X-Forwarded-For entry the
# router appended, not the leftmost (chat/transport/daphne_proxy.py).
from chat.transport import daphne_proxy  # noqa: E402

daphne_proxy.install()
