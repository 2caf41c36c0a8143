"""GraphQL errors carrying the ``extensions.code`` of API.md §3."""

from __future__ import annotations

from graphql import GraphQLError

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
BAD_USER_INPUT = "BAD_USER_INPUT"
NOT_FOUND = "NOT_FOUND"
RATE_LIMITED = "RATE_LIMITED"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
SUBSCRIPTION_OVERFLOW = "SUBSCRIPTION_OVERFLOW"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"

#: ``Retry-After`` (seconds) of a 503 while the database is down or too slow
RETRY_AFTER_SECONDS = 5

#: codes whose messages are written for clients and are never masked
PUBLIC_CODES = frozenset(
    {
        UNAUTHENTICATED,
        FORBIDDEN,
        BAD_USER_INPUT,
        NOT_FOUND,
        RATE_LIMITED,
        PERSISTED_QUERY_NOT_FOUND,
        PERSISTED_QUERY_NOT_IN_LIST,
        SUBSCRIPTION_OVERFLOW,
        SERVICE_UNAVAILABLE,
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
    }
)


class ApiError(GraphQLError):
    """An error whose message is meant for the client, with its ``extensions.code``."""

    code = INTERNAL_SERVER_ERROR

    def __init__(self, message: str, **extensions: object) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class Unauthenticated(ApiError):
    """No valid access token where one is needed, or a failed login."""

    code = UNAUTHENTICATED


class Forbidden(ApiError):
    """Authenticated, but the rule denies."""

    code = FORBIDDEN


class BadUserInput(ApiError):
    """Validation failed; ``field`` names the offending input."""

    code = BAD_USER_INPUT

    def __init__(self, message: str, field: str, **extensions: object) -> None:
        super().__init__(message, field=field, **extensions)


class NotFound(ApiError):
    """A mutation's target does not exist."""

    code = NOT_FOUND


class RateLimited(ApiError):
    """Over a limit; ``retryAfter`` says when to try again, in whole seconds."""

    code = RATE_LIMITED

    def __init__(self, retry_after: int, message: str = "Too many requests") -> None:
        super().__init__(message, retryAfter=max(1, int(retry_after)))


class ServiceUnavailable(ApiError):
    """The database is down or did not answer within ``DATABASE_TIMEOUT``: try again later.

    The whole response becomes HTTP 503 with ``Retry-After`` and this single error.
    """

    code = SERVICE_UNAVAILABLE

    def __init__(self, message: str = "The service is temporarily unavailable") -> None:
        super().__init__(message, retryAfter=RETRY_AFTER_SECONDS)
