"""The chat's WebSocket routes, one per channel, filtered by path."""

from channels.routing import route

from chat.consumers import ws_connect, ws_disconnect, ws_receive

# Any single path segment routes here, so that ws_connect can refuse a bad
# label at once instead of leaving the handshake to time out.
CHAT_PATH = r"^/chat/(?P<label>[^/]+)/$"

channel_routing = [
    route("websocket.connect", ws_connect, path=CHAT_PATH),
    route("websocket.receive", ws_receive, path=CHAT_PATH),
    route("websocket.disconnect", ws_disconnect, path=CHAT_PATH),
]
