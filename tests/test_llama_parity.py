"""llama-cpp-python parity on a real model: constructor keywords, sampling arguments, logprobs,
hooks (logit_bias, logits_processor, stopping_criteria, min_tokens), suffix, state and cache.
Reference values come from llama.cpp (tests/reference/logits.npz), never from pyggml."""
import pickle

import numpy as np
import pytest

import pyggml
from pyggml import LlamaRAMCache, LogitsProcessorList, StoppingCriteriaList

SMOLLM = "smollm2-135m-q4_1"
FRANCE = "The capital of France is"


@pytest.fixture(scope="module")
def llm(model_path):
    model = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=256, seed=0, verbose=False, n_threads=2)
    yield model
    model.close()


@pytest.fixture(scope="module")
def logits_ref(reference_dir):
    return np.load(reference_dir / "logits.npz")


def _log_softmax(x):
    x = x.astype(np.float64)
    return x - x.max() - np.log(np.exp(x - x.max()).sum())


# ---- constructor ----------------------------------------------------------------------------

def test_gpu_and_no_effect_keywords_are_accepted(model_path):
    llm = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=64, verbose=False, n_gpu_layers=-1, main_gpu=0,
                       tensor_split=None, offload_kqv=True, flash_attn=True, use_mlock=True, use_mmap=True,
                       n_ubatch=128, n_threads_batch=2, numa=False, no_perf=True, split_mode=1,
                       type_k=1, type_v=1, pooling_type=-1, attention_type=-1, rope_freq_base=0.0)
    assert llm.no_effect_params["n_gpu_layers"] == -1
    llm.close()


def test_n_ubatch_is_the_forward_pass_size(model_path):
    """n_ubatch (llama.cpp's physical batch): a prompt runs in passes of min(n_batch, n_ubatch)
    tokens, each with a compute buffer sized for its pass; the logits are the same bits."""
    path = str(model_path(SMOLLM))
    prompt = np.random.default_rng(0).integers(100, 40000, 300).tolist()
    scores, buffers = {}, {}
    for n_ubatch in (512, 100, 64):
        llm = pyggml.Llama(path, n_ctx=512, n_ubatch=n_ubatch, logits_all=True, verbose=False)
        assert (llm.n_batch, llm.n_ubatch) == (512, n_ubatch)
        llm.eval(prompt)
        scores[n_ubatch], buffers[n_ubatch] = llm.scores[:300].copy(), llm.runner.compute_buffer_size
        passes = {min(n_ubatch, 300)} | ({300 % n_ubatch} if 300 % n_ubatch else set())
        assert {key[0] for key in llm.runner._graphs} == passes   # tokens per graph run
        llm.close()
    np.testing.assert_array_equal(scores[100], scores[512])
    np.testing.assert_array_equal(scores[64], scores[512])
    assert buffers[64] < buffers[100] < buffers[512]
    with pytest.raises(ValueError, match="n_ubatch"):
        pyggml.Llama(path, n_ctx=64, n_ubatch=0, verbose=False)


@pytest.mark.parametrize("kwargs, name", [
    ({"lora_path": "x.bin"}, "lora_path"), ({"rope_scaling_type": 2}, "rope_scaling_type"),
    ({"yarn_ext_factor": 0.5}, "yarn_ext_factor"), ({"type_k": 8, "type_v": 8}, "type_k"),
    ({"type_k": 0, "type_v": 1}, "type_k"), ({"attention_type": 1}, "attention_type"),
    ({"pooling_type": 4}, "pooling_type"), ({"chat_format": "llama-2"}, "chat_format"),
    ({"draft_model": object()}, "draft_model"), ({"no_such_argument": 1}, "no_such_argument"),
    ({"kv_overrides": {"a": [1]}}, "kv_overrides"),
])
def test_result_changing_keywords_are_refused_by_name(model_path, kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        pyggml.Llama(str(model_path(SMOLLM)), n_ctx=64, verbose=False, **kwargs)


def test_rope_freq_base_and_kv_overrides_change_the_model(model_path):
    path = str(model_path(SMOLLM))
    base = pyggml.Llama(path, n_ctx=64, verbose=False)
    assert base.runner.config.rope_freq_base == 100000.0   # SmolLM2's own value
    moved = pyggml.Llama(path, n_ctx=64, verbose=False, rope_freq_base=5000.0)
    assert moved.runner.config.rope_freq_base == 5000.0
    over = pyggml.Llama(path, n_ctx=64, verbose=False, kv_overrides={"llama.rope.freq_base": 5000.0})
    assert over.runner.config.rope_freq_base == 5000.0
    outs = [m(FRANCE, max_tokens=1, temperature=0, logprobs=0)["choices"][0]["logprobs"]["token_logprobs"][0]
            for m in (base, moved, over)]
    assert outs[1] == pytest.approx(outs[2], abs=1e-5) and abs(outs[0] - outs[1]) > 1e-3
    for m in (base, moved, over):
        m.close()


# ---- logprobs ---------------------------------------------------------------------------------

def test_completion_logprobs_match_llama_cpp_without_logits_all(llm, logits_ref):
    ids = [int(i) for i in logits_ref[f"{SMOLLM}/p0/ids"]]
    ref = _log_softmax(logits_ref[f"{SMOLLM}/p0/last_logits"])
    out = llm(ids, max_tokens=1, temperature=0, logprobs=5)
    lp = out["choices"][0]["logprobs"]
    assert set(lp) == {"tokens", "text_offset", "token_logprobs", "top_logprobs"}
    best = int(np.argmax(ref))
    assert lp["tokens"][0] == llm.detokenize([best]).decode()
    assert lp["token_logprobs"][0] == pytest.approx(ref[best], abs=0.05)
    top = lp["top_logprobs"][0]
    ref_top = np.argsort(-ref)[:5]
    for t in ref_top[:3]:     # the clear leaders; the tail may swap within quantization noise
        assert top[llm.detokenize([int(t)]).decode()] == pytest.approx(ref[t], abs=0.05)


def test_logprobs_offsets_and_streaming_agree(llm):
    full = llm(FRANCE, max_tokens=6, temperature=0, logprobs=2)["choices"][0]
    lp = full["logprobs"]
    assert "".join(lp["tokens"]) == full["text"]
    assert lp["text_offset"][0] == len(FRANCE)
    assert all(b - a == len(t) for a, b, t in zip(lp["text_offset"], lp["text_offset"][1:], lp["tokens"]))
    chunks = list(llm(FRANCE, max_tokens=6, temperature=0, logprobs=2, stream=True))
    streamed = [t for c in chunks if c["choices"][0]["logprobs"] for t in c["choices"][0]["logprobs"]["tokens"]]
    assert streamed == lp["tokens"]


def test_echo_logprobs_cover_the_prompt(llm):
    lp = llm(FRANCE, max_tokens=2, temperature=0, logprobs=1, echo=True)["choices"][0]["logprobs"]
    n_prompt = len(llm.tokenize(FRANCE.encode(), add_bos=False))
    assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
    assert "".join(lp["tokens"][:n_prompt]) == FRANCE
    assert all(isinstance(x, float) and x <= 0 for x in lp["token_logprobs"][1:])


def test_chat_logprobs_in_openai_shape(llm):
    out = llm.create_chat_completion([{"role": "user", "content": "Hi"}], logprobs=True, top_logprobs=3,
                                     max_tokens=4, temperature=0)
    content = out["choices"][0]["logprobs"]["content"]
    assert len(content) == out["usage"]["completion_tokens"]
    for item in content:
        assert set(item) == {"token", "logprob", "bytes", "top_logprobs"}
        assert len(item["top_logprobs"]) == 3
        # greedy: the chosen token is the most likely one
        assert item["logprob"] == pytest.approx(item["top_logprobs"][0]["logprob"])
        assert bytes(item["bytes"]).decode() == item["token"]


# ---- sampling hooks ---------------------------------------------------------------------------

def test_logit_bias_bans_and_forces_tokens(llm):
    first = llm(FRANCE, max_tokens=1, temperature=0, logprobs=0)["choices"][0]["logprobs"]
    paris = llm.tokenize(first["tokens"][0].encode(), add_bos=False)[0]
    banned = llm(FRANCE, max_tokens=1, temperature=0, logit_bias={str(paris): -100})["choices"][0]["text"]
    assert banned != first["tokens"][0]
    forced = llm.tokenize(b" banana", add_bos=False)[0]
    text = llm(FRANCE, max_tokens=1, temperature=0, logit_bias={forced: 100.0})["choices"][0]["text"]
    assert text == llm.detokenize([forced]).decode()


def test_logits_processor_sees_history_and_changes_scores(llm):
    seen = []

    def only_token(input_ids, scores):
        seen.append(len(input_ids))
        out = np.full_like(scores, -np.inf)
        out[1000] = 0.0
        return out

    out = llm(FRANCE, max_tokens=3, temperature=0.7, seed=1, logits_processor=LogitsProcessorList([only_token]))
    assert llm.tokenize(out["choices"][0]["text"].encode(), add_bos=False) == [1000, 1000, 1000]
    n_prompt = len(llm.tokenize(FRANCE.encode()))
    assert seen == [n_prompt, n_prompt + 1, n_prompt + 2]


def test_stopping_criteria_stop_with_reason_stop(llm):
    calls = []

    def after_two(input_ids, logits):
        calls.append(len(input_ids))
        return len(calls) > 2

    out = llm(FRANCE, max_tokens=20, temperature=0, stopping_criteria=StoppingCriteriaList([after_two]))
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"]["completion_tokens"] == 2


def test_min_tokens_bans_end_of_generation(llm):
    eos = llm.token_eos()
    out = llm(FRANCE, max_tokens=4, temperature=0, min_tokens=4, logit_bias={eos: 100.0})
    assert out["usage"]["completion_tokens"] == 4 and out["choices"][0]["finish_reason"] == "length"
    out = llm(FRANCE, max_tokens=4, temperature=0, logit_bias={eos: 100.0})
    assert out["usage"]["completion_tokens"] == 0 and out["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("kwargs", [{"mirostat_mode": 1}, {"mirostat_mode": 2, "mirostat_tau": 3.0},
                                    {"typical_p": 0.6}, {"presence_penalty": 1.0, "frequency_penalty": 0.5}])
def test_sampling_options_are_seeded_and_reproducible(llm, kwargs):
    a = llm(FRANCE, max_tokens=8, seed=7, **kwargs)["choices"][0]["text"]
    b = llm(FRANCE, max_tokens=8, seed=7, **kwargs)["choices"][0]["text"]
    assert a == b and a


def test_tfs_z_other_than_off_is_refused(llm):
    with pytest.raises(ValueError, match="tfs_z"):
        llm(FRANCE, max_tokens=1, tfs_z=0.9)


def test_suffix_uses_the_fim_tokens(llm):
    special = llm.tokenizer.vocab.special_ids
    if special.get("fim_pre") is None:
        with pytest.raises(ValueError, match="fill-in-the-middle"):
            llm("def add(a, b):\n", suffix="\n    return c\n", max_tokens=4)
    else:
        out = llm("def add(a, b):\n", suffix="\n    return c\n", max_tokens=4, temperature=0)
        assert out["usage"]["prompt_tokens"] > len(llm.tokenize(b"def add(a, b):\n"))


# ---- state and prompt cache -------------------------------------------------------------------

def test_save_and_load_state_resume_generation_exactly(llm):
    llm.reset()
    prompt = llm.tokenize(FRANCE.encode())
    llm.eval(prompt)
    state = pickle.loads(pickle.dumps(llm.save_state()))
    assert state.n_tokens == len(prompt)
    want = [t for _, t in zip(range(5), llm.generate([], temp=0, reset=False))]
    llm.reset()
    llm.eval(llm.tokenize(b"Something else entirely, to overwrite the cache"))
    llm.load_state(state)
    assert list(llm.input_ids) == prompt
    got = [t for _, t in zip(range(5), llm.generate([], temp=0, reset=False))]
    assert got == want


def test_ram_cache_restores_a_shared_prefix(llm):
    system = "You are a terse assistant. Answer in one word. " * 4
    llm.set_cache(LlamaRAMCache(capacity_bytes=64 << 20))
    try:
        first = llm(system + "Q: capital of France?", max_tokens=3, temperature=0)["choices"][0]["text"]
        llm.reset()
        evaluated = llm.runner.timings["prompt_tokens"]
        again = llm(system + "Q: capital of France?", max_tokens=3, temperature=0)["choices"][0]["text"]
        # the cached state covers the prompt: one token is re-evaluated for fresh logits
        assert llm.runner.timings["prompt_tokens"] - evaluated <= 1
        assert again == first
    finally:
        llm.set_cache(None)


def test_ram_cache_evicts_least_recently_used(llm):
    llm.reset()
    llm.eval(llm.tokenize(FRANCE.encode()))
    state = llm.save_state()
    cache = LlamaRAMCache(capacity_bytes=int(state.llama_state_size * 2.5))
    cache[[1, 2, 3]] = state
    cache[[4, 5]] = state
    assert [1, 2, 3, 9] in cache and cache[[1, 2, 3, 9]] is state
    cache[[6]] = state    # over capacity: [4, 5] is now the least recently used
    assert [4, 5] not in cache and [1, 2, 3] in cache and [6, 7] in cache


def test_interleaved_streams_raise_instead_of_mixing(llm):
    first = llm(FRANCE, max_tokens=6, temperature=0, stream=True)
    next(first)
    alone = llm("Once upon a time", max_tokens=6, temperature=0)["choices"][0]["text"]
    second = llm("Once upon a time", max_tokens=6, temperature=0, stream=True)
    head = next(second)
    with pytest.raises(RuntimeError, match="another generation"):
        list(first)
    text = "".join(c["choices"][0]["text"] for c in [head, *second])
    assert text == alone   # the newer stream is intact


def test_responses_validate_as_openai_types(llm):
    from openai.types import Completion   # the client's own models
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    Completion.model_validate(llm(FRANCE, max_tokens=3, temperature=0, logprobs=2))
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    tools = [{"type": "function", "function": {"name": "w", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]}}}]
    done = ChatCompletion.model_validate(llm.create_chat_completion(msgs, tools=tools, tool_choice="required",
                                                                    max_tokens=30, temperature=0))
    assert done.choices[0].finish_reason == "tool_calls" and done.choices[0].message.tool_calls[0].function.name == "w"
    lp = ChatCompletion.model_validate(llm.create_chat_completion(msgs, max_tokens=3, temperature=0, logprobs=True,
                                                                  top_logprobs=2))
    assert len(lp.choices[0].logprobs.content) == lp.usage.completion_tokens
    for chunk in llm.create_chat_completion(msgs, max_tokens=3, temperature=0, stream=True, logprobs=True):
        ChatCompletionChunk.model_validate(chunk)
    for chunk in llm.create_chat_completion(msgs, tools=tools, tool_choice="required", max_tokens=30, stream=True):
        ChatCompletionChunk.model_validate(chunk)
    typed = llm.create_chat_completion_openai_v1(msgs, max_tokens=2, temperature=0)
    assert isinstance(typed, ChatCompletion)


def test_chat_format_chatml_overrides_the_template(model_path):
    llm = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=64, verbose=False, chat_format="chatml")
    text = llm.detokenize(llm.chat_prompt_tokens([{"role": "user", "content": "hi"}]), special=True).decode()
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"   # no SmolLM2 system line
    llm.close()
