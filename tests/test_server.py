"""pyggml-server end to end: a real server process on 127.0.0.1, driven by the official openai
client and by raw HTTP for the error paths. Small model, short generations (2 cores)."""
from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time

import openai
import pytest

MODEL = "smollm2-135m-q4_1"
START_TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model: str, *args: str):
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyggml.server", "-m", model, "--port", str(self.port), "-t", "2",
             "--log-level", "warning", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.log: list[str] = []
        threading.Thread(target=self._read_log, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n" + "".join(self.log))
            try:
                if self.request("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not start:\n" + "".join(self.log))
            time.sleep(0.2)

    def _read_log(self):
        for line in self.proc.stdout:
            self.log.append(line)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def request(self, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 120):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
            conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            raw = resp.read().decode()
            ctype = resp.getheader("content-type", "")
            return resp.status, (json.loads(raw) if ctype.startswith("application/json") else raw)
        finally:
            conn.close()

    def metrics(self) -> dict[str, float]:
        status, text = self.request("GET", "/metrics")
        assert status == 200
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def rss_mib(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop_cleanly(self, sig=signal.SIGTERM) -> None:
        """Signal, wait, and check the shutdown was the drained one (uvicorn re-raises the
        signal after its graceful shutdown, so the exit status may name it)."""
        code = self.stop(sig)
        assert code in (0, -sig), f"exit code {code}:\n" + "".join(self.log)
        _wait_for(lambda: any("pyggml-server: stopped" in line for line in self.log), "the shutdown message", 5)

    def stop(self, sig=signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def _wait_for(pred, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def model_file(model_path):
    return str(model_path(MODEL))


@pytest.fixture(scope="module")
def server(model_file):
    srv = Server(model_file, "--parallel", "8", "--n-ctx", "256", "--n-batch", "64")
    yield srv
    srv.stop_cleanly()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def model_id(client):
    models = client.models.list().data
    assert [m.id for m in models] == [MODEL]
    return models[0].id


# ---- the openai client ---------------------------------------------------------------------------------

def test_completion_matches_llama(server, client, model_id, model_file):
    """temperature 0 through the server = the same prompt through pyggml.Llama alone."""
    from pyggml import Llama

    prompt = "The capital of France is"
    llm = Llama(model_file, n_ctx=256, n_threads=2, verbose=False)
    expected = llm(prompt, max_tokens=10, temperature=0)["choices"][0]
    llm.close()
    out = client.completions.create(model=model_id, prompt=prompt, max_tokens=10, temperature=0)
    assert out.choices[0].text == expected["text"]
    assert out.choices[0].finish_reason == expected["finish_reason"]
    assert out.usage.completion_tokens == 10 and out.usage.prompt_tokens > 0

    chunks = list(client.completions.create(model=model_id, prompt=prompt, max_tokens=10, temperature=0,
                                            stream=True))
    assert "".join(c.choices[0].text for c in chunks) == expected["text"]
    assert chunks[-1].choices[0].finish_reason == "length"


def test_chat_stream_and_not(client, model_id):
    messages = [{"role": "user", "content": "Say hello."}]
    out = client.chat.completions.create(model=model_id, messages=messages, max_tokens=8, temperature=0, seed=1)
    msg = out.choices[0].message
    assert msg.role == "assistant" and msg.content and out.choices[0].finish_reason in ("stop", "length")
    stream = client.chat.completions.create(model=model_id, messages=messages, max_tokens=8, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == msg.content
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == out.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == out.usage.completion_tokens


def test_stop_and_seed(client, model_id):
    full = client.completions.create(model=model_id, prompt="1, 2, 3, 4,", max_tokens=12, temperature=0).choices[0]
    assert " 6" in full.text
    cut = client.completions.create(model=model_id, prompt="1, 2, 3, 4,", max_tokens=12, temperature=0,
                                    stop=[" 6"]).choices[0]
    assert cut.finish_reason == "stop" and cut.text == full.text[:full.text.index(" 6")]
    a, b = (client.completions.create(model=model_id, prompt="Once upon a time", max_tokens=12, temperature=1.0,
                                      seed=1234).choices[0].text for _ in range(2))
    assert a == b


def test_tokenize_roundtrip_and_openapi(server):
    status, body = server.request("POST", "/extras/tokenize", {"input": "Hello world"})
    assert status == 200 and body["tokens"]
    status, back = server.request("POST", "/extras/detokenize", {"tokens": body["tokens"]})
    assert status == 200 and back["text"] == "Hello world"
    status, doc = server.request("GET", "/openapi.json")
    assert status == 200 and "/v1/chat/completions" in doc["paths"]


def test_embeddings_match_llama(client, model_id, model_file):
    """Mean-pooled final hidden states, as pyggml.Llama(embedding=True, pooling_type=mean) gives."""
    import numpy as np

    from pyggml import Llama

    out = client.embeddings.create(model=model_id, input=["Hello world", "A cat"])
    llm = Llama(model_file, n_ctx=256, n_threads=2, embedding=True, pooling_type=1, verbose=False)
    expected = llm.embed(["Hello world", "A cat"])
    llm.close()
    assert [d.index for d in out.data] == [0, 1] and out.usage.prompt_tokens > 0
    for d, e in zip(out.data, expected):
        assert len(d.embedding) == len(e) and np.allclose(d.embedding, e, rtol=1e-5, atol=1e-5)


SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
          "additionalProperties": False}


def test_json_schema_and_logprobs(client, model_id):
    import jsonschema

    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}
    out = client.chat.completions.create(model=model_id, max_tokens=16, temperature=0, response_format=fmt,
                                         messages=[{"role": "user", "content": "Is the sky blue? Answer in JSON."}])
    assert out.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(out.choices[0].message.content), SCHEMA)

    out = client.completions.create(model=model_id, prompt="The capital of France is", max_tokens=4,
                                    temperature=0, logprobs=3)
    lp = out.choices[0].logprobs
    assert "".join(lp.tokens) == out.choices[0].text and len(lp.token_logprobs) == 4
    for chosen, top, value in zip(lp.tokens, lp.top_logprobs, lp.token_logprobs):
        assert value <= 0 and top[chosen] == value and len(top) <= 4
        assert max(top.values()) == value          # greedy: the chosen token is the most likely
    chunks = list(client.chat.completions.create(model=model_id, max_tokens=4, temperature=0, stream=True,
                                                 logprobs=True, top_logprobs=2,
                                                 messages=[{"role": "user", "content": "Hi"}]))
    entries = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    assert "".join(e.token for e in entries) == "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert all(len(e.top_logprobs) == 2 and e.logprob <= 0 for e in entries)


# ---- error paths over raw HTTP ------------------------------------------------------------------------

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}


def test_forced_tool_call(client, model_id):
    kw = dict(model=model_id, max_tokens=40, temperature=0, tools=[WEATHER],
              tool_choice={"type": "function", "function": {"name": "get_weather"}},
              messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    out = client.chat.completions.create(**kw)
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    chunks = list(client.chat.completions.create(stream=True, **kw))
    calls = [tc for c in chunks if c.choices and c.choices[0].delta.tool_calls for tc in c.choices[0].delta.tool_calls]
    assert [c.function.arguments for c in calls] == [call.function.arguments]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("body, status, param", [
    ('{"prompt": "x", ', 400, None),                                        # malformed JSON
    ({"prompt": "x", "max_tokens": "5"}, 400, "max_tokens"),              # wrong type
    ({"prompt": 5}, 400, "prompt"),
    ({"prompt": "x", "temperature": "hot"}, 400, "temperature"),
    ({"prompt": "x", "model": "gpt-4"}, 404, "model"),                     # unknown model
    ({"prompt": "word " * 400}, 400, "prompt"),                            # longer than n_ctx=256
    ({"prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
    ({"prompt": "x", "max_tokens": 100000}, 400, "max_tokens"),
    ({"prompt": [1, 2, 10**9]}, 400, "prompt"),
    ({"prompt": "x", "n": 2}, 400, "n"),
    ({}, 400, "prompt"),
])
def test_completion_errors(server, body, status, param):
    got, err = server.request("POST", "/v1/completions", body)
    assert got == status, err
    assert set(err["error"]) >= {"message", "type", "param", "code"} and err["error"]["message"]
    assert err["error"]["param"] == param


@pytest.mark.parametrize("body, param", [
    ({"messages": "hi"}, "messages"),
    ({"messages": [{"role": "user", "content": "word " * 400}]}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema"}}, "response_format"),
    ({"messages": [{"role": "user", "content": "x"}],
      "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "bogus"}}}}, "response_format"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}, "tools"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER],
      "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}, "top_logprobs"),
    ({"messages": [{"role": "user", "content": "x"}], "logprobs": True, "top_logprobs": 50}, "top_logprobs"),
])
def test_chat_errors(server, body, param):
    status, err = server.request("POST", "/v1/chat/completions", body)
    assert status == 400 and err["error"]["param"] == param, err


def test_client_disconnect_frees_sequence(server):
    before = server.metrics()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/v1/completions", body=json.dumps(
        {"prompt": "1, 2, 3, 4, 5,", "max_tokens": 200, "stream": True, "temperature": 0}),
        headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    first = resp.readline()
    assert first.startswith(b"data: ")
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    _wait_for(lambda: server.metrics()["pyggml_jobs_cancelled_total"] > before["pyggml_jobs_cancelled_total"],
              "the cancelled job")
    after = server.metrics()
    assert after["pyggml_slots_active"] == 0 and after["pyggml_kv_cells_used"] == 0
    generated = after["pyggml_generated_tokens_total"] - before["pyggml_generated_tokens_total"]
    assert generated < 200, f"{generated} tokens generated after the client left"


# ---- load ----------------------------------------------------------------------------------------------

def _one_request(client, model_id, i: int, j: int) -> None:
    kind = (i + j) % 5
    if kind == 0:
        out = client.completions.create(model=model_id, prompt=f"Count: {i}, {i + 1},", max_tokens=6, temperature=0)
        assert out.choices[0].finish_reason in ("stop", "length") and out.usage.completion_tokens <= 6
    elif kind == 1:
        chunks = list(client.completions.create(model=model_id, prompt=f"Item {j}:", max_tokens=6, stream=True,
                                                seed=i))
        assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    elif kind == 2:
        out = client.chat.completions.create(model=model_id, max_tokens=6, seed=j,
                                             messages=[{"role": "user", "content": f"Name a number near {i}."}])
        assert out.choices[0].finish_reason in ("stop", "length") and out.choices[0].message.content is not None
    elif kind == 3:
        chunks = list(client.chat.completions.create(model=model_id, max_tokens=6, stream=True,
                                                     messages=[{"role": "user", "content": f"Hi #{i}"}]))
        assert sum(1 for c in chunks if c.choices and c.choices[0].finish_reason) == 1
    else:
        import jsonschema

        out = client.chat.completions.create(
            model=model_id, max_tokens=16, seed=i, response_format={"type": "json_schema", "json_schema": {
                "name": "answer", "schema": SCHEMA}},
            messages=[{"role": "user", "content": f"Is {i} even? Answer in JSON."}])
        assert out.choices[0].finish_reason == "stop"
        jsonschema.validate(json.loads(out.choices[0].message.content), SCHEMA)


def _run_clients(client, model_id, n_clients: int, n_each: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def worker(i):
        try:
            for j in range(n_each):
                _one_request(client, model_id, i, j)
        except BaseException as e:  # noqa: BLE001 - collected and reported by the test
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a client hung"
    return errors


def test_load_32_clients(server, client, model_id):
    """32 concurrent clients x 4 mixed requests (completions and chats, streamed and not, JSON
    schema): all complete and well-formed, nothing left over, memory back near its level after a
    warm-up round."""
    assert not _run_clients(client, model_id, 8, 1)        # warm-up: graphs for the batch shapes
    baseline = server.rss_mib()
    before = server.metrics()
    t0 = time.monotonic()
    errors = _run_clients(client, model_id, 32, 4)
    elapsed = time.monotonic() - t0
    assert not errors, errors[:3]
    after = server.metrics()
    done = after["pyggml_jobs_completed_total"] - before["pyggml_jobs_completed_total"]
    assert done == 128
    assert after["pyggml_slots_active"] == 0 and after["pyggml_queue_depth"] == 0
    assert after["pyggml_kv_cells_used"] == 0
    grown = server.rss_mib() - baseline
    print(f"load: 128 requests in {elapsed:.1f} s, RSS {baseline:.0f} MiB -> {baseline + grown:.0f} MiB")
    assert grown < 64, f"RSS grew by {grown:.0f} MiB over the load"


# ---- a second server: API key, full queue, SIGTERM -----------------------------------------------------

def test_api_key_queue_full_and_sigterm(model_file):
    srv = Server(model_file, "--parallel", "1", "--max-queue", "1", "--n-ctx", "128", "--api-key", "sesame")
    try:
        status, err = srv.request("POST", "/v1/completions", {"prompt": "x"})
        assert status == 401 and err["error"]["code"] == "invalid_api_key"
        status, err = srv.request("GET", "/v1/models", headers={"Authorization": "Bearer wrong"})
        assert status == 401
        assert srv.request("GET", "/health")[0] == 200                   # no key needed

        auth = {"Authorization": "Bearer sesame"}
        # one stream holds the only slot, one request waits in the queue: the next gets 503
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
        conn.request("POST", "/v1/completions", body=json.dumps(
            {"prompt": "Once upon a time", "max_tokens": 100, "stream": True}),
            headers={"Content-Type": "application/json", **auth})
        stream = conn.getresponse()
        assert stream.status == 200 and stream.readline().startswith(b"data: ")
        queued: list = []
        waiter = threading.Thread(target=lambda: queued.append(
            srv.request("POST", "/v1/completions", {"prompt": "Hi", "max_tokens": 2}, headers=auth)))
        waiter.start()
        _wait_for(lambda: srv.request("GET", "/health")[1]["queue_depth"] == 1, "the queued request")
        status, err = srv.request("POST", "/v1/completions", {"prompt": "x", "max_tokens": 2}, headers=auth)
        assert status == 503 and err["error"]["code"] == "queue_full"

        # SIGTERM while the stream runs: the running and queued requests finish, then a clean exit
        srv.proc.send_signal(signal.SIGTERM)
        rest = stream.read().decode()
        conn.close()
        events = [line[len("data: "):] for line in rest.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]" and json.loads(events[-2])["choices"][0]["finish_reason"] == "length"
        waiter.join(timeout=120)
        assert queued and queued[0][0] == 200 and queued[0][1]["choices"][0]["finish_reason"] in ("stop", "length")
        srv.stop_cleanly()
    finally:
        srv.stop()
