"""Exceptions of the framecast client.

Every error about the server, the connection or a frame is a framecast.Error,
whose .retryable says whether trying again later may succeed (a reconnecting
Publisher retries exactly those). Wrong arguments to a constructor are
ValueError or TypeError, as in the standard library.

    Error
    ├── ServerError        an ERROR the server sent (.code, .name, .fatal)
    ├── ConnectionLost     cannot connect, or the connection ended (ConnectionError)
    │   └── Timeout        the server did not answer in time (TimeoutError)
    ├── ProtocolError      the server's bytes break the protocol (ConnectionError)
    ├── FrameError         a frame that cannot be sent as it is (ValueError)
    │   └── FrameTypeError ... because of its type or dtype (TypeError)
    └── ServerStartError   VideoWriter or Server could not start the server
"""

from __future__ import annotations

from typing import List

# Codes of errors that may go away if the producer tries again later.
_RETRYABLE_CODES = frozenset(
    (
        5,  # path-in-use: its producer may leave (or be a dead connection the server has not noticed)
        10,  # shutting-down: the server may come back
        11,  # internal: the encoder failed; a new one may not
        12,  # too-many-producers
        13,  # server-busy
    )
)


class Error(Exception):
    """The base of framecast's exceptions.

    retryable -- True when trying the same again later may succeed: the
                 server was not there, went away, or was busy. False for a
                 refusal that would only repeat (a wrong token, a bad
                 format, the path taken over by another producer).
    """

    retryable: bool = False


class ServerError(Error):
    """An ERROR the framecast server sent.

    str(error) is the server's message, e.g. "frame is 1000 bytes, want
    921600 for bgr24 640x480". Attributes:

    code      -- the error code (int), e.g. 9
    name      -- its name in the spec, e.g. "frame-size"
    fatal     -- True when the server closed the connection after it; the
                 Publisher is then unusable (unless it reconnects). A
                 non-fatal error leaves the connection and the stream
                 running.
    retryable -- for path-in-use, shutting-down, internal,
                 too-many-producers and server-busy
    others    -- later errors the server sent before this one was raised
                 (a list of ServerError, often empty): write() raises the
                 first of a batch and carries the rest here.
    """

    def __init__(self, code: int, name: str, fatal: bool, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.fatal = fatal
        self.message = message
        self.retryable = code in _RETRYABLE_CODES
        self.others: List[ServerError] = []

    def __repr__(self) -> str:
        return "ServerError(code=%d, name=%r, fatal=%r, message=%r)" % (
            self.code,
            self.name,
            self.fatal,
            self.message,
        )


class ConnectionLost(Error, ConnectionError):
    """The client cannot connect to the server, or the connection ended."""

    retryable = True


class Timeout(ConnectionLost, TimeoutError):
    """The server did not answer, or take a frame, within the timeout."""


class ProtocolError(Error, ConnectionError):
    """The server sent bytes that do not follow the ingest protocol (is it a framecast?)."""


class FrameError(Error, ValueError):
    """A frame that cannot be sent as it is; the message says what to change."""


class FrameTypeError(FrameError, TypeError):
    """A frame of a type or dtype the client does not take (e.g. float)."""


class ServerStartError(Error):
    """The server binary could not be started, or stopped before it was ready.

    The message ends with the last lines the server logged, if any.
    """
