"""The one exception type users see: a message that says what to do, exit code 2."""


class UserError(Exception):
    """A problem the user can fix (bad path, bad config, no index, wrong model).

    The CLI prints ``str(err)`` as one line on stderr and exits 2; no traceback.
    """
