"""Exceptions raised by the client: the service's error document as Python attributes."""


class ToposcopeError(Exception):
    """An error answered by the service: HTTP status, machine code, message and the field at fault."""

    def __init__(self, status, code, message, field=None):
        super().__init__(f"{message} (field: {field})" if field else message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class ValidationError(ToposcopeError):
    """400: a request field is missing or malformed."""


class AuthError(ToposcopeError):
    """401: the server wants an API key for writes, or the key is wrong."""


class NotFoundError(ToposcopeError):
    """404: unknown id or name."""


class ConflictError(ToposcopeError):
    """409: conflicts with the current state (e.g. results of a job that has not succeeded)."""


class TooLargeError(ToposcopeError):
    """413: upload too large or too many files."""


class UnprocessableError(ToposcopeError):
    """422: well-formed but cannot run (wrong modality, unknown layer, ...)."""


class JobFailed(ToposcopeError):
    """A contrast ended failed or cancelled; `message` is the job's error."""


class ManifestError(ValueError):
    """The manifest written by `export` breaks the service's manifest schema; `field` says where."""

    def __init__(self, message, field):
        super().__init__(f"{field}: {message}")
        self.field = field


BY_STATUS = {
    400: ValidationError,
    401: AuthError,
    404: NotFoundError,
    409: ConflictError,
    413: TooLargeError,
    422: UnprocessableError,
}
