"""Llama.create_chat_completion's work: the template (with tools), the constraint (grammar,
response_format or a forced tool call), generation, and the reply in OpenAI's shapes.

Streaming with tools on: a reply may be a tool call, which is known only at its end, so it is
sent as one delta when complete (a tool_calls delta, or the content).
"""
from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Iterator

from .grammar import LlamaGrammar, grammar_for_response_format
from .logprobs import chat_logprobs
from .sampling import SamplingParams
from .tools import call_schema, check_tools, forced_tool_names, parse_tool_calls

if TYPE_CHECKING:
    from .llama import Llama


def chat_completion(llm: Llama, messages, params: SamplingParams, *, functions=None, function_call=None,
                    tools=None, tool_choice=None, stream=False, stop=None, seed=None, response_format=None,
                    max_tokens=None, model=None, logits_processor=None, grammar=None, logit_bias=None,
                    logprobs=None, top_logprobs=None, stopping_criteria=None, min_tokens=0):
    from .llama import CHATML_END, Outcome
    from .stops import stop_list

    legacy = tools is None and functions is not None
    tools = check_tools(tools, functions)
    if legacy and function_call is not None:
        tool_choice = function_call if isinstance(function_call, str) else {"type": "function",
                                                                             "function": function_call}
    forced = forced_tool_names(tools, tool_choice)
    use_tools = tools if tools and tool_choice != "none" else []
    constraints = [g for g in (grammar, grammar_for_response_format(response_format)) if g is not None]
    if forced:
        constraints.append(LlamaGrammar.from_json_schema(call_schema(tools, forced)))
    if len(constraints) > 1:
        raise ValueError("give at most one of grammar, response_format and a forced tool_choice")
    n_logprobs = None
    if logprobs:
        n_logprobs = 0 if top_logprobs is None else top_logprobs
        if isinstance(n_logprobs, bool) or not isinstance(n_logprobs, int) or not 0 <= n_logprobs <= 20:
            raise ValueError(f"top_logprobs must be an integer in 0..20, got {top_logprobs!r}")
    prompt_ids = llm.chat_prompt_tokens(messages, use_tools)
    stops = stop_list(stop)
    if llm.chat_formatter.is_fallback and CHATML_END not in stops:
        stops.append(CHATML_END)
    max_new = llm._max_new_tokens(max_tokens, len(prompt_ids))
    sampler = llm._sampler(params, seed, logits_processor, logit_bias,
                            constraints[0] if constraints else None, min_tokens)
    outcome = Outcome()
    pieces = llm._text_loop(prompt_ids, sampler, stops, max_new, outcome, n_logprobs, stopping_criteria)
    head = {"id": f"chatcmpl-{uuid.uuid4()}", "created": int(time.time()), "model": model or llm.model_path}

    def lp(entries) -> dict | None:
        return chat_logprobs(entries) if n_logprobs is not None else None

    def finish(text: str) -> tuple[dict, str]:
        calls = parse_tool_calls(text, tools) if use_tools else []
        if not calls:
            return {"role": "assistant", "content": text}, outcome.finish_reason
        message = {"role": "assistant", "content": None, "tool_calls": calls}
        if legacy:
            message["function_call"] = dict(calls[0]["function"])
            return message, "function_call"
        return message, "tool_calls"

    def chunk(delta: dict, finish_reason: str | None, logprobs_: dict | None = None) -> dict:
        return dict(head, object="chat.completion.chunk", choices=[
            {"index": 0, "delta": delta, "logprobs": logprobs_, "finish_reason": finish_reason}])

    if stream:
        def chunks() -> Iterator[dict]:
            yield chunk({"role": "assistant"}, None)
            if not use_tools:
                for piece, entries in pieces:
                    yield chunk({"content": piece}, None, lp(entries))
                yield chunk({}, outcome.finish_reason)
                return
            # a reply may be a tool call: known only at its end
            parts = list(pieces)
            message, reason = finish("".join(p for p, _ in parts))
            entries = [e for _, es in parts for e in es]
            if message.get("tool_calls"):
                delta = {"tool_calls": [dict(c, index=i) for i, c in enumerate(message["tool_calls"])]}
                if legacy:
                    delta["function_call"] = message["function_call"]
                yield chunk(delta, None, lp(entries))
            else:
                yield chunk({"content": message["content"]}, None, lp(entries))
            yield chunk({}, reason)
        return chunks()
    parts = list(pieces)
    message, reason = finish("".join(p for p, _ in parts))
    return dict(head, object="chat.completion", choices=[
        {"index": 0, "message": message, "logprobs": lp([e for _, es in parts for e in es]),
         "finish_reason": reason}],
        usage={"prompt_tokens": len(prompt_ids), "completion_tokens": outcome.completion_tokens,
               "total_tokens": len(prompt_ids) + outcome.completion_tokens})

