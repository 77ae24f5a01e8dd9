"""Errors a user can act on: stages print their message and exit with status 1."""


class CatdogError(Exception):
    """Base of the errors whose message tells the user what to change."""
