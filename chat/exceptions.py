class ClientError(Exception):
    """A frame the server refuses, reported to the sending socket only.

    ``code`` is a stable, upper-case identifier that clients may branch on
    (see docs/protocol.md); ``detail`` is a human-readable sentence. Neither
    ever carries exception text or anything else from the server's internals.
    """

    def __init__(self, code, detail):
        super().__init__(code)
        self.code = code
        self.detail = detail

    def as_dict(self):
        """The error frame's payload: ``{"error": str, "detail": str}``."""
        return {"error": self.code, "detail": self.detail}
