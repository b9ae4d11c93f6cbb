"""The project's repairs to the 2017 stack, apart from the chat itself.

Each module fixes one thing in channels 1.1.8, Daphne 1.4 or asgi_redis
1.4.3 that the chat would otherwise lose messages or time to; each is
selected by a setting or installed by ``asgi.py``, and docs/architecture.md
maps what may import what:

- ``layer``: ``ChatChannelLayer``, the Redis channel layer
  (``CHANNEL_LAYERS["default"]["BACKEND"]``; docs/channel-layer.md).
- ``channel_sessions``: the channel-session engine (``CHANNEL_SESSION_ENGINE``).
- ``daphne_websocket``: Daphne's WebSocket protocol with the unread-data
  bound, and autobahn's message-size cap (installed by ``asgi.py``).
- ``daphne_heartbeat``: a heartbeat in Redis for each live Daphne process,
  which also closes its sockets with 1012 when the layer lost their state.
- ``daphne_health``: ``GET /healthz``, answered by Daphne itself (installed
  by ``asgi.py``).
- ``daphne_http``: request bodies over their path's limit refused with 413
  before they are read (installed by ``asgi.py``).
- ``worker_heartbeat``: a heartbeat in Redis for each live worker process.
- ``ordering``: ``in_socket_order``, one socket's frames in the order sent,
  and ``after_earlier_frames``, its disconnect after them.
- ``postgresql``: Django 2.2's PostgreSQL backend fixed for psycopg2 2.9
  (``DATABASES["default"]["ENGINE"]``).

The chat's own modules use only what this package exports below; everything
else here is reached through settings.
"""

__all__ = [
    "after_earlier_frames",
    "heartbeat_key",
    "in_socket_order",
    "start_worker_heartbeat",
    "this_worker",
    "worker_alive",
]


def __getattr__(name):
    # Imported on first use, not with the package: settings name the
    # layer and the database backend by their paths inside this package,
    # and loading those must not pull in channels' session machinery.
    if name == "in_socket_order":
        from chat.transport.ordering import in_socket_order

        return in_socket_order
    if name == "after_earlier_frames":
        from chat.transport.ordering import after_earlier_frames

        return after_earlier_frames
    if name == "start_worker_heartbeat":
        from chat.transport.worker_heartbeat import ensure_started

        return ensure_started
    if name == "this_worker":
        from chat.transport.worker_heartbeat import worker_key

        return worker_key
    if name == "worker_alive":
        from chat.transport.worker_heartbeat import is_alive

        return is_alive
    if name == "heartbeat_key":
        from chat.transport.daphne_heartbeat import heartbeat_key

        return heartbeat_key
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
