"""pyggml.Llama on the real models: llama-cpp-python's names and shapes, generation behaviour
(stops, streaming, seeds, KV reuse) and clear errors for bad input."""
import json

import numpy as np
import pytest

import pyggml
from pyggml.gguf import GGUFReader, GGUFWriter
from pyggml.models.tiny import write_tiny_llama

SMOLLM = "smollm2-135m-q4_1"
FRANCE = "The capital of France is"


@pytest.fixture(scope="module")
def greedy_ref(reference_dir):
    with open(reference_dir / "greedy.jsonl") as f:
        return {(r["model"], r["prompt"]): r for r in map(json.loads, f)}


@pytest.fixture(scope="module")
def logits_ref(reference_dir):
    return np.load(reference_dir / "logits.npz")


@pytest.fixture(scope="module")
def llm(model_path):
    model = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=256, seed=0, verbose=False)
    yield model
    model.close()


@pytest.fixture(scope="module")
def llm_all(model_path):
    model = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=128, logits_all=True, verbose=False)
    yield model
    model.close()


def greedy_text(llm, ref, n):
    return llm.detokenize(ref["greedy_ids"][:n]).decode("utf-8", errors="replace")


# ---- tokens -----------------------------------------------------------------------------------

def test_tokenize_matches_llamacpp_prompt_ids(llm, greedy_ref):
    for (model, prompt), row in greedy_ref.items():
        if model == SMOLLM:
            assert llm.tokenize(prompt.encode("utf-8")) == row["prompt_ids"]


def test_tokenize_special_and_detokenize(llm):
    plain = llm.tokenize(b"<|im_start|>", add_bos=False, special=False)
    parsed = llm.tokenize(b"<|im_start|>", add_bos=False, special=True)
    assert len(parsed) == 1 and len(plain) > 1
    assert llm.detokenize(llm.tokenize(b"Hello world")) == b"Hello world"
    assert isinstance(llm.detokenize([504, 3575]), bytes)


def test_special_token_ids_come_from_metadata(llm):
    assert llm.token_bos() == llm.metadata["tokenizer.ggml.bos_token_id"]
    assert llm.token_eos() == llm.metadata["tokenizer.ggml.eos_token_id"]
    assert (llm.n_ctx(), llm.n_vocab(), llm.n_embd()) == (256, 49152, 576)


# ---- eval, scores, n_tokens ---------------------------------------------------------------------

def test_eval_scores_one_row_per_token_aligned_with_positions(llm_all, logits_ref):
    ids = [int(i) for i in logits_ref[f"{SMOLLM}/p1/ids"]]
    llm_all.reset()
    assert llm_all.n_tokens == 0 and llm_all.scores.shape == (0, 49152)
    llm_all.eval(ids[:10])
    llm_all.eval(ids[10:])
    assert llm_all.n_tokens == len(ids)
    assert list(llm_all.input_ids) == ids
    scores = llm_all.scores
    assert scores.shape == (len(ids), 49152) and scores.dtype == np.float32
    top1 = logits_ref[f"{SMOLLM}/p1/top16_ids"][:, 0]
    assert (scores.argmax(-1) == top1).mean() >= 0.9


def test_without_logits_all_scores_hold_the_last_row(llm, logits_ref):
    ids = [int(i) for i in logits_ref[f"{SMOLLM}/p0/ids"]]
    llm.reset()
    llm.eval(ids)
    assert llm.scores.shape == (1, 49152)
    assert llm.scores[0].argmax() == logits_ref[f"{SMOLLM}/p0/top16_ids"][-1, 0]


def test_lowering_n_tokens_forgets_the_tail(llm_all):
    a, b, c = [504, 3575, 282], [4649, 314], [2988, 314]
    llm_all.reset()
    llm_all.eval(a + c)
    fresh = llm_all.scores[-1].copy()
    llm_all.reset()
    llm_all.eval(a + b)
    llm_all.n_tokens = len(a)
    llm_all.eval(c)
    assert list(llm_all.input_ids) == a + c
    np.testing.assert_allclose(llm_all.scores[-1], fresh, rtol=1e-3, atol=1e-2)
    with pytest.raises(ValueError, match="n_tokens"):
        llm_all.n_tokens = 99


# ---- completions --------------------------------------------------------------------------------

def test_greedy_completion_dict_shape_and_text(llm, greedy_ref):
    ref = greedy_ref[(SMOLLM, FRANCE)]
    out = llm(FRANCE, max_tokens=8, temperature=0)
    assert set(out) == {"id", "object", "created", "model", "choices", "usage"}
    assert out["id"].startswith("cmpl-") and out["object"] == "text_completion"
    assert isinstance(out["created"], int) and out["model"] == llm.model_path
    (choice,) = out["choices"]
    assert choice == {"text": greedy_text(llm, ref, 8), "index": 0, "logprobs": None, "finish_reason": "length"}
    assert out["usage"] == {"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13}


def test_stop_string_is_cut_and_never_emitted(llm, greedy_ref):
    ref_text = greedy_text(llm, greedy_ref[(SMOLLM, FRANCE)], 16)
    assert "United" in ref_text
    out = llm.create_completion(FRANCE, max_tokens=16, temperature=0, stop=["United", "zzz"])
    assert out["choices"][0]["text"] == ref_text[:ref_text.index("United")]
    assert out["choices"][0]["finish_reason"] == "stop"
    chunks = list(llm.create_completion(FRANCE, max_tokens=16, temperature=0, stop="United", stream=True))
    streamed = "".join(c["choices"][0]["text"] for c in chunks)
    assert streamed == out["choices"][0]["text"]
    assert all("Unit" not in c["choices"][0]["text"] for c in chunks)


def test_stream_chunks_concatenate_to_the_completion(llm):
    whole = llm(FRANCE, max_tokens=12, temperature=0)["choices"][0]["text"]
    chunks = list(llm(FRANCE, max_tokens=12, temperature=0, stream=True))
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["object"] == "text_completion" and "usage" not in c for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * (len(chunks) - 1) + ["length"]
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole


def test_echo_prefixes_the_prompt(llm):
    out = llm(FRANCE, max_tokens=4, temperature=0, echo=True)
    assert out["choices"][0]["text"].startswith(FRANCE)
    assert len(out["choices"][0]["text"]) > len(FRANCE)


def test_prompt_as_token_ids(llm):
    ids = llm.tokenize(FRANCE.encode())
    assert llm(ids, max_tokens=6, temperature=0)["choices"][0]["text"] == \
        llm(FRANCE, max_tokens=6, temperature=0)["choices"][0]["text"]


def test_seed_makes_sampling_reproducible(llm, model_path):
    kwargs = dict(max_tokens=12, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0)
    a = llm(FRANCE, seed=123, **kwargs)["choices"][0]["text"]
    b = llm(FRANCE, seed=123, **kwargs)["choices"][0]["text"]
    others = {llm(FRANCE, seed=s, **kwargs)["choices"][0]["text"] for s in range(124, 128)}
    assert a == b
    assert len(others | {a}) > 1
    # the constructor's seed drives completions that give none
    second = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=256, seed=0, verbose=False)
    fresh = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=256, seed=0, verbose=False)
    assert [second(FRANCE, **kwargs)["choices"][0]["text"] for _ in range(2)] == \
        [fresh(FRANCE, **kwargs)["choices"][0]["text"] for _ in range(2)]


def test_cached_prefix_is_not_evaluated_again(llm):
    llm.reset()
    llm(FRANCE, max_tokens=1, temperature=0)
    before = llm.runner.timings["prompt_tokens"] + llm.runner.timings["eval_tokens"]
    llm(FRANCE + " a city in", max_tokens=1, temperature=0)
    evaluated = llm.runner.timings["prompt_tokens"] + llm.runner.timings["eval_tokens"] - before
    assert evaluated == len(llm.tokenize((FRANCE + " a city in").encode())) - 5


def test_generation_stops_when_the_context_is_full(model_path):
    small = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=16, verbose=False)
    out = small(FRANCE, max_tokens=100, temperature=0)
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["usage"]["completion_tokens"] == 16 - 5 + 1
    small.close()


def test_generate_yields_greedy_tokens(llm, greedy_ref):
    ref = greedy_ref[(SMOLLM, FRANCE)]
    gen = llm.generate(ref["prompt_ids"], temp=0)
    assert [next(gen) for _ in range(8)] == ref["greedy_ids"][:8]


# ---- chat ---------------------------------------------------------------------------------------

def test_chat_completion_shape_and_end_of_turn(llm):
    out = llm.create_chat_completion([{"role": "user", "content": "Say hi"}], temperature=0, max_tokens=64)
    assert out["id"].startswith("chatcmpl-") and out["object"] == "chat.completion"
    (choice,) = out["choices"]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert "<|im_end|>" not in choice["message"]["content"]
    # llama-cpp-python counts 32 prompt tokens for this conversation with this file
    assert out["usage"]["prompt_tokens"] == 32
    assert choice["finish_reason"] in ("stop", "length")
    if choice["finish_reason"] == "stop":
        assert out["usage"]["completion_tokens"] < 64


def test_chat_stream_deltas(llm):
    messages = [{"role": "user", "content": "Say hi"}]
    whole = llm.create_chat_completion(messages, temperature=0, max_tokens=6)
    chunks = list(llm.create_chat_completion(messages, temperature=0, max_tokens=6, stream=True))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert chunks[-1]["choices"][0]["delta"] == {} and chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]


def test_gemma_chat_uses_the_chatml_fallback(model_path):
    gemma = pyggml.Llama(str(model_path("gemma3-270m-q4_k_m")), n_ctx=128, verbose=False)
    assert gemma.chat_formatter.is_fallback
    ids = gemma.chat_prompt_tokens([{"role": "user", "content": "Hi"}])
    assert ids[0] == gemma.token_bos() and ids[1] != gemma.token_bos()
    out = gemma.create_chat_completion([{"role": "user", "content": "Hi"}], temperature=0, max_tokens=4)
    assert out["usage"]["prompt_tokens"] == len(ids)
    gemma.close()


# ---- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(n_ctx=0), "n_ctx"), (dict(n_ctx=-5), "n_ctx"), (dict(n_ctx=10**6), "n_ctx"),
    (dict(n_batch=0), "n_batch"), (dict(n_threads=0), "n_threads"), (dict(seed=-7), "seed"),
])
def test_bad_constructor_arguments(model_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pyggml.Llama(str(model_path(SMOLLM)), verbose=False, **kwargs)


def test_missing_model_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        pyggml.Llama(str(tmp_path / "nope.gguf"), verbose=False)


def test_unsupported_architecture_is_named(tmp_path):
    tiny = write_tiny_llama(tmp_path / "tiny.gguf")
    with GGUFReader(tiny) as reader:
        writer = GGUFWriter.from_reader(reader, tmp_path / "mamba.gguf")
        writer.set_kv("general.architecture", "mamba")
        writer.write()
    with pytest.raises(ValueError, match="mamba"):
        pyggml.Llama(str(tmp_path / "mamba.gguf"), verbose=False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(top_p=0.0), "top_p"), (dict(top_p=1.01), "top_p"), (dict(temperature=-1.0), "temperature"),
    (dict(min_p=2.0), "min_p"), (dict(top_k=-1), "top_k"), (dict(max_tokens="many"), "max_tokens"),
    (dict(stop=[3]), "stop"),
])
def test_bad_completion_arguments_fail_before_streaming(llm, kwargs, message):
    with pytest.raises(ValueError, match=message):
        llm(FRANCE, **kwargs)
    with pytest.raises(ValueError, match=message):
        llm(FRANCE, stream=True, **kwargs)  # raised by the call, not on the first chunk


def test_empty_and_too_long_prompts(llm):
    with pytest.raises(ValueError, match="empty"):
        llm("")
    with pytest.raises(ValueError, match="exceed context window of 256"):
        llm("hello " * 400)
    with pytest.raises(ValueError, match="vocabulary"):
        llm([1, 2, 10**6])
    with pytest.raises(ValueError, match="exceed context window"):
        llm.create_chat_completion([{"role": "user", "content": "word " * 400}])
