"""Exceptions of the framecast client."""


class ServerError(Exception):
    """An ERROR the framecast server sent.

    str(error) is the server's message, e.g. "frame is 1000 bytes, want
    921600 for bgr24 640x480". Attributes:

    code   -- the error code (int), e.g. 9
    name   -- its name in the spec, e.g. "frame-size"
    fatal  -- True when the server closed the connection after it; the
              Publisher is then unusable. A non-fatal error leaves the
              connection and the stream running.
    others -- later errors the server sent before this one was raised
              (a list of ServerError, often empty): write() raises the
              first of a batch and carries the rest here.
    """

    def __init__(self, code, name, fatal, message):
        super().__init__(message)
        self.code = code
        self.name = name
        self.fatal = fatal
        self.message = message
        self.others = []

    def __repr__(self):
        return "ServerError(code=%d, name=%r, fatal=%r, message=%r)" % (
            self.code,
            self.name,
            self.fatal,
            self.message,
        )


class ProtocolError(ConnectionError):
    """The server sent bytes that do not follow the ingest protocol."""
