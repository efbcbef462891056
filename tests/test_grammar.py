"""Structured output through llguidance on a real model: every output that stops for
end-of-generation parses and validates (jsonschema is the judge), GBNF / regex / Lark grammars
hold, response_format works in llama-cpp-python's and OpenAI's shapes, and bad grammars fail
with clear errors."""
import json
import re

import jsonschema
import pytest

import pyggml
from pyggml import LlamaGrammar
from pyggml.grammar import GrammarError

SMOLLM = "smollm2-135m-q4_1"

# nested objects, arrays, enums, numbers with bounds, optional fields
SCHEMAS = {
    "person": {"type": "object", "additionalProperties": False, "required": ["name", "age"],
               "properties": {"name": {"type": "string", "maxLength": 24},
                              "age": {"type": "integer", "minimum": 0, "maximum": 120},
                              "email": {"type": "string", "maxLength": 30}}},
    "nested": {"type": "object", "additionalProperties": False, "required": ["user", "tags"],
               "properties": {"user": {"type": "object", "additionalProperties": False, "required": ["id", "role"],
                                       "properties": {"id": {"type": "integer", "minimum": 1, "maximum": 9999},
                                                      "role": {"enum": ["admin", "editor", "viewer"]}}},
                              "tags": {"type": "array", "items": {"type": "string", "maxLength": 10},
                                       "minItems": 1, "maxItems": 3}}},
    "numbers": {"type": "object", "additionalProperties": False, "required": ["ratio", "count", "ok"],
                "properties": {"ratio": {"type": "number", "minimum": 0, "maximum": 1},
                               "count": {"type": "integer", "exclusiveMinimum": 10, "maximum": 99},
                               "ok": {"type": "boolean"}, "note": {"type": ["string", "null"], "maxLength": 12}}},
    "list_of_enums": {"type": "array", "items": {"enum": ["red", "green", "blue", 7, None]},
                      "minItems": 2, "maxItems": 4},
}


@pytest.fixture(scope="module")
def llm(model_path):
    model = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=512, seed=0, verbose=False, n_threads=2)
    yield model
    model.close()


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@pytest.mark.parametrize("seed, temperature", [(0, 0.0), (1, 1.0)])
def test_schema_corpus_outputs_always_validate(llm, name, seed, temperature):
    schema = SCHEMAS[name]
    out = llm.create_chat_completion(
        [{"role": "user", "content": f"Reply with a JSON value for this schema: {json.dumps(schema)}"}],
        response_format={"type": "json_object", "schema": schema}, temperature=temperature, seed=seed,
        max_tokens=120)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "stop", choice
    jsonschema.validate(json.loads(choice["message"]["content"]), schema)


def test_openai_json_schema_shape_and_plain_json_mode(llm):
    schema = SCHEMAS["person"]
    out = llm.create_chat_completion(
        [{"role": "user", "content": "A person as JSON."}], temperature=0, max_tokens=80,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}})
    jsonschema.validate(json.loads(out["choices"][0]["message"]["content"]), schema)
    out = llm.create_chat_completion([{"role": "user", "content": "Any JSON object."}], temperature=0.7, seed=3,
                                     max_tokens=48, response_format={"type": "json_object"})
    if out["choices"][0]["finish_reason"] == "stop":
        assert isinstance(json.loads(out["choices"][0]["message"]["content"]), dict)
    else:   # cut by max_tokens: still a prefix of an object
        assert out["choices"][0]["message"]["content"].startswith("{")


GBNF = r'''
root   ::= answer " because " reason "."
answer ::= "yes" | "no"
reason ::= [a-z]+ (" " [a-z]+){0,6}
'''


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_gbnf_grammar_outputs_match_the_language(llm, seed):
    grammar = LlamaGrammar.from_string(GBNF)
    out = llm("Is the sky blue? Answer:", grammar=grammar, temperature=0.9, seed=seed, max_tokens=40)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert re.fullmatch(r"(yes|no) because [a-z]+( [a-z]+){0,6}\.", choice["text"]), choice["text"]


def test_grammar_from_file_and_streaming(llm, tmp_path):
    path = tmp_path / "list.gbnf"
    path.write_text('root ::= "[" num ("," num){2} "]"\nnum ::= [1-9] [0-9]?\n')
    grammar = LlamaGrammar.from_file(path)
    chunks = list(llm("Three numbers:", grammar=grammar, stream=True, temperature=0.5, seed=4, max_tokens=20))
    text = "".join(c["choices"][0]["text"] for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert re.fullmatch(r"\[[1-9][0-9]?(,[1-9][0-9]?){2}\]", text), text


def test_regex_and_json_schema_grammars_on_completions(llm):
    out = llm("Phone:", grammar=LlamaGrammar.from_regex(r"\+1 \d{3}-\d{3}-\d{4}"), temperature=0.8, seed=5,
              max_tokens=30)["choices"][0]
    assert out["finish_reason"] == "stop" and re.fullmatch(r"\+1 \d{3}-\d{3}-\d{4}", out["text"])
    schema = SCHEMAS["nested"]
    out = llm("JSON:", grammar=LlamaGrammar.from_json_schema(json.dumps(schema)), temperature=0, max_tokens=100)
    jsonschema.validate(json.loads(out["choices"][0]["text"]), schema)


def test_grammar_with_logprobs_and_seeded_reproducibility(llm):
    grammar = LlamaGrammar.from_string('root ::= "a" | "b" | "c"')
    a = llm("Pick a letter:", grammar=grammar, temperature=1.0, seed=11, max_tokens=3, logprobs=2)
    b = llm("Pick a letter:", grammar=grammar, temperature=1.0, seed=11, max_tokens=3, logprobs=2)
    assert a["choices"][0]["text"] == b["choices"][0]["text"] in ("a", "b", "c")
    assert a["choices"][0]["logprobs"]["tokens"] == [a["choices"][0]["text"]]


@pytest.mark.parametrize("make, match", [
    (lambda: LlamaGrammar.from_string("root ::= missing"), "missing"),
    (lambda: LlamaGrammar.from_string(""), "non-empty"),
    (lambda: LlamaGrammar.from_json_schema("{not json"), "not valid JSON"),
    (lambda: LlamaGrammar.from_json_schema({"type": "object", "properties": {"a": {"type": "strange"}}}), "compile"),
    (lambda: LlamaGrammar.from_regex("(unclosed"), "compile"),
    (lambda: LlamaGrammar.from_file("/nonexistent/grammar.gbnf"), "cannot read"),
])
def test_bad_grammars_raise_clear_errors(make, match):
    with pytest.raises(GrammarError, match=match):
        make()


def test_conflicting_constraints_and_bad_response_format_are_refused(llm):
    msgs = [{"role": "user", "content": "hi"}]
    with pytest.raises(ValueError, match="at most one"):
        llm.create_chat_completion(msgs, grammar=LlamaGrammar.from_regex("a"), response_format={"type": "json_object"})
    with pytest.raises(ValueError, match="response_format"):
        llm.create_chat_completion(msgs, response_format={"type": "yaml"})
    with pytest.raises(ValueError, match="grammar must be a LlamaGrammar"):
        llm("x", grammar="root ::= \"a\"")
