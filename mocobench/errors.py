"""One error type for bad input: the CLI prints its message on one line and exits with code 2."""


class UsageError(Exception):
    """Bad input from the user (recipe, option, data folder, ...).

    The message must name the problem and the fix in one line; nothing may have been half-written
    when it is raised.
    """

    exit_code = 2

    def __init__(self, message: str = "") -> None:
        # A DataLoader worker's error comes back as `type(e)("Caught UsageError in DataLoader worker process
        # N.\nOriginal Traceback ...\n<module>.UsageError: <message>")` (torch/_utils.py,
        # ExceptionWrapper.reraise): keep the one line the worker raised.
        name = type(self).__name__
        if message.startswith(f"Caught {name} in ") and "\nOriginal Traceback" in message:
            message = message.rstrip().rpartition(f"{name}: ")[2]
        super().__init__(message)
