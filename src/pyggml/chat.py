"""Chat prompts: a GGUF's `tokenizer.chat_template` rendered in jinja2's sandbox.

Templates come from model files, i.e. from strangers, so they run in
`ImmutableSandboxedEnvironment`: no access to private/dunder attributes or to methods that mutate
the caller's data. The globals are the ones Hugging Face templates expect: `messages`,
`add_generation_prompt`, `bos_token`, `eos_token`, `raise_exception(msg)`, `strftime_now(fmt)`,
and a `tojson` filter that keeps non-ASCII text as is. A file without a template gets ChatML,
as llama.cpp does. Each render has a budget (pyggml.template_sandbox): RENDER_SECONDS of wall
time, no value over a megabyte, output up to MAX_OUTPUT_CHARS; a template over it raises
ChatTemplateError.
"""
from __future__ import annotations

import datetime
import json
from typing import Any, Mapping, Sequence

import jinja2
from jinja2.exceptions import SecurityError

from .template_sandbox import RENDER_SECONDS, TemplateSandbox, render_budget

MAX_OUTPUT_CHARS = 1 << 20   # a rendered prompt longer than this is refused
MAX_TEMPLATE_CHARS = 1 << 18  # real templates are a few KiB; compiling is not budgeted
MAX_JSON_INDENT = 64

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class ChatTemplateError(ValueError):
    """The template failed to compile or render, or the messages are malformed."""


def _raise_exception(message: str):
    raise ChatTemplateError(f"chat template raised: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False, sort_keys: bool = False) -> str:
    if indent is not None and not (isinstance(indent, int) and 0 <= indent <= MAX_JSON_INDENT):
        raise ChatTemplateError(f"tojson indent must be an integer 0..{MAX_JSON_INDENT}, got {indent!r}")
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys)


def _environment() -> TemplateSandbox:
    env = TemplateSandbox(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


def validate_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Copies of the messages; each needs a string `role` and a string (or None) `content`."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ChatTemplateError("messages must be a list of {'role': ..., 'content': ...} dicts")
    if not messages:
        raise ChatTemplateError("messages is empty")
    checked = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ChatTemplateError(f"messages[{i}] is a {type(message).__name__}, not a dict")
        role = message.get("role")
        if not isinstance(role, str):
            raise ChatTemplateError(f"messages[{i}]['role'] must be a string, got {role!r}")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise ChatTemplateError(f"messages[{i}]['content'] must be a string, got {type(content).__name__}")
        checked.append(dict(message, content=content or ""))
    return checked


class ChatFormatter:
    """Compiles one template once; `render(messages)` gives the prompt text."""

    def __init__(self, template: str | None, *, bos_token: str = "", eos_token: str = ""):
        self.source = template if template else CHATML_TEMPLATE
        self.is_fallback = not template
        self.bos_token, self.eos_token = bos_token, eos_token
        if not isinstance(self.source, str):
            raise ChatTemplateError(f"chat template must be a string, got {type(self.source).__name__}")
        if len(self.source) > MAX_TEMPLATE_CHARS:
            raise ChatTemplateError(f"chat template is {len(self.source)} characters, over the limit {MAX_TEMPLATE_CHARS}")
        try:
            self._template = _environment().from_string(self.source)
        except jinja2.TemplateError as e:
            raise ChatTemplateError(f"chat template does not compile: {e}") from None
        except (RecursionError, SyntaxError, MemoryError, ValueError) as e:   # e.g. nesting too deep
            raise ChatTemplateError(f"chat template does not compile: {type(e).__name__}: {e}") from None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> ChatFormatter:
        """The GGUF's tokenizer.chat_template (ChatML if absent), with its BOS/EOS texts."""
        tokens = metadata.get("tokenizer.ggml.tokens") or []

        def token_text(key: str) -> str:
            token_id = metadata.get(key)
            return tokens[token_id] if isinstance(token_id, int) and 0 <= token_id < len(tokens) else ""

        return cls(metadata.get("tokenizer.chat_template"),
                   bos_token=token_text("tokenizer.ggml.bos_token_id"),
                   eos_token=token_text("tokenizer.ggml.eos_token_id"))

    def render(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True,
               **extra: Any) -> str:
        checked = validate_messages(messages)
        pieces, size = [], 0
        try:
            with render_budget(RENDER_SECONDS):
                for piece in self._template.generate(messages=checked, add_generation_prompt=add_generation_prompt,
                                                     bos_token=self.bos_token, eos_token=self.eos_token, **extra):
                    size += len(piece)
                    if size > MAX_OUTPUT_CHARS:
                        raise ChatTemplateError(f"chat template output is over {MAX_OUTPUT_CHARS} characters")
                    pieces.append(piece)
        except ChatTemplateError:
            raise
        except SecurityError as e:
            raise ChatTemplateError(f"chat template tried an unsafe operation: {e}") from None
        except Exception as e:  # a stranger's template: any failure is the template's
            raise ChatTemplateError(f"chat template failed: {type(e).__name__}: {e}") from None
        return "".join(pieces)
