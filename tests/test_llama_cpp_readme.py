"""llama-cpp-python's README examples, in their own form (same calls, same dicts, same keys),
with only the import changed: `from pyggml import Llama` for `from llama_cpp import Llama`."""
import json
import pickle

import jsonschema
import pytest

from pyggml import Llama, LlamaGrammar, LlamaRAMCache

SMOLLM = "smollm2-135m-q4_1"


@pytest.fixture(scope="module")
def llm(model_path):
    llm = Llama(model_path=str(model_path(SMOLLM)), n_gpu_layers=-1, seed=1337, n_ctx=2048, verbose=False)
    yield llm
    llm.close()


def test_high_level_completion(llm):
    output = llm(
        "Q: Name the planets in the solar system? A: ",  # Prompt
        max_tokens=32,  # Generate up to 32 tokens, set to None to generate up to the end of the context window
        stop=["Q:", "\n"],  # Stop generating just before the model would generate a new question
        echo=True  # Echo the prompt back in the output
    )  # Generate a completion, can also call create_completion
    assert set(output) == {"id", "object", "created", "model", "choices", "usage"}
    assert output["object"] == "text_completion"
    choice = output["choices"][0]
    assert set(choice) == {"text", "index", "logprobs", "finish_reason"}
    assert choice["text"].startswith("Q: Name the planets in the solar system? A: ")
    assert "\n" not in choice["text"] and choice["finish_reason"] in ("stop", "length")
    assert set(output["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_chat_completion(llm):
    out = llm.create_chat_completion(
        messages=[
            {"role": "system", "content": "You are an assistant who perfectly describes images."},
            {"role": "user", "content": "Describe this image in detail please."}
        ],
        max_tokens=64,  # (not in the README: keeps the test short)
    )
    assert out["object"] == "chat.completion"
    message = out["choices"][0]["message"]
    assert message["role"] == "assistant" and isinstance(message["content"], str)


def test_json_mode(llm):
    out = llm.create_chat_completion(
        messages=[
            {"role": "system", "content": "You are a helpful assistant that outputs in JSON."},
            {"role": "user", "content": "Who won the world series in 2020"},
        ],
        response_format={
            "type": "json_object",
        },
        temperature=0.7,
        max_tokens=64,
    )
    choice = out["choices"][0]
    if choice["finish_reason"] == "stop":
        assert isinstance(json.loads(choice["message"]["content"]), dict)
    else:
        assert choice["message"]["content"].startswith("{")


def test_json_schema_mode(llm):
    out = llm.create_chat_completion(
        messages=[
            {"role": "system", "content": "You are a helpful assistant that outputs in JSON."},
            {"role": "user", "content": "Who won the world series in 2020"},
        ],
        response_format={
            "type": "json_object",
            "schema": {
                "type": "object",
                "properties": {"team_name": {"type": "string", "maxLength": 40}},
                "required": ["team_name"],
                "additionalProperties": False,
            },
        },
        temperature=0.7,
    )
    content = json.loads(out["choices"][0]["message"]["content"])
    assert isinstance(content["team_name"], str)


def test_function_calling(llm):
    out = llm.create_chat_completion(
        messages=[
            {
                "role": "system",
                "content": "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
                           "helpful, detailed, and polite answers to the user's questions. The assistant calls functions "
                           "with appropriate input when necessary"
            },
            {
                "role": "user",
                "content": "Extract Jason is 25 years old"
            }
        ],
        tools=[{
            "type": "function",
            "function": {
                "name": "UserDetail",
                "parameters": {
                    "type": "object",
                    "title": "UserDetail",
                    "properties": {
                        "name": {
                            "title": "Name",
                            "type": "string"
                        },
                        "age": {
                            "title": "Age",
                            "type": "integer"
                        }
                    },
                    "required": ["name", "age"]
                }
            }
        }],
        tool_choice={
            "type": "function",
            "function": {
                "name": "UserDetail"
            }
        },
        max_tokens=48,
        temperature=0,
    )
    call = out["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "UserDetail"
    args = json.loads(call["function"]["arguments"])
    jsonschema.validate(args, {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                               "required": ["name", "age"]})


def test_embeddings(model_path):
    llm = Llama(model_path=str(model_path(SMOLLM)), embedding=True, verbose=False)
    embeddings = llm.create_embedding("Hello, world!")
    # or create multiple embeddings at once
    embeddings = llm.create_embedding(["Hello, world!", "Goodbye, world!"])
    assert len(embeddings["data"]) == 2
    # llama.cpp's default pooling for this model is none: one vector per token
    assert len(embeddings["data"][0]["embedding"][0]) == llm.n_embd()
    llm.close()


def test_grammar_from_string_and_json_schema(llm):
    grammar = LlamaGrammar.from_string('root ::= "yes" | "no"')
    out = llm("Is water wet? ", grammar=grammar, max_tokens=4)
    assert out["choices"][0]["text"] in ("yes", "no")
    grammar = LlamaGrammar.from_json_schema(json.dumps({"type": "object", "properties": {"ok": {"type": "boolean"}},
                                                        "required": ["ok"], "additionalProperties": False}))
    out = llm("Answer in JSON: ", grammar=grammar, max_tokens=16)
    assert isinstance(json.loads(out["choices"][0]["text"])["ok"], bool)


def test_save_state_cache_and_pickle(llm):
    llm.set_cache(LlamaRAMCache())
    llm("Once upon a time", max_tokens=4)
    state = llm.save_state()
    restored = pickle.loads(pickle.dumps(state))
    llm.reset()
    llm.load_state(restored)
    assert llm.n_tokens == state.n_tokens
    llm.set_cache(None)


def test_low_level_tokenize_generate(llm):
    tokens = llm.tokenize(b"Hello, world!")
    for token in llm.generate(tokens, top_k=40, top_p=0.95, temp=1.0, repeat_penalty=1.1):
        assert 0 <= token < llm.n_vocab()
        break
    assert llm.detokenize(tokens) == b"Hello, world!"
