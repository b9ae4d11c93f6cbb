"""The project's repairs to the 2017 stack, apart from the chat itself.

Each module fixes one thing in channels 1.1.8, Daphne 1.4 or asgi_redis
1.4.3 that the chat would otherwise lose messages or time to; each is
selected by a setting or installed by ``asgi.py``, and docs/architecture.md
maps what may import what:

- ``layer``: ``ChatChannelLayer``, the Redis channel layer
  (``CHANNEL_LAYERS["default"]["BACKEND"]``; docs/channel-layer.md).
- ``channel_sessions``: the channel-session engine (``CHANNEL_SESSION_ENGINE``),
  JSON only, and ``session_unreadable`` for a session it could not read.
- ``daphne_websocket``: Daphne's WebSocket protocol with the unread-data
  bound, and autobahn's message-size cap (installed by ``asgi.py``).
- ``daphne_heartbeat``: a heartbeat in Redis for each live Daphne process,
  which also closes its sockets with 1012 when the layer lost their state;
  ``close_every_socket`` makes every Daphne do so, for a deploy.
- ``daphne_health``: ``GET /healthz``, answered by Daphne itself (installed
  by ``asgi.py``).
- ``daphne_proxy``: the client's address behind a router, from the
  ``X-Forwarded-For`` entry the router appended (installed by ``asgi.py``).
- ``daphne_http``: request bodies over their path's limit refused with 413
  before they are read (installed by ``asgi.py``).
- ``worker_heartbeat``: a heartbeat in Redis for each live worker process.
- ``ordering``: ``in_socket_order``, one socket's frames in the order sent,
  and ``after_earlier_frames``, its disconnect after them.
- ``riders``: ``send_group_riding``, a broadcast that carries the frame's
  channel session and other small writes (``Rider``) in its own round trip,
  and keeps numbered broadcasts in order (``broadcasts_in_order``).
- ``postgresql``: Django 2.2's PostgreSQL backend fixed for psycopg2 2.9
  (``DATABASES["default"]["ENGINE"]``).
- ``django_fixes``: security fixes published for Django after 2.2.28,
  redone for 2.2 (docs/security.md): the ``ModelBackend`` of
  ``AUTHENTICATION_BACKENDS``, the upload handler first in
  ``FILE_UPLOAD_HANDLERS``, and ``install_django_fixes``, which
  ``ChatConfig.ready`` calls.

The chat's own modules use only what this package exports below; everything
else here is reached through settings.
"""

__all__ = [
    "Rider",
    "after_earlier_frames",
    "broadcasts_in_order",
    "close_every_socket",
    "heartbeat_key",
    "in_socket_order",
    "install_django_fixes",
    "send_group_riding",
    "session_unreadable",
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
    if name in ("Rider", "broadcasts_in_order", "send_group_riding"):
        from chat.transport import riders

        return getattr(riders, name)
    if name == "install_django_fixes":
        from chat.transport.django_fixes import install

        return install
    if name == "close_every_socket":
        from chat.transport.daphne_heartbeat import forget_every_epoch

        return forget_every_epoch
    if name == "session_unreadable":
        from chat.transport.channel_sessions import is_unreadable

        return is_unreadable
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
