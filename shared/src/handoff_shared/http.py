"""What every service's HTTP API answers the same way."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response


def answer_invalid_requests_without_echo(app: FastAPI) -> None:
    """422 with where and why for each problem, never the rejected input itself.

    FastAPI's own answer echoes each bad input: that would send a secret back, and fail to
    encode a string holding an unpaired surrogate.
    """

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> Response:
        return JSONResponse(
            {
                "detail": [
                    {
                        "loc": [
                            part if isinstance(part, int) else _encodable(str(part))
                            for part in problem["loc"]
                        ],
                        "msg": _encodable(str(problem["msg"])),
                        "type": problem["type"],
                    }
                    for problem in error.errors()
                ]
            },
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )


def _encodable(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")
