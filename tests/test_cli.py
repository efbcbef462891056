"""pyggml-cli and pyggml-perplexity as a user runs them: subprocesses, exit codes, streams,
llama.cpp-shaped timing lines, and no tracebacks on bad input."""
import json
import math
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import REFERENCE_DIR
from pyggml.cli.perplexity import token_nll

SMOLLM = "smollm2-135m-q4_1"
FRANCE = "The capital of France is"
NUM = r"\d+\.\d\d"


def cli(*args, module="pyggml.cli.main", stdin=None, timeout=300):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def timing(stderr, label, count_word):
    """(ms, count) of a perf line `label = X ms / N <count_word> (... ms per token, ... tokens per second)`."""
    m = re.search(rf"{label} = +({NUM}) ms / +(\d+) {count_word} +\( *{NUM} ms per token, +{NUM} tokens per second\)",
                  stderr)
    assert m, f"no '{label}' line in:\n{stderr}"
    return float(m.group(1)), int(m.group(2))


@pytest.fixture(scope="module")
def smollm(model_path):
    return str(model_path(SMOLLM))


@pytest.fixture(scope="module")
def greedy_ref(reference_dir):
    with open(reference_dir / "greedy.jsonl") as f:
        return {(r["model"], r["prompt"]): r for r in map(json.loads, f)}


def test_generates_greedy_text_and_prints_timings(smollm):
    r = cli("-m", smollm, "-p", FRANCE, "-n", 8, "--temp", 0, "-t", 2)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(FRANCE + " Paris")
    assert timing(r.stderr, "prompt eval time", "tokens")[1] == 5
    assert timing(r.stderr, "eval time", "runs")[1] == 7   # the 8th token is sampled, not evaluated
    assert timing(r.stderr, "sampling time", "runs")[1] == 8
    assert re.search(rf"load time = +{NUM} ms", r.stderr)
    assert re.search(rf"total time = +{NUM} ms / +12 tokens", r.stderr)
    assert "Traceback" not in r.stderr


def test_output_matches_the_python_api(smollm, greedy_ref):
    ref = greedy_ref[(SMOLLM, FRANCE)]
    r = cli("-m", smollm, "-p", FRANCE, "-n", 6, "--temp", 0, "--no-display-prompt")
    assert r.returncode == 0, r.stderr
    import pyggml
    llm = pyggml.Llama(smollm, n_ctx=64, verbose=False)
    expected = llm.detokenize(ref["greedy_ids"][:6]).decode()
    assert r.stdout == expected + "\n"


def test_prompt_from_file_and_seeded_sampling(smollm, tmp_path):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Once upon a time", encoding="utf-8")
    args = ("-m", smollm, "-f", prompt, "-n", 10, "-s", 42, "--temp", 1.0, "--top-k", 0, "--top-p", 1.0,
            "--min-p", 0.0, "--repeat-penalty", 1.1, "--repeat-last-n", 16, "-c", 128, "-b", 4)
    a, b = cli(*args), cli(*args)
    assert a.returncode == 0, a.stderr
    assert a.stdout.startswith("Once upon a time") and a.stdout == b.stdout


def test_default_model_is_announced(model_path):
    model_path(SMOLLM)  # cached, so the run does not download
    r = cli("-p", FRANCE, "-n", 2, "--temp", 0)
    assert r.returncode == 0, r.stderr
    assert SMOLLM in r.stderr and "default model" in r.stderr


def test_conversation_reads_turns_from_stdin(smollm):
    r = cli("-m", smollm, "-cnv", "--temp", 0, "-n", 12, stdin="Say hi\nWhat is 2+2?\n")
    assert r.returncode == 0, r.stderr
    assert "> Say hi\n" in r.stdout and "> What is 2+2?\n" in r.stdout
    assert "<|im_start|>" not in r.stdout and "<|im_end|>" not in r.stdout
    assert timing(r.stderr, "prompt eval time", "tokens")[1] > 0


@pytest.mark.parametrize("args, message", [
    (("-m", "/nonexistent/model.gguf", "-p", "x"), "not found"),
    (("-p", "x", "--top-p", 1.5), "top_p"),
    (("-p", "x", "--top-p", 0), "top_p"),
    (("-p", "x", "--temp", -1), "temperature"),
    (("-p", "x", "-c", -3), "ctx-size"),
    (("-p", "x", "-c", 10**7), "n_ctx"),
    (("-p", "x", "-n", -5), "n-predict"),
    (("-p", "x", "-b", 0), "n_batch"),
    (("-p", "word " * 300, "-c", 64), "exceed context window of 64"),
    (("-f", "/nonexistent/prompt.txt",), "cannot read"),
    (("-p", "x", "-f", "y"), "not both"),
    ((), "no prompt"),
])
def test_bad_input_is_one_message_and_exit_1(smollm, args, message):
    if "-m" not in args:
        args = ("-m", smollm) + tuple(args)
    r = cli(*args)
    assert r.returncode == 1
    assert message in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_unknown_flag_is_a_usage_error():
    r = cli("--no-such-flag")
    assert r.returncode == 2 and "usage" in r.stderr and "Traceback" not in r.stderr


def _drain(stream, sink: list, ready: threading.Event, ready_when) -> None:
    """Reads stream to EOF into sink one chunk at a time; sets ready once ready_when(text) holds."""
    for chunk in iter(lambda: stream.read(1), ""):
        sink.append(chunk)
        if not ready.is_set() and ready_when("".join(sink)):
            ready.set()
    ready.set()   # EOF: never leave the waiter hanging


def _interrupt_cli(args, ready_when):
    """Runs pyggml-cli ARGS, sends SIGINT once ready_when(stdout so far) holds (a readiness
    signal, not a sleep: under load the child may take long to get there), and returns
    (returncode, stdout, stderr, seconds from the signal to the exit)."""
    # the child gets SIGINT's default action, as from a terminal: a test run started in the
    # background of a non-interactive shell inherits SIGINT ignored, and so would the child
    proc = subprocess.Popen([sys.executable, "-m", "pyggml.cli.main", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out, err, ready, stderr_done = [], [], threading.Event(), threading.Event()
    readers = [threading.Thread(target=_drain, args=(proc.stdout, out, ready, ready_when)),
               threading.Thread(target=_drain, args=(proc.stderr, err, stderr_done, lambda text: False))]
    for reader in readers:
        reader.start()
    try:
        assert ready.wait(timeout=300), "the child never got ready within 300 s"
        assert proc.poll() is None, "".join(err)   # still working when interrupted
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
        seconds = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        for reader in readers:
            reader.join(timeout=60)
    return proc.returncode, "".join(out), "".join(err), seconds


def test_ctrl_c_stops_cleanly_and_still_prints_timings(smollm):
    # greedy on this prompt, llama.cpp writes 48 tokens without an end of generation (greedy.jsonl)
    prompt = "Once upon a time, in a small village by the sea,"
    rc, stdout, stderr, _ = _interrupt_cli(["-m", smollm, "-p", prompt, "-n", -1, "--temp", 0],
                                           lambda text: len(text) >= len(prompt) + 4)  # generating
    assert stdout.startswith(prompt)
    assert rc == 130, stderr
    assert "Traceback" not in stderr
    timing(stderr, "eval time", "runs")


def test_ctrl_c_during_a_long_prompt_stops_between_batches(smollm, tmp_path):
    # ~3,100 prompt tokens in batches of 128: the prompt is printed, then evaluated batch by batch
    prompt = " ".join(f"Line {i} of a long document about the sea and its villages." for i in range(200))
    path = tmp_path / "long.txt"
    path.write_text(prompt)
    rc, stdout, stderr, seconds = _interrupt_cli(["-m", smollm, "-f", path, "-c", 4096, "-b", 128, "-n", 8,
                                                  "--temp", 0, "-t", 2],
                                                 lambda text: len(text) >= len(prompt))
    assert rc == 130, stderr
    assert "Traceback" not in stderr
    prompt_ms, prompt_tokens = timing(stderr, "prompt eval time", "tokens")
    assert prompt_tokens < 2500, stderr          # stopped inside the prompt, not after it
    # one batch of 128 takes ~0.2 s on an idle 2-core machine; the bound only catches "not
    # between batches" (a whole 3,100-token prompt) on a loaded one
    assert seconds < 60, seconds


# ---- perplexity --------------------------------------------------------------------------------

def test_token_nll_is_the_negative_log_softmax():
    import numpy as np
    logits = np.array([[0.0, math.log(3.0)], [2.0, 2.0]], np.float32)
    np.testing.assert_allclose(token_nll(logits, np.array([1, 0])), [-math.log(0.75), math.log(2.0)], rtol=1e-6)


def _ctx128_models() -> list[str]:
    """Every model the reference has a perplexity for at n_ctx 128 (gemma3: BOS swapped in)."""
    results = json.loads((REFERENCE_DIR / "meta.json").read_text())["perplexity"]["results"]
    return sorted(key.split("/")[0] for key in results if key.endswith("/ctx128"))


@pytest.mark.parametrize("name", _ctx128_models())
def test_perplexity_matches_llamacpp_at_n_ctx_128(model_path, reference_dir, name):
    meta = json.loads((reference_dir / "meta.json").read_text())["perplexity"]["results"][f"{name}/ctx128"]
    r = cli("-m", model_path(name), "-f", reference_dir / "ppl-dev.txt", "-c", 128, "-b", 128,
            module="pyggml.cli.perplexity", timeout=1800)
    assert r.returncode == 0, r.stderr
    m = re.search(r"Final estimate: PPL = (\d+\.\d{4}) \+/- (\d+\.\d{5})\n", r.stdout)
    assert m, r.stdout
    ppl, err = float(m.group(1)), float(m.group(2))
    assert abs(ppl / meta["ppl"] - 1) <= 0.01, (ppl, meta)
    assert abs(err / meta["stderr"] - 1) <= 0.05, (err, meta)
    assert r.stdout.count(",") == meta["chunks"]   # one "[i]ppl," per window
    assert f"calculating perplexity over {meta['chunks']} chunks, n_ctx=128" in r.stderr


@pytest.mark.parametrize("args, message", [
    (("-c", 4096), "at least 8192 tokens"),
    (("-c", 2), "ctx-size"),
])
def test_perplexity_bad_input(smollm, reference_dir, args, message):
    r = cli("-m", smollm, "-f", reference_dir / "ppl-dev.txt", *args, module="pyggml.cli.perplexity")
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr
