"""Request bodies of the OpenAI-compatible endpoints (pydantic; they also make the OpenAPI
document). Types are strict: "5" is not an integer. Unknown fields are ignored, as OpenAI's
clients send fields this server does not use (user, stream_options, ...)."""
from __future__ import annotations

from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class _Sampling(_Body):
    model: str | None = Field(None, description="the served model's id (GET /v1/models); omitted = that model")
    temperature: float = Field(0.8, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    top_k: int = Field(40, ge=0)
    min_p: float = Field(0.05, ge=0.0, le=1.0)
    repeat_penalty: float = Field(1.0, gt=0.0)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    stop: Union[str, list[str], None] = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = Field(None, description='{"include_usage": true}: a last chunk with usage')
    n: int = Field(1, description="only 1 is supported")
    response_format: dict[str, Any] | None = Field(
        None, description='{"type": "text"}, {"type": "json_object"} or {"type": "json_schema", "json_schema": '
                          '{"schema": {...}}}: output constrained by the grammar (llguidance)')


class CompletionRequest(_Sampling):
    prompt: Union[str, list[int], list[str]] = Field(..., description="text, token ids, or a list of one text")
    max_tokens: int | None = Field(16, description="null: until the context is full")
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=20, description="log-probabilities of each token and its n best")


class ChatCompletionRequest(_Sampling):
    messages: list[dict[str, Any]] = Field(..., min_length=1)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float = Field(0.2, ge=0.0, le=2.0)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[dict[str, Any]] | None = Field(None, description="not supported by this build")
    tool_choice: Any = None


class EmbeddingRequest(_Body):
    model: str | None = None
    input: Union[str, list[str], list[int], list[list[int]]]


class TokenizeRequest(_Body):
    input: str
    model: str | None = None
    add_special: bool = Field(True, description="add BOS when the model asks for it")
    parse_special: bool = Field(True, description="read control-token text such as <|im_start|> as the token")


class DetokenizeRequest(_Body):
    tokens: list[int]
    model: str | None = None

