"""One error type for bad input: the CLI prints its message on one line and exits with code 2."""


class UsageError(Exception):
    """Bad input from the user (recipe, option, data folder, ...).

    The message must name the problem and the fix in one line; nothing may have been half-written
    when it is raised.
    """

    exit_code = 2
