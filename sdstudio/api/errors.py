"""Error answers in A1111's shape: {"error": type, "detail": message, "body": ..., "errors": ...}.

A1111's api_middleware answers every failure with `error` (the exception's type name), `detail` (its
message), `body` (what the client sent, for validation errors) and `errors` (str of the exception). sdstudio
sends the same four keys for every 4xx/5xx, `detail` always a one-line string naming the field and the fix,
plus `field` where one field is at fault. The shape is declared in the OpenAPI schema (ErrorResponse).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from sdstudio.core.errors import ErrorKind, JobError, ModelError
from sdstudio.core.request import ImageTooLarge, RequestError

STATUS = {
    ErrorKind.validation: 422,
    ErrorKind.model: 422,
    ErrorKind.out_of_memory: 503,
    ErrorKind.cancelled: 409,
    ErrorKind.internal: 500,
}


class ErrorResponse(BaseModel):
    """A1111's error body."""

    error: str
    detail: str
    body: Any = None
    errors: Any = None
    field: str | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (401, "credentials missing or wrong"),
        (403, "host or origin not allowed"),
        (409, "the job was cancelled"),
        (413, "body or image over this server's limits"),
        (415, "a POST that is not JSON (cross-site forms are refused)"),
        (422, "a field is invalid; `detail` names it and the fix"),
        (429, "too many failed logins; retry later"),
        (503, "out of memory; retry smaller"),
        (504, "the job did not finish in time"),
    )
}


class ApiError(HTTPException):
    """An HTTP error with A1111's body; `field` names the request field at fault."""

    def __init__(
        self, status: int, error: str, detail: str, field: str | None = None, headers: dict | None = None
    ):
        super().__init__(status, detail, headers)
        self.error, self.field = error, field


def body(error: str, detail: str, status: int, field: str | None = None, sent: Any = None) -> JSONResponse:
    content = {"error": error, "detail": detail, "body": sent, "errors": detail, "field": field}
    return JSONResponse(_safe(content), status)


def job_error(error: JobError) -> ApiError:
    """The HTTP answer for a job that failed: 422 for bad input or models, 503 for out of memory."""
    names = {ErrorKind.out_of_memory: "OutOfMemory", ErrorKind.model: "ModelError"}
    return ApiError(STATUS[error.kind], names.get(error.kind, "JobFailed"), error.message, error.field)


def _safe(value: Any) -> Any:
    """JSON-safe: lone surrogates and bytes a client sent become replacement characters."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(_safe(k)): _safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return _safe(str(value))


def _validation_detail(exc: RequestValidationError) -> tuple[str, str | None]:
    """One line from pydantic's list: the first field and what it needs."""
    errors = exc.errors()
    if not errors:
        return "invalid request", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    field = ".".join(loc) or None
    message = str(first.get("msg", "invalid value"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return (f"{field}: {message}{more}" if field else f"{message}{more}"), field


def install(app: FastAPI) -> None:
    """Every error the app raises answers in A1111's shape."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, field = _validation_detail(exc)
        return body("RequestValidationError", detail, 422, field, exc.errors())

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        response = body(exc.error, str(exc.detail), exc.status_code, exc.field)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = body("HTTPException", str(exc.detail), exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(ImageTooLarge)
    async def _too_large(request: Request, exc: ImageTooLarge) -> JSONResponse:
        return body("PayloadTooLarge", str(exc), 413, exc.field)

    @app.exception_handler(RequestError)
    async def _bad_request(request: Request, exc: RequestError) -> JSONResponse:
        return body("RequestError", str(exc), 422, exc.field)

    @app.exception_handler(ModelError)
    async def _model(request: Request, exc: ModelError) -> JSONResponse:
        return body("ModelError", str(exc), 422, "sd_model_checkpoint")
