"""The agent's own exceptions.

Modules raise these; only the CLI turns them into messages and exit codes.
Messages are written for the operator: they name the site, the key path or the
URL (never credentials) and say what to do.
"""


class AgentError(Exception):
    """Base of every error the agent reports to the operator."""


class ConfigError(AgentError):
    """The configuration is invalid; `problems` holds one line per problem."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"invalid config {path}:\n{lines}")


class LockHeld(AgentError):
    """Another pass holds the sync lock."""


class StateError(AgentError):
    """The state dir cannot be created, read or written."""


class SiteError(AgentError):
    """Something went wrong for one site; other sites go on."""


class Interrupted(SiteError):
    """The daemon is stopping; this site's work was abandoned."""


class DeadlineExceeded(SiteError):
    """A site's whole read took longer than its `wordpress.deadline`."""


# --- HTTP, shared by WordPress and backend ---------------------------------


class HttpError(SiteError):
    """A request failed in a way the caller has to interpret."""


class TransientError(HttpError):
    """Worth retrying: connection refused/reset, timeout, 408/425/429/5xx."""

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status  # the HTTP status that made it transient, if any


class TlsError(HttpError):
    """TLS failed; never retried. `kind` says why, for advice that fits (see http.py)."""

    def __init__(self, message: str, kind: str = "other"):
        super().__init__(message)
        self.kind = kind


class Redirected(HttpError):
    """An answer redirected where the agent does not follow (a POST, the backend, a loop)."""

    def __init__(self, message: str, status: int, location: str):
        super().__init__(message)
        self.status = status
        self.location = location


class ResponseTooLarge(HttpError):
    """An answer exceeded the size cap and was not read."""


# --- WordPress --------------------------------------------------------------


class WordPressError(SiteError):
    """WordPress could not be read."""


class WordPressUnreachable(WordPressError):
    """Connection failures or timeouts, after the retries."""


class WordPressTooSlow(WordPressError):
    """The site's whole read took longer than its `wordpress.deadline`."""


class WordPressTlsError(WordPressError):
    """The site's certificate could not be verified."""


class RestApiNotFound(WordPressError):
    """No candidate URL answered as the WordPress REST API."""


class RestAccessDenied(WordPressError):
    """The REST API refused us (401/403); `code` is WordPress's error code."""

    def __init__(self, message: str, status: int, code: str | None):
        super().__init__(message)
        self.status = status
        self.code = code


class CredentialsRejected(WordPressError):
    """WordPress said the username or application password is wrong."""


class CredentialsIgnored(WordPressError):
    """Credentials were sent but WordPress treated the request as anonymous."""


class XmlrpcUnavailable(WordPressError):
    """XML-RPC is disabled, blocked, missing, or answered something else."""


class XmlrpcMethodMissing(WordPressError):
    """XML-RPC answers but lacks a method we need."""


class MalformedAnswer(WordPressError):
    """WordPress (or something in front of it) answered something that makes no sense."""


# --- Backend ----------------------------------------------------------------


class BackendError(SiteError):
    """The IGNY8 backend did not accept what we sent."""


class BackendUnreachable(BackendError):
    """Connection, timeout, TLS or transient status, after the retries."""


class BackendAuthError(BackendError):
    """401/403: bad or revoked API key, or inactive site."""


class PayloadRejected(BackendError):
    """400/422: the backend refused the payload."""


class IntegrationNotFound(BackendError):
    """The site has no WordPress integration in IGNY8."""


class IntegrationGone(BackendError):
    """The POST answered 404: the integration id is stale."""


class BackendProtocolError(BackendError):
    """The backend answered something we cannot understand."""
