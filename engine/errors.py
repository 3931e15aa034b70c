"""The one exception family for bad user input: the CLI turns it into one line and exit 2."""


class HatcheryInputError(ValueError):
    """Input the user can fix: a path, a config value, a data set that cannot be used."""
