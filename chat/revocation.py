"""Ending access that has been taken away: closes the sockets with 4003;
filled in by the revocation mechanism.

Callers call these after the change has been committed
(``transaction.on_commit``), so that a socket's re-check sees it.
"""


def member_removed(room, user):
    """``user`` (a Django user) is no longer a member of ``room`` (a
    ``Room``): closes the sockets with 4003; filled in by the revocation
    mechanism. Returns None and raises nothing."""


def room_made_private(room):
    """``room`` (a ``Room``) has just been made private: closes the sockets
    with 4003; filled in by the revocation mechanism. Returns None and
    raises nothing."""
