class UserError(SystemExit):
    """A problem in the user's params or data.

    A stage that raises it exits with status 1 and prints one line saying what to fix (file, line, field),
    not a traceback.
    """

    def __init__(self, message: str):
        super().__init__(f"error: {message}")
        self.message = message

    def __str__(self) -> str:
        return self.message
