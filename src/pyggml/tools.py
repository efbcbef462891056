"""OpenAI tool calling over a chat template: prompts, forced-call grammars, and parsing replies.

A GGUF chat template that mentions `tools` is rendered with `tools=[...]` (it writes its own
instructions, e.g. Hermes/Qwen's <tool_call> tags). Otherwise pyggml uses a generic format:
a system message lists the functions as JSON and asks for a reply that is only

    {"name": "<function name>", "arguments": {...}}

Earlier assistant tool calls are shown in that same form, tool results keep role "tool".

tool_choice: "none" renders no tools; "auto" renders them and parses the free reply (a
<tool_call>{...}</tool_call> block or a bare {"name", "arguments"} object naming a known tool);
"required" or {"type": "function", "function": {"name": ...}} constrain the reply with a grammar
to a call whose arguments match the function's parameters schema. One call per reply.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any, Mapping, Sequence

GENERIC_TOOL_PROMPT = (
    "You can call the following functions. To call one, reply with only a JSON object of the form "
    '{"name": <function name>, "arguments": <arguments object>} and nothing else.\n\nFunctions:\n')

_TOOL_CALL_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)


def check_tools(tools, functions=None) -> list[dict]:
    """tools (or the legacy `functions` list) as OpenAI tool dicts, each checked."""
    if tools is None and functions is not None:
        tools = [{"type": "function", "function": f} for f in functions]
    if tools is None:
        return []
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise ValueError("tools must be a list of {'type': 'function', 'function': {...}} dicts")
    checked = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(tool, Mapping) or tool.get("type", "function") != "function" or not isinstance(fn, Mapping):
            raise ValueError(f"tools[{i}] must be {{'type': 'function', 'function': {{'name': ..., 'parameters': ...}}}}")
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise ValueError(f"tools[{i}]['function']['name'] must be a non-empty string")
        params = fn.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(params, Mapping):
            raise ValueError(f"tools[{i}]['function']['parameters'] must be a JSON schema dict")
        checked.append({"type": "function", "function": dict(fn, parameters=dict(params))})
    return checked


def forced_tool_names(tools: list[dict], tool_choice) -> list[str] | None:
    """Names a grammar must restrict the reply to, or None when the reply is free."""
    names = [t["function"]["name"] for t in tools]
    if tool_choice is None:
        tool_choice = "auto" if tools else "none"
    if tool_choice in ("auto", "none"):
        return None
    if not tools:
        raise ValueError(f"tool_choice={tool_choice!r} needs tools")
    if tool_choice == "required":
        return names
    if isinstance(tool_choice, Mapping):
        fn = tool_choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else tool_choice.get("name")
        if name not in names:
            raise ValueError(f"tool_choice names {name!r}, which is not in tools ({', '.join(names)})")
        return [name]
    raise ValueError(f"tool_choice must be 'auto', 'none', 'required' or "
                     f"{{'type': 'function', 'function': {{'name': ...}}}}, got {tool_choice!r}")


def call_schema(tools: list[dict], names: list[str]) -> dict:
    """JSON schema of {"name": one of names, "arguments": that function's parameters}."""
    options = []
    for tool in tools:
        fn = tool["function"]
        if fn["name"] in names:
            options.append({"type": "object", "properties": {"name": {"const": fn["name"]},
                                                             "arguments": fn["parameters"]},
                            "required": ["name", "arguments"], "additionalProperties": False})
    return options[0] if len(options) == 1 else {"anyOf": options}


def template_knows_tools(template_source: str) -> bool:
    return re.search(r"\btools\b", template_source) is not None


def generic_messages(messages: Sequence[Mapping[str, Any]], tools: list[dict]) -> list[dict]:
    """Messages for a template that does not know tools: the tool list in the system message,
    earlier calls as their JSON text."""
    out = [dict(m) for m in messages]
    for m in out:
        calls = m.get("tool_calls")
        if m.get("role") == "assistant" and calls:
            texts = []
            for call in calls:
                fn = call.get("function", {})
                args = fn.get("arguments", "{}")
                try:
                    args = json.loads(args) if isinstance(args, str) else args
                except ValueError:
                    pass
                texts.append(json.dumps({"name": fn.get("name"), "arguments": args}, ensure_ascii=False))
            m["content"] = ((m.get("content") or "") + "\n".join(texts)).strip()
            del m["tool_calls"]
    if tools:
        listing = "\n".join(json.dumps(t["function"], ensure_ascii=False) for t in tools)
        prompt = GENERIC_TOOL_PROMPT + listing
        if out and out[0].get("role") == "system":
            out[0]["content"] = f"{out[0].get('content') or ''}\n\n{prompt}".lstrip()
        else:
            out.insert(0, {"role": "system", "content": prompt})
    return out


def parse_tool_calls(text: str, tools: list[dict]) -> list[dict]:
    """OpenAI tool_calls found in a reply: <tool_call> blocks, else the whole reply as one
    {"name", "arguments"} object. A name not in tools is not a call."""
    names = {t["function"]["name"] for t in tools}
    candidates = _TOOL_CALL_TAG.findall(text) or [text.strip()]
    calls = []
    for candidate in candidates:
        try:
            obj = json.loads(candidate)
        except ValueError:
            continue
        if not isinstance(obj, dict) or obj.get("name") not in names:
            continue
        args = obj.get("arguments", obj.get("parameters", {}))
        if not isinstance(args, str):
            args = json.dumps(args, ensure_ascii=False)
        calls.append({"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                      "function": {"name": obj["name"], "arguments": args}})
    return calls
