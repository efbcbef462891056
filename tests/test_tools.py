"""OpenAI tool calling on a real model: forced calls are grammar-constrained to the function's
parameters (jsonschema judges), replies have OpenAI's tool_calls shape, templates that know
`tools` render them, others get the documented generic format."""
import json

import jsonschema
import pytest

import pyggml
from pyggml.chat import ChatFormatter
from pyggml.tools import GENERIC_TOOL_PROMPT, parse_tool_calls

SMOLLM = "smollm2-135m-q4_1"

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "additionalProperties": False, "required": ["city", "unit"],
                   "properties": {"city": {"type": "string", "maxLength": 30},
                                  "unit": {"enum": ["celsius", "fahrenheit"]}}}}}
ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two integers",
    "parameters": {"type": "object", "additionalProperties": False, "required": ["a", "b"],
                   "properties": {"a": {"type": "integer", "minimum": -1000, "maximum": 1000},
                                  "b": {"type": "integer", "minimum": -1000, "maximum": 1000}}}}}
TOOLS = [WEATHER, ADD]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def llm(model_path):
    model = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=512, seed=0, verbose=False, n_threads=2)
    yield model
    model.close()


def _check_call(call, tools):
    assert set(call) == {"id", "type", "function"} and call["type"] == "function"
    assert call["id"].startswith("call_")
    fn = next(t["function"] for t in tools if t["function"]["name"] == call["function"]["name"])
    assert isinstance(call["function"]["arguments"], str)
    jsonschema.validate(json.loads(call["function"]["arguments"]), fn["parameters"])


@pytest.mark.parametrize("seed, temperature", [(0, 0.0), (1, 1.0), (2, 1.0)])
def test_named_tool_choice_forces_a_valid_call(llm, seed, temperature):
    out = llm.create_chat_completion(ASK, tools=TOOLS, temperature=temperature, seed=seed, max_tokens=60,
                                     tool_choice={"type": "function", "function": {"name": "add"}})
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["role"] == "assistant" and message["content"] is None
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["add"]
    _check_call(message["tool_calls"][0], TOOLS)


def test_required_tool_choice_calls_one_of_the_tools(llm):
    out = llm.create_chat_completion(ASK, tools=TOOLS, tool_choice="required", temperature=0, max_tokens=60)
    calls = out["choices"][0]["message"]["tool_calls"]
    assert len(calls) == 1 and calls[0]["function"]["name"] in ("get_weather", "add")
    _check_call(calls[0], TOOLS)


def test_tool_choice_none_replies_with_text(llm):
    out = llm.create_chat_completion(ASK, tools=TOOLS, tool_choice="none", temperature=0, max_tokens=8)
    message = out["choices"][0]["message"]
    assert "tool_calls" not in message and isinstance(message["content"], str)
    assert GENERIC_TOOL_PROMPT not in llm.detokenize(llm.chat_prompt_tokens(ASK), special=True).decode()


def test_auto_tool_choice_gives_text_or_a_valid_call(llm):
    out = llm.create_chat_completion(ASK, tools=TOOLS, tool_choice="auto", temperature=0, max_tokens=60)
    choice = out["choices"][0]
    if choice["message"].get("tool_calls"):
        assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
        for call in choice["message"]["tool_calls"]:
            assert call["function"]["name"] in ("get_weather", "add")
            json.loads(call["function"]["arguments"])
    else:
        assert isinstance(choice["message"]["content"], str)


def test_streamed_forced_call_arrives_as_a_tool_calls_delta(llm):
    chunks = list(llm.create_chat_completion(ASK, tools=TOOLS, tool_choice={"type": "function", "function": {
        "name": "get_weather"}}, temperature=0, max_tokens=60, stream=True))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert len(deltas) == 1
    call = deltas[0]["tool_calls"][0]
    assert call["index"] == 0
    _check_call({k: v for k, v in call.items() if k != "index"}, TOOLS)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


def test_legacy_functions_and_function_call(llm):
    out = llm.create_chat_completion(ASK, functions=[WEATHER["function"]], function_call={"name": "get_weather"},
                                     temperature=0, max_tokens=60)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "function_call"
    assert choice["message"]["function_call"]["name"] == "get_weather"
    _check_call(choice["message"]["tool_calls"][0], TOOLS)


def test_generic_format_renders_tools_and_earlier_calls(llm):
    history = ASK + [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"}]
    text = llm.detokenize(llm.chat_prompt_tokens(history, TOOLS), special=True).decode()
    assert GENERIC_TOOL_PROMPT.strip() in text
    assert json.dumps(WEATHER["function"]) in text
    assert '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}' in text
    assert "<|im_start|>tool\n18 C, sunny" in text


def test_a_template_that_knows_tools_renders_them(llm):
    template = ("{% if tools %}<|im_start|>system\nTOOLS:{% for t in tools %} {{ t['function']['name'] }}{% endfor %}"
                "<|im_end|>\n{% endif %}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                "<|im_end|>\n{% endfor %}<|im_start|>assistant\n")
    saved = llm._chat_formatter
    llm._chat_formatter = ChatFormatter(template)
    try:
        text = llm.detokenize(llm.chat_prompt_tokens(ASK, TOOLS), special=True).decode()
        assert "TOOLS: get_weather add" in text and GENERIC_TOOL_PROMPT not in text
    finally:
        llm._chat_formatter = saved


def test_parse_tool_calls_reads_tags_and_bare_objects():
    calls = parse_tool_calls('<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>', TOOLS)
    assert calls[0]["function"] == {"name": "add", "arguments": '{"a": 1, "b": 2}'}
    assert parse_tool_calls(' {"name": "get_weather", "parameters": {"city": "X"}}', TOOLS)[0]["function"][
        "arguments"] == '{"city": "X"}'
    assert parse_tool_calls('{"name": "unknown", "arguments": {}}', TOOLS) == []
    assert parse_tool_calls("It is sunny.", TOOLS) == []


@pytest.mark.parametrize("kwargs, match", [
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "nope"),
    ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
    ({"tool_choice": "required"}, "needs tools"),
    ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "name"),
    ({"tools": "get_weather"}, "tools must be a list"),
])
def test_bad_tool_arguments_are_refused(llm, kwargs, match):
    with pytest.raises(ValueError, match=match):
        llm.create_chat_completion(ASK, max_tokens=4, **kwargs)
