"""The project's ``channel_routing``: which consumer handles each channel."""

from channels.routing import include, route

from chat.consumers import ws_ignore, ws_refuse

channel_routing = [
    include("chat.routing.channel_routing"),
    # A socket on any other path is refused at once rather than left pending
    # until Daphne's connect timeout.
    route("websocket.connect", ws_refuse),
    route("websocket.disconnect", ws_ignore),
]
