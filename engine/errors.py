"""The one exception family for bad user input: the CLI turns it into one line and exit 2, the
API into a 422 that names the field."""

from __future__ import annotations


class HatcheryInputError(ValueError):
    """Input the user can fix: a path, a config value, a data set that cannot be used."""


class JobConfigError(HatcheryInputError):
    """A config that cannot be accepted, naming the field; ``problems`` lists (field,
    message), the first one is the message."""

    def __init__(self, field: str, message: str,
                 problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.problems = problems or [(field, message)]

    def under(self, prefix: str) -> JobConfigError:
        """The same error for a field of a section (``config.``, ``config.pretrain.``)."""
        return JobConfigError(f"{prefix}{self.field}", self.message)
