"""Small helpers every controller uses: the caller, the client address, 404s."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from litestar import Request
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter

from api.auth import client_address, signed_in

API = "/api/v1"
#: Controllers' default: reads need a key with scope ``read``.
READ: dict[str, Any] = {"scope": "read"}
WRITE: dict[str, Any] = {"scope": "write"}
ADMIN: dict[str, Any] = {"scope": "admin"}
SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearer": []}]
#: Path parameters that are text: bounded like the columns they are looked up in (control
#: characters never get this far: :mod:`api.strict_input` refuses the whole target).
AddressParam = Annotated[str, PathParameter(min_length=1, max_length=320, description="A mail address")]
CampaignParam = Annotated[str, PathParameter(min_length=1, max_length=255, description="A campaign name, or its id")]


#: The caller of a guarded handler (the same as :func:`api.auth.signed_in`).
caller_of = signed_in


def actor_and_address(request: Request[Any, Any, Any]) -> tuple[str, str]:
    return caller_of(request).actor, client_address(request)


def not_found(what: str) -> NoReturn:
    raise NotFoundException(what)


_WHY = {
    400: "Invalid parameters or body",
    401: "Missing, unknown or revoked API key",
    403: "The key's scope is too small",
    404: "No such object",
    409: "The object is not in a state that allows this",
    503: "The database is unreachable",
}


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """Documented error answers (a ``{"status_code", "detail"}`` body), so clients and schemathesis know them."""
    from api.schemas import Problem

    return {code: ResponseSpec(data_container=Problem, description=_WHY[code]) for code in codes}


READ_ERRORS = errors(400, 401, 403)
ITEM_ERRORS = errors(400, 401, 403, 404)
