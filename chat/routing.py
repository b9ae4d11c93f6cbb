"""The chat's ``channel_routing``: the consumer of each channel it handles.

The WebSocket routes are filtered by path. A background job on a channel of
the chat's own (``chat.<job>``) gets its route here too, one line each, and
its capacity in ``CHANNEL_CAPACITY`` in chat/settings.py, beside the
routing; ``runworker --only-channels`` / ``--exclude-channels`` can then give
it workers of its own.
"""

from channels.routing import route

from chat import scheduling, webhooks
from chat.consumers import ws_connect, ws_disconnect, ws_receive
from chat.images import thumbnails
from chat.stream import StreamDemultiplexer

# Any single path segment routes here, so that ws_connect can refuse a bad
# label at once instead of leaving the handshake to time out.
CHAT_PATH = r"^/chat/(?P<label>[^/]+)/$"
# The multiplexed socket of live counts (chat/stream.py).
STREAM_PATH = r"^/stream/$"

channel_routing = [
    route("websocket.connect", ws_connect, path=CHAT_PATH),
    route("websocket.receive", ws_receive, path=CHAT_PATH),
    route("websocket.disconnect", ws_disconnect, path=CHAT_PATH),
    StreamDemultiplexer.as_route(path=STREAM_PATH),
    # An image's thumbnail (chat/images/thumbnails.py); the Procfile's thumbs process type
    # runs only this channel.
    route(thumbnails.THUMBNAIL_CHANNEL, thumbnails.thumbnail),
    # A message's delivery to its room's webhook (chat/webhooks.py).
    route(webhooks.DELIVERY_CHANNEL, webhooks.deliver),
    # A message sent later, back from the delay server (chat/scheduling.py).
    route(scheduling.SCHEDULED_CHANNEL, scheduling.post_scheduled),
]
