"""The scoring server: FastAPI app factory.

    create_app(Settings(model="rules", port=8000))

Routes: POST /v1/score, POST /v1/score/batch, GET /v1/labels, GET /healthz, /readyz, /metrics,
/docs; the Label Studio ML-backend protocol (/health, /setup, /predict, /webhook); and the
highlight page at GET /.

Robustness: bodies that are not JSON/UTF-8 → 400; schema violations → 422 with a readable
message; documents over ``max_chars`` or batches over ``max_batch`` → 413; queue full → 503 +
Retry-After; per-request timeout → 504; anything unexpected → a logged JSON 500 (never a
traceback to the client). The detector runs in a bounded threadpool (serve/limits.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from huashu.detector import Detector
from huashu.serve import ls_backend
from huashu.serve.limits import Limiter, Overloaded, TimedOut
from huashu.serve.metrics import Metrics, MetricsMiddleware
from huashu.serve.schemas import (
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    LabelsResponse,
    PredictRequest,
    ScoreRequest,
    ScoreResponse,
)
from huashu.serve.settings import Settings
from huashu.spans import Document
from huashu.taxonomy import load_taxonomy

log = logging.getLogger("huashu.serve")
STATIC_DIR = Path(__file__).resolve().parent / "static"


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Body is not valid JSON / UTF-8"},
    413: {"model": ErrorResponse, "description": "Document over max_chars, or batch over max_batch"},
    422: {"model": ErrorResponse, "description": "Invalid request (empty text, wrong types, unknown "
                                                 "labels, threshold outside [0, 1])"},
    503: {"model": ErrorResponse, "description": "Busy (queue full) or detector not loaded: retry after "
                                                 "the Retry-After header"},
    504: {"model": ErrorResponse, "description": "Scoring took longer than the per-request timeout"},
}


# --------------------------------------------------------------------------------------------- state


class ServerState:
    """What the routes share: settings, the detector (loaded at startup), limits and metrics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.detector: Detector | None = None
        self.load_error: str | None = None
        self.limiter: Limiter | None = None
        self.taxonomy = load_taxonomy()

    @property
    def model_info(self) -> dict[str, str]:
        d = self.detector
        return {"id": getattr(d, "name", "?"), "version": str(getattr(d, "version", "?"))}

    def require_detector(self) -> tuple[Detector, Limiter]:
        if self.detector is None or self.limiter is None:
            if self.load_error:
                raise ApiError(503, "detector_unavailable", f"detector failed to load: {self.load_error}")
            raise ApiError(503, "loading", "detector still loading; retry shortly",
                           {"Retry-After": str(max(1, self.settings.retry_after))})
        return self.detector, self.limiter

    def check_size(self, text: str, what: str = "text") -> None:
        if len(text) > self.settings.max_chars:
            raise ApiError(413, "too_large", f"{what} has {len(text):,} characters; this server scores at "
                                             f"most {self.settings.max_chars:,} per document")

    async def run(self, fn: Any, *args: Any) -> Any:
        _, limiter = self.require_detector()
        self.metrics.inflight.inc()
        try:
            return await limiter.run(fn, *args)
        except Overloaded:
            self.metrics.rejected.labels("overloaded").inc()
            raise ApiError(503, "overloaded", "server busy: too many requests waiting; retry later",
                           {"Retry-After": str(self.settings.retry_after)}) from None
        except TimedOut as e:
            self.metrics.rejected.labels("timeout").inc()
            raise ApiError(504, "timeout", str(e)) from None
        finally:
            self.metrics.inflight.dec()


# --------------------------------------------------------------------------------------------- scoring


def ingest_one(text: str, title: str | None, fmt: str, doc_id: str) -> Document:
    """The submitted text (plain or HTML) as a Document whose offsets map back to it."""
    from huashu.ingest import ingest_text

    try:
        return ingest_text(text, doc_id, fmt=fmt, title=title)
    except ValueError as e:  # e.g. nothing left once page chrome / markup is removed
        raise NoText(f"{doc_id}: {e}") from None


def score_one(detector: Detector, text: str, title: str | None, fmt: str, doc_id: str,
              labels: list[str] | None, threshold: float | None) -> dict[str, Any]:
    """Ingest and score one submitted text; spans are code points into exactly that text."""
    from huashu.scoring import score_document

    doc = ingest_one(text, title, fmt, doc_id)
    return score_document(detector, doc, labels=labels, threshold=threshold, raw_offsets=True, raw_text=text)


def score_many(detector: Detector, items: list[tuple[str, str | None, str, str]],
               labels: list[str] | None, threshold: float | None) -> list[dict[str, Any]]:
    """Batch version: one detect_batch call for (text, title, format, id) items."""
    from huashu.scoring import score_documents

    docs = [ingest_one(text, title, fmt, doc_id) for text, title, fmt, doc_id in items]
    return score_documents(detector, docs, labels=labels, threshold=threshold, raw_offsets=True,
                           raw_texts=[text for text, *_ in items])


class NoText(ValueError):
    """The submitted text has no article text once cleaned (→ 422)."""


def default_id(text: str) -> str:
    from huashu.scoring import default_doc_id

    return default_doc_id(text)


# --------------------------------------------------------------------------------------------- middleware


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413 before anything parses them
    (by Content-Length, or by counting a chunked body)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_bytes
            except ValueError:
                await _send_json(send, 400, {"error": "bad_request", "message": "bad Content-Length"})
                return
            if too_big:
                await self._reject(send, int(length))
                return
            await self.app(scope, receive, send)
            return
        # no Content-Length (chunked): read it all, counting, then replay it
        chunks: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_bytes:
                await self._reject(send, total)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks),
                                        "more_body": False}], receive), send)

    async def _reject(self, send: Send, size: int) -> None:
        await _send_json(send, 413, {"error": "too_large", "message": f"request body over "
                                     f"{self.max_bytes:,} bytes ({size:,}+)"})


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------------------------- errors


def _error(status: int, error: str, message: str, detail: Any = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    payload: dict[str, Any] = {"error": error, "message": message}
    if detail is not None:
        payload["detail"] = detail
    return JSONResponse(payload, status_code=status, headers=headers)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def _jsonable_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        out.append({"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                    "type": e.get("type")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.error, exc.message, headers=exc.headers)

    from huashu.scoring import ScoringError

    @app.exception_handler(ScoringError)
    async def _scoring(request: Request, exc: ScoringError) -> JSONResponse:
        return _error(422, "invalid_request", str(exc))

    @app.exception_handler(NoText)
    async def _no_text(request: Request, exc: NoText) -> JSONResponse:
        return _error(422, "no_text", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            ctx = next((e.get("ctx") or {} for e in errors if e.get("type") == "json_invalid"), {})
            reason = ctx.get("error", "parse error")
            return _error(400, "bad_json", f"request body is not valid JSON: {reason}")
        messages = []
        content_type = request.headers.get("content-type", "")
        for e in errors:
            if tuple(e.get("loc", ())) == ("body",) and "json" not in content_type:
                messages.append("body: send a JSON object with Content-Type: application/json")
                continue
            msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
            if e.get("type") == "missing":
                msg = "is required"
            messages.append(f"{_loc(e.get('loc', ()))}: {msg}")
        return _error(422, "invalid_request", "; ".join(messages), _jsonable_errors(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        names = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        message = str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in message:
            message = "request body could not be decoded: send UTF-8 JSON"
        return _error(exc.status_code, names.get(exc.status_code, "http_error"), message,
                      headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", f"internal error ({type(exc).__name__}); it has been logged")


# --------------------------------------------------------------------------------------------- app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    state = ServerState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.limiter = Limiter(settings.max_concurrency, settings.queue, settings.timeout)
        task = asyncio.create_task(_load_detector(state))
        try:
            yield
        finally:
            task.cancel()
            # uvicorn has already waited for in-flight requests; let running jobs end
            await asyncio.to_thread(state.limiter.shutdown)

    app = FastAPI(
        title="huashu 话术 scoring API",
        version="1",
        description="Finds rhetorical and propaganda devices in Chinese articles. Offsets are Python "
                    "code points into the submitted text.",
        lifespan=lifespan,
    )
    app.state.huashu = state
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)

    # --------------------------------------------------------------- scoring API

    @app.post("/v1/score", response_model=ScoreResponse, responses=ERROR_RESPONSES, tags=["score"],
              summary="Score one article")
    async def score(req: ScoreRequest) -> Any:
        state.check_size(req.text)
        detector, _ = state.require_detector()
        doc_id = req.id or default_id(req.text)
        result = await state.run(score_one, detector, req.text, req.title, req.format, doc_id,
                                 req.labels, req.threshold)
        state.metrics.record_result("score", len(req.text), result)
        return result

    @app.post("/v1/score/batch", response_model=BatchResponse, responses=ERROR_RESPONSES, tags=["score"],
              summary="Score several articles in one request")
    async def score_batch(req: BatchRequest) -> Any:
        if len(req.documents) > settings.max_batch:
            raise ApiError(413, "too_large", f"{len(req.documents)} documents; this server scores at most "
                                             f"{settings.max_batch} per batch request")
        for i, d in enumerate(req.documents):
            state.check_size(d.text, f"documents[{i}].text")
        detector, _ = state.require_detector()
        start = time.perf_counter()

        items = [(d.text, d.title, d.format, d.id or default_id(d.text)) for d in req.documents]
        results = await state.run(score_many, detector, items, req.labels, req.threshold)
        for d, r in zip(req.documents, results, strict=True):
            state.metrics.record_result("batch", len(d.text), r)
        return {"results": results, "model": state.model_info,
                "elapsed_ms": round((time.perf_counter() - start) * 1000, 2)}

    @app.get("/v1/labels", response_model=LabelsResponse, tags=["score"],
             summary="The taxonomy: label ids, names, colours")
    async def labels() -> Any:
        tax = state.taxonomy
        return {"version": tax.version, "labels": [
            {"id": lb.id, "zh": lb.zh, "en": lb.en, "colour": lb.colour, "hotkey": lb.hotkey,
             "span_level": lb.span_level, "definition_zh": lb.definition_zh,
             "definition_en": lb.definition_en} for lb in tax.labels]}

    # --------------------------------------------------------------- operations

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: the detector is loaded",
             responses={503: {"model": ErrorResponse}})
    async def readyz() -> Any:
        if state.detector is None:
            if state.load_error:
                return _error(503, "detector_unavailable", f"detector failed to load: {state.load_error}")
            return _error(503, "loading", "detector still loading",
                          headers={"Retry-After": str(max(1, settings.retry_after))})
        return {"status": "ready", "model": state.model_info}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics",
             response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def metrics() -> Response:
        body, content_type = state.metrics.exposition()
        return Response(body, media_type=content_type)

    # --------------------------------------------------------------- Label Studio ML backend

    @app.get("/health", tags=["label-studio"], summary="ML backend health")
    async def ls_health() -> dict[str, Any]:
        return {"status": "UP" if state.detector is not None else "LOADING", "model_class": "huashu",
                "model_version": _model_version(state)}

    @app.post("/setup", tags=["label-studio"], summary="ML backend setup")
    async def ls_setup(payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        names = ls_backend.parse_label_config(payload.get("schema") or payload.get("label_config"))
        log.info("Label Studio setup: project=%s from_name=%s to_name=%s", payload.get("project"),
                 names.from_name, names.to_name)
        return {"model_version": _model_version(state)}

    @app.post("/predict", tags=["label-studio"], summary="ML backend pre-annotations",
              responses=ERROR_RESPONSES)
    async def ls_predict(req: PredictRequest) -> dict[str, Any]:
        names = ls_backend.parse_label_config(req.label_config)
        items = []
        for i, task in enumerate(req.tasks):
            try:
                text, title = ls_backend.task_text(task, names)
            except ValueError as e:
                raise ApiError(422, "invalid_request", f"tasks[{i}]: {e}") from None
            state.check_size(text, f"tasks[{i}] text")
            items.append((task.get("id", i), text, title))
        detector, _ = state.require_detector()
        version = _model_version(state)

        def work() -> list[dict[str, Any]]:
            out = []
            for task_id, text, _title in items:
                if not text.strip():
                    out.append({"result": [], "score": 0.0, "model_version": version})
                    continue
                try:
                    result = score_one(detector, text, None, "text", str(task_id), None, None)
                except NoText:  # only page chrome: nothing to pre-annotate
                    out.append({"result": [], "score": 0.0, "model_version": version})
                    continue
                out.append(ls_backend.to_ls_prediction(result, names, version))
            return out

        results = await state.run(work)
        for _, text, _ in items:
            state.metrics.documents.labels("predict").inc()
            state.metrics.chars.inc(len(text))
        return {"results": results, "model_version": version}

    @app.post("/webhook", tags=["label-studio"], summary="Label Studio webhook (logged)")
    async def ls_webhook(payload: Annotated[dict[str, Any], Body()]) -> dict[str, str]:
        project = payload.get("project")
        log.info("Label Studio webhook: action=%s project=%s", payload.get("action"),
                 project.get("id") if isinstance(project, dict) else project)
        return {"status": "ok"}

    # --------------------------------------------------------------- page

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    return app


def create_app_from_env() -> FastAPI:
    """uvicorn factory for multi-worker mode: settings come from HUASHU_* variables."""
    from huashu.log import setup_logging

    settings = Settings.from_env()
    setup_logging(settings.log_level.upper())
    return create_app(settings)


def _model_version(state: ServerState) -> str:
    info = state.model_info
    return f"{info['id']}-{info['version']}"


async def _load_detector(state: ServerState) -> None:
    from huashu.detector import load_detector

    spec = state.settings.model
    t0 = time.perf_counter()
    try:
        detector = await asyncio.to_thread(load_detector, spec)
        # warm up (first call may compile regexes / allocate buffers) so readyz means fast
        await asyncio.to_thread(detector.detect, Document(id="warmup", text="有分析人士指出，这是釜底抽薪。"))
    except asyncio.CancelledError:
        raise
    except Exception as e:
        state.load_error = f"{type(e).__name__}: {e}"
        log.error("could not load detector %r: %s", spec, state.load_error)
        return
    state.detector = detector
    log.info("detector %s %s ready in %.1f s", getattr(detector, "name", "?"),
             getattr(detector, "version", "?"), time.perf_counter() - t0)
