"""The project's ``channel_routing``: which consumer handles each channel."""

from channels.routing import include, route

from chat.consumers import ignore, ws_refuse

channel_routing = [
    include("chat.routing.channel_routing"),
    # A socket on any other path is refused at once rather than left pending
    # until Daphne's connect timeout.
    route("websocket.connect", ws_refuse),
    route("websocket.disconnect", ignore),
    # Daphne sends one for every HTTP request that ends; nothing needs it,
    # but a channel nobody reads fills to its capacity and Daphne then logs
    # "Channel http.disconnect is full" on every request.
    route("http.disconnect", ignore),
]
