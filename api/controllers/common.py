"""Small helpers every controller uses: the caller, the client address, 404s."""

from __future__ import annotations

from typing import Any, NoReturn

from litestar import Request
from litestar.exceptions import NotFoundException

from api.auth import client_address
from api.keys import Caller

API = "/api/v1"
#: Controllers' default: reads need a key with scope ``read``.
READ: dict[str, Any] = {"scope": "read"}
WRITE: dict[str, Any] = {"scope": "write"}
ADMIN: dict[str, Any] = {"scope": "admin"}
SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearer": []}]


def caller_of(request: Request[Any, Any, Any]) -> Caller:
    caller = getattr(request.state, "caller", None)
    assert caller is not None, "a guarded handler runs only after require_scope set the caller"
    return caller


def actor_and_address(request: Request[Any, Any, Any]) -> tuple[str, str]:
    return caller_of(request).actor, client_address(request)


def not_found(what: str) -> NoReturn:
    raise NotFoundException(what)
