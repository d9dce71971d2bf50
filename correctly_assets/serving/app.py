"""The HTTP face of the correction model: a JSON API, a health check and a page for people.

    POST /v1/corrections         {"text": "..."} -> corrected text, Korean translation,
                                 correction points with their edits and explanations, the raw
                                 answer, model version
    POST /v1/corrections/stream  the same, as server-sent events: `piece` events with the text
                                 as it is written, then one `done` event with the whole
                                 correction (or one `error` event)
    GET  /healthz                the served model, once loaded, and whether its backend answers
    GET  /  (POST /)             an HTML form; works without JavaScript, streams with it
    GET  /docs                   the OpenAPI docs

The app is a gateway: the replies come from a backend (`backends.py`), the model in this
process or an inference engine. The model loads once, at startup, through the `load`
callable given to `create_app`; a model that cannot be found stops the startup with the
reason. A client that goes away stops its generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool

from ..domain.chat_format import Reply
from .backends import MAX_TEXT_CHARS, EngineBadAnswer, Overloaded, Piece
from .model_source import CorrectionService, ServingSettings, finished_reply, load_service
from .page import render_page

# A request body larger than this is refused unread (413): a text at the limit, in JSON with
# every character escaped, stays well below it.
MAX_BODY_BYTES = 64 * 1024


class CorrectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        description=f"The learner's English text; surrounding whitespace is ignored, "
                    f"at most {MAX_TEXT_CHARS:,} characters remain.",
        examples=["Yesterday I go to the market with my friend."],
        # Documented here, checked below, so that the errors can say what to do.
        json_schema_extra={"minLength": 1, "maxLength": MAX_TEXT_CHARS},
    )

    @field_validator("text")
    @classmethod
    def _present_and_bounded(cls, text: str) -> str:
        text = text.strip()
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise PydanticCustomError(
                "text_invalid_unicode",
                "text is not valid Unicode: a lone surrogate at character {position}",
                {"position": error.start}) from None
        if not text:
            raise PydanticCustomError(
                "text_empty", "text is empty or only whitespace; send the text to correct")
        if len(text) > MAX_TEXT_CHARS:
            raise PydanticCustomError(
                "text_too_long",
                "text is {length} characters long; the limit is {limit} characters",
                {"length": f"{len(text):,}", "limit": f"{MAX_TEXT_CHARS:,}"})
        return text


class EditOut(BaseModel):
    before: str
    after: str


class CorrectionPointOut(BaseModel):
    number: int
    label: str = Field(description='The point\'s label, e.g. "시제 일치"; empty when it has none.')
    edits: list[EditOut] = Field(description="The spans it changes; none for a general remark.")
    explanation: str


class ModelOut(BaseModel):
    name: str
    version: int
    alias: str
    run_id: str


class CorrectionResponse(BaseModel):
    corrected: str = Field(description="The text as a native speaker would write it (교정 후).")
    translation: str = Field(description="Its Korean translation (해석); empty when the model "
                                         "gave none.")
    points: list[CorrectionPointOut] = Field(description="The correction points (교정 지점).")
    answer: str = Field(description="The model's answer as written, sections and all.")
    cut_off: bool = Field(description="True when the answer reached the token limit before the "
                                      "model ended it: its last sections may be missing or cut.")
    model: ModelOut


class HealthResponse(BaseModel):
    status: str
    model: ModelOut
    backend: str = Field(description='"in-process" or "engine"')
    active: int = Field(description="Requests being answered now.")


def _model_out(service: CorrectionService) -> ModelOut:
    info = asdict(service.model)
    return ModelOut(**{key: info[key] for key in ModelOut.model_fields})


def _response(service: CorrectionService, reply: Reply) -> CorrectionResponse:
    return CorrectionResponse(
        corrected=reply.corrected, translation=reply.translation,
        points=[p.model_dump() for p in reply.points], answer=reply.raw,
        cut_off=reply.cut_off, model=_model_out(service))


class ClientGone(Exception):
    """The client closed its connection before its answer was ready."""


async def _until_disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _correct(service: CorrectionService, text: str, request: Request) -> CorrectionResponse:
    """The whole correction; ClientGone, with the generation stopped, when the client leaves."""
    answer = asyncio.ensure_future(service.correct(text))
    gone = asyncio.ensure_future(_until_disconnected(request))
    try:
        await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not answer.done():
            answer.cancel()  # closes the stream, which stops the generation
            with contextlib.suppress(asyncio.CancelledError):
                await answer
            raise ClientGone
    return _response(service, answer.result())


def _event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _streamed(service: CorrectionService, text: str) -> StreamingResponse:
    """Server-sent events of the reply. The first piece is awaited before the response
    starts, so a full server or an unreachable engine is still a plain 503."""
    stream = service.stream(text)
    try:
        first = await anext(stream)
    except BaseException:
        await stream.aclose()
        raise

    async def events() -> AsyncIterator[bytes]:
        pieces, item = [], first
        # Starlette cancels this generator when the client disconnects; closing the stream
        # then stops the generation.
        async with contextlib.aclosing(stream):
            try:
                while True:
                    if isinstance(item, Piece):
                        pieces.append(item.text)
                        yield _event("piece", {"text": item.text})
                    else:
                        reply = finished_reply(text, "".join(pieces), item.ended)
                        yield _event("done", _response(service, reply).model_dump())
                        return
                    item = await anext(stream)
            except (Overloaded, EngineBadAnswer) as error:
                yield _event("error", {"status": error.status, "detail": str(error)})

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class BodySizeLimit:
    """Refuses a request body over `max_bytes` with 413, by its Content-Length or, without
    one, as soon as the bytes received pass the limit; nothing larger is ever buffered."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._refuse(send)
        # Read the body here, at most max_bytes of it, then hand it on: a body without a
        # Content-Length is refused as soon as it passes the limit.
        chunks, received = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.max_bytes:
                return await self._refuse(send)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send) -> None:
        body = (f'{{"detail": "request body over {self.max_bytes:,} bytes; send at most '
                f'{MAX_TEXT_CHARS:,} characters of text"}}').encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def create_app(load: Callable[[], CorrectionService] | None = None) -> FastAPI:
    """The app; `load` returns the loaded model and is called once at startup. Default: the
    registry version named by the environment (see ServingSettings.from_env)."""
    load = load or (lambda: load_service(ServingSettings.from_env()))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = await run_in_threadpool(load)
        try:
            yield
        finally:
            await app.state.service.backend.close()

    app = FastAPI(title="Correctly", version="1",
                  description="Corrections of English texts by Correctly's fine-tuned model.",
                  lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # What was wrong and where, never the input itself: it may be megabytes long, or a
        # value (1e999999 is infinity) that JSON cannot carry back.
        detail = [{"loc": list(item.get("loc", ())), "msg": str(item.get("msg", "")),
                   "type": str(item.get("type", ""))} for item in error.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, error: Overloaded) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503,
                            headers={"Retry-After": str(error.retry_after_s)})

    @app.exception_handler(EngineBadAnswer)
    async def bad_answer(request: Request, error: EngineBadAnswer) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=502)

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, error: ClientGone) -> Response:
        return Response(status_code=499)  # nobody reads it; the access log shows it

    def loaded(request: Request) -> CorrectionService:
        return request.app.state.service

    @app.post("/v1/corrections", response_model=CorrectionResponse,
              summary="Correct an English text")
    async def corrections(body: CorrectionRequest, request: Request) -> CorrectionResponse:
        """The corrected text and the correction points, and which model version wrote them."""
        return await _correct(loaded(request), body.text, request)

    @app.post("/v1/corrections/stream", summary="Correct an English text, streamed",
              response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "`piece` events ({\"text\": ...}) as the answer is "
                                              "written, then `done` (a CorrectionResponse) or "
                                              "`error` ({\"status\": ..., \"detail\": ...})."}})
    async def corrections_stream(body: CorrectionRequest, request: Request) -> StreamingResponse:
        """The answer as it is written, as server-sent events."""
        return await _streamed(loaded(request), body.text)

    @app.get("/healthz", response_model=HealthResponse,
             summary="Liveness, the served model, and whether its backend answers")
    async def healthz(request: Request) -> HealthResponse:
        service = loaded(request)
        await service.backend.check()  # 503 (or 502) naming the engine when it does not answer
        return HealthResponse(status="ok", model=_model_out(service),
                              backend=service.backend.name, active=service.active)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(render_page(_model_out(loaded(request))))

    @app.post("/", response_class=HTMLResponse, include_in_schema=False)
    async def page_submit(request: Request) -> HTMLResponse:
        # A plain browser form posts application/x-www-form-urlencoded; parsed here so the
        # page needs neither JavaScript nor a multipart parser.
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"),
                        keep_blank_values=True)
        text = form.get("text", [""])[0]
        model = _model_out(loaded(request))
        try:
            checked = CorrectionRequest(text=text)
        except ValidationError as error:
            messages = [item["msg"] for item in error.errors()]
            return HTMLResponse(render_page(model, text, errors=messages), status_code=422)
        result = await _correct(loaded(request), checked.text, request)
        return HTMLResponse(render_page(model, text, result=result))

    return app
