"""The review queue as JSON: list (least confident first), read, resolve, relabel."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.exceptions import ClientException, ValidationException
from litestar.params import JSONBody, PathParameter, QueryParameter

from api import recipient_review, review_ops
from api.context import Ctx
from api.controllers.common import (
    API,
    ITEM_ERRORS,
    READ,
    READ_ERRORS,
    SECURITY,
    WRITE,
    actor_and_address,
    errors,
    not_found,
)
from api.schemas import (
    ConfirmPruneIn,
    ConfirmPruneOut,
    RecipientRelabelIn,
    RecipientRelabelOut,
    RelabelIn,
    RelabelOut,
    ResolveIn,
    ReviewDetail,
    ReviewOut,
    ReviewPage,
)

ItemId = Annotated[int, PathParameter(ge=1, le=2**62)]
#: ``<confidence>:<id>``, as ``next_after`` gives it.
CURSOR = r"^[0-9]{1,20}(\.[0-9]{1,20})?(e-[0-9]{1,3})?:[0-9]{1,18}$"


class ReviewController(Controller):
    path = f"{API}/review"
    tags = ["review"]
    opt = READ
    security = SECURITY

    @get("/", sync_to_thread=True, summary="The review queue, least confident first; page with after=next_after",
         responses=READ_ERRORS)
    def list_items(
        self, ctx: Ctx,
        queue_state: Annotated[Literal["open", "resolved", "all"], QueryParameter(name="state")] = "open",
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=10_000_000)] = 0,
        after: Annotated[str | None, QueryParameter(
            pattern=CURSOR, max_length=64, description="Cursor from next_after: the page after that item")] = None,
    ) -> ReviewPage:
        with ctx.store.reader() as session:
            items, total, following = review_ops.list_items(session, queue_state, limit, offset, after)
        return ReviewPage(items=items, total=total, next_after=following)

    @get("/{item_id:int}", sync_to_thread=True, summary="One review item: verdict, reply text, recipients", responses=ITEM_ERRORS)
    def show(self, ctx: Ctx, item_id: ItemId) -> ReviewDetail:
        with ctx.store.reader() as session:
            try:
                return review_ops.detail(session, item_id)[0]
            except review_ops.NoSuchItem as exc:
                not_found(str(exc))

    @post("/{item_id:int}/resolve", sync_to_thread=True, opt=WRITE, status_code=200, summary="Mark handled", responses=ITEM_ERRORS)
    def resolve(self, ctx: Ctx, request: Request[Any, Any, Any], item_id: ItemId, data: JSONBody[ResolveIn]) -> ReviewOut:
        actor, addr = actor_and_address(request)
        try:
            return review_ops.resolve(ctx, item_id, actor, addr, data.note)
        except review_ops.NoSuchItem as exc:
            not_found(str(exc))

    @post("/{item_id:int}/relabel", sync_to_thread=True, opt=WRITE, status_code=200,
          summary="Correct the category; the message joins training_data/<category>/", responses=ITEM_ERRORS)
    def relabel(self, ctx: Ctx, request: Request[Any, Any, Any], item_id: ItemId, data: JSONBody[RelabelIn]) -> RelabelOut:
        actor, addr = actor_and_address(request)
        try:
            return review_ops.relabel(ctx, item_id, data.category, actor, addr, data.note, data.resolve)
        except review_ops.NoSuchItem as exc:
            not_found(str(exc))
        except ValueError as exc:
            raise ValidationException(str(exc)) from None

    @post("/{item_id:int}/recipients/relabel", sync_to_thread=True, opt=WRITE, status_code=200,
          summary="Correct one recipient's category and reason; settles its pending prune", responses=ITEM_ERRORS)
    def relabel_recipient(self, ctx: Ctx, request: Request[Any, Any, Any], item_id: ItemId,
                          data: JSONBody[RecipientRelabelIn]) -> RecipientRelabelOut:
        actor, addr = actor_and_address(request)
        try:
            return recipient_review.relabel_recipient(ctx, item_id, data.address, data.category, data.reason, actor,
                                                      addr, data.note, data.resolve)
        except review_ops.NoSuchItem as exc:
            not_found(str(exc))
        except ValueError as exc:
            raise ValidationException(str(exc)) from None

    @post("/{item_id:int}/confirm-prune", sync_to_thread=True, opt=WRITE, status_code=200,
          summary="Prune the addresses this message holds for a person (one, or all)", responses=errors(400, 401, 403, 404, 409))
    def confirm_prune(self, ctx: Ctx, request: Request[Any, Any, Any], item_id: ItemId,
                      data: JSONBody[ConfirmPruneIn]) -> ConfirmPruneOut:
        actor, addr = actor_and_address(request)
        try:
            return recipient_review.confirm_prunes(ctx, item_id, actor, addr, data.address, data.note)
        except review_ops.NoSuchItem as exc:
            not_found(str(exc))
        except recipient_review.NoPendingPrune as exc:
            raise ClientException(str(exc), status_code=409) from None
