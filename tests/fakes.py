"""Stand-ins the unit tests share."""


class FakeLayer:
    """The channel layer, keeping what Daphne sends it."""

    class ChannelFull(Exception):
        pass

    def __init__(self):
        self.sent = []

    def send(self, channel, message):
        self.sent.append((channel, message))
