"""The serving gateway over real HTTP, under load and faults: the in-process backend under a
class's worth of clients and clients that leave, and the engine backend against the local
OpenAI-compatible server standing in for vLLM (served under the registry version's name),
down, back, and answering garbage."""

import asyncio
import contextlib
import json
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from correctly_assets.domain.chat_format import KOREAN_INSTRUCTION
from correctly_assets.evaluation.corrector import Corrector
from correctly_assets.serving import CorrectionService, ServedModel, ServingSettings, create_app, load_service
from correctly_assets.serving.backends import MAX_TEXT_CHARS
from correctly_assets.serving.in_process import InProcessBackend
from correctly_assets.testing.hostile_llm_server import API_KEY, hostile_server
from correctly_assets.testing.local_dagster import free_port
from correctly_assets.testing.local_llm_server import serve_in_thread
from correctly_assets.training.lengths import answer_budget
from correctly_assets.training.tiny_model import build_tiny_model

pytestmark = pytest.mark.integration

TEXT = "Yesterday I go to school."
ENGINE_MODEL = "correctly-v1"  # the promoted version's name on the engine


@contextlib.contextmanager
def serving(app):
    """The app under uvicorn on a free 127.0.0.1 port; its root URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120  # the model loads before the server listens
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _wait_until(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.adversarial
def test_64_concurrent_clients_get_only_200s_or_503s_with_retry_after(trained):
    settings = ServingSettings(trained[0], max_active=16)
    app = create_app(lambda: load_service(settings))

    async def fire(root: str) -> list[tuple[int, str, str | None]]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            async def one(i: int):
                path = "/v1/corrections/stream" if i % 2 else "/v1/corrections"
                response = await client.post(f"{root}{path}", json={"text": f"{TEXT} ({i})"})
                return response.status_code, response.text, response.headers.get("retry-after")
            return await asyncio.gather(*(one(i) for i in range(64)))

    with serving(app) as root:
        results = asyncio.run(fire(root))
        assert httpx.get(f"{root}/healthz").json()["active"] == 0
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 16  # at least a full batch was answered
    for status, text, retry_after in results:
        if status == 503:
            assert retry_after == "5" and "try again shortly" in text
        elif text.startswith("event:"):
            assert "event: done" in text and "event: error" not in text


def _endless_service(directory, deadline_s: float = 60.0) -> CorrectionService:
    """An untrained tiny model with a budget of 4,096 tokens: its replies run long."""
    build_tiny_model(directory)
    corrector = Corrector(directory, max_new_tokens=4096)
    model = ServedModel("endless", 1, "production", "run", str(directory))
    return CorrectionService(model, InProcessBackend(corrector, 4, MAX_TEXT_CHARS), max_active=4,
                             deadline_s=deadline_s)


@pytest.fixture(scope="module")
def endless_service(tmp_path_factory):
    service = _endless_service(tmp_path_factory.mktemp("endless") / "model")
    yield service
    asyncio.run(service.backend.close())


@pytest.mark.adversarial
def test_a_client_that_disconnects_stops_its_generation(endless_service):
    backend = endless_service.backend
    with serving(create_app(lambda: endless_service)) as root:
        # Streaming: the client reads the first piece, then goes away.
        with httpx.stream("POST", f"{root}/v1/corrections/stream", json={"text": TEXT},
                          timeout=30) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("event: piece"):
                    break
            assert backend.running() == 1
        assert _wait_until(lambda: backend.running() == 0), "the generation went on"
        assert backend.cancelled == 1 and endless_service.active == 0

        # Waiting for the whole answer: the client gives up after half a second.
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{root}/v1/corrections", json={"text": TEXT}, timeout=0.5)
        assert _wait_until(lambda: backend.running() == 0), "the generation went on"
        assert backend.cancelled == 2 and endless_service.active == 0


@pytest.mark.adversarial
def test_a_stream_past_its_deadline_ends_with_a_503_event_and_stops(tmp_path):
    """The deadline holds after the first piece too, when another task drives the stream."""
    hurried = _endless_service(tmp_path / "model", deadline_s=2.0)
    backend = hurried.backend
    try:
        with serving(create_app(lambda: hurried)) as root:
            response = httpx.post(f"{root}/v1/corrections/stream", json={"text": TEXT},
                                  timeout=30)
            assert response.status_code == 200, response.text
            last = response.text.strip().split("\n\n")[-1]
            assert last.startswith("event: error") and '"status": 503' in last
            assert "no answer within 2 s" in last and response.text.count("event: piece") > 1
            assert _wait_until(lambda: backend.running() == 0), "the generation went on"
        assert backend.cancelled == 1 and hurried.active == 0
    finally:
        asyncio.run(backend.close())


def _engine_settings(trained, url: str) -> ServingSettings:
    return ServingSettings(trained[0], backend="engine", engine_url=url)


def test_the_engine_backend_serves_the_registry_version_through_the_gateway(trained):
    tracking_uri, result = trained
    with serve_in_thread(served_model=ENGINE_MODEL) as engine:
        with TestClient(create_app(lambda: load_service(_engine_settings(trained, engine.base_url)))) as client:
            answer = client.post("/v1/corrections", json={"text": TEXT})
            with client.stream("POST", "/v1/corrections/stream", json={"text": TEXT}) as streamed:
                events = "".join(streamed.iter_text()).strip().split("\n\n")
            health = client.get("/healthz").json()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["corrected"] == "Yesterday I went to school."
    assert body["points"][0]["edits"] == [{"before": "go", "after": "went"}]
    assert body["model"]["version"] == 1 and body["model"]["alias"] == "production"
    done = json.loads(events[-1].split("data: ", 1)[1])
    assert events[-1].startswith("event: done") and done["answer"] == body["answer"]
    assert sum(e.startswith("event: piece") for e in events) > 5
    assert health["backend"] == "engine"
    # Asked as the model was trained: its instruction, greedy, its own answer budget.
    asked = engine.stats.settings[-1]
    assert asked == {"temperature": 0.0, "max_tokens": answer_budget(result.max_answer_tokens),
                     "system": KOREAN_INSTRUCTION}


@pytest.mark.adversarial
def test_the_engine_down_is_a_named_503_and_serving_recovers_when_it_returns(trained):
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    with TestClient(create_app(lambda: load_service(_engine_settings(trained, url)))) as client:
        for path in ("/v1/corrections", "/v1/corrections/stream"):
            down = client.post(path, json={"text": TEXT})
            assert down.status_code == 503
            assert down.headers["retry-after"] == "5"
            assert f"the inference engine at {url} cannot be reached" in down.json()["detail"]
        assert client.get("/healthz").status_code == 503

        with serve_in_thread(served_model=ENGINE_MODEL, port=port):
            back = client.post("/v1/corrections", json={"text": TEXT})
            assert back.status_code == 200, back.text
            assert client.get("/healthz").status_code == 200

        with serve_in_thread(served_model="another-model", port=port):
            wrong = client.get("/healthz")
            assert wrong.status_code == 503
            assert f"does not serve model '{ENGINE_MODEL}'" in wrong.json()["detail"]


@pytest.mark.adversarial
@pytest.mark.parametrize("marker", ["[[garbage]]", "[[html]]", "[[nochoices]]", "[[int]]",
                                    "[[flood]]", "[[echo]]"])
def test_an_engine_answering_garbage_is_refused_with_a_reason_and_nothing_echoed(
        trained, monkeypatch, marker):
    monkeypatch.setenv("CORRECTLY_ENGINE_API_KEY", API_KEY)
    with hostile_server(always=marker) as url:
        with TestClient(create_app(lambda: load_service(_engine_settings(trained, url)))) as client:
            responses = [client.post(path, json={"text": TEXT})
                         for path in ("/v1/corrections", "/v1/corrections/stream")]
    if marker == "[[flood]]":  # pieces came first: the stream ends with an error event
        streamed = responses.pop()
        assert streamed.status_code == 200
        last = streamed.text.strip().split("\n\n")[-1]
        assert last.startswith("event: error") and '"status": 502' in last
        assert "sent more than" in last
    for response in responses:
        if marker == "[[echo]]":  # the engine refused, quoting the key: a 503, without it
            assert response.status_code == 503
            assert "refused the request (HTTP 401)" in response.json()["detail"]
        else:
            assert response.status_code == 502, response.text
            assert response.json()["detail"].startswith(f"the inference engine at {url} ")
            if marker == "[[flood]]":  # cut off, not read on
                assert "sent more than" in response.json()["detail"]
        assert API_KEY not in response.text and "gateway says hi" not in response.text
        assert "not json" not in response.text


def test_the_alias_reaches_the_engine_through_the_model_folder(trained, tmp_path, monkeypatch):
    """registry alias -> sync -> engine (the stand-in, serving the name sync wrote) ->
    gateway -> answer: the path the compose and Kubernetes engine deployments take."""
    from correctly_assets.serving.sync import main as sync_main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained[0])
    assert sync_main(["--dest", str(tmp_path)]) == 0
    name = (tmp_path / "current").read_text().strip()
    assert name == ENGINE_MODEL
    assert (tmp_path / name / "model.safetensors").is_file()  # what vLLM loads
    assert (tmp_path / name / "tokenizer_config.json").is_file()
    stamp = (tmp_path / name / "model.safetensors").stat().st_mtime_ns
    assert sync_main(["--dest", str(tmp_path)]) == 0  # already there: not downloaded again
    assert (tmp_path / name / "model.safetensors").stat().st_mtime_ns == stamp

    monkeypatch.setenv("CORRECTLY_SERVING_ALIAS", "nonesuch")
    assert sync_main(["--dest", str(tmp_path)]) == 2
    assert (tmp_path / "current").read_text().strip() == name  # left as it was

    with serve_in_thread(served_model=name) as engine:
        with TestClient(create_app(lambda: load_service(_engine_settings(trained, engine.base_url)))) as client:
            response = client.post("/v1/corrections", json={"text": TEXT})
    assert response.status_code == 200 and response.json()["corrected"] == "Yesterday I went to school."
