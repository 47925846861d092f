"""Errors that the CLI turns into one-line messages and distinct exit codes."""


class FacecanvasError(Exception):
    """Base class: an expected failure with a message meant for the user."""

    exit_code = 1


class InputError(FacecanvasError):
    """The input file is unreadable, empty, truncated, too large or not an image."""

    exit_code = 2


class NoFaceError(FacecanvasError):
    """The input is a valid image but no face was found in it."""

    exit_code = 3


class OutputError(FacecanvasError):
    """The output cannot be written (exists without --overwrite, would replace an input, ...)."""

    exit_code = 4
