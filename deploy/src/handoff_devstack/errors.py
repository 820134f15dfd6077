"""The one exception type the devstack raises for environment problems."""


class DevstackError(RuntimeError):
    """A dev server could not be provided; the message says what to do."""
