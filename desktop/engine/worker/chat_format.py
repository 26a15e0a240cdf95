"""Turning a list of chat messages into the prompt text a model was trained on.

A GGUF made from an instruct model stores its Hugging Face chat template under
``tokenizer.chat_template``; we render it with llama-cpp-python's Jinja formatter, which
mirrors transformers' settings (sandboxed, ``trim_blocks``, ``lstrip_blocks``, ``tojson``,
``strftime_now``). A model without one (base models) gets ChatML, the most widely
understood format, and the load result says so, because a base model's "chat" is a guess.

Templates of models trained to call tools (Qwen, Hermes, Llama 3.1, Mistral …) also take the
tool definitions (``tools``, in OpenAI's shape) and render messages that carry calls
(an assistant's ``tool_calls``) and their results (``tool`` messages). Whether a template
uses the tools is found as llama.cpp's server finds it: by rendering a conversation with one
made-up tool and looking for that tool's name in the prompt.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from converter.errors import QuantdeskError

#: ChatML, the fallback (the format Qwen, Hermes and many fine-tunes use).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_STOP_STRINGS = ("<|im_end|>", "<|im_start|>")
MISSING_TEMPLATE_NOTE = (
    "The model has no chat template (probably a base model, not an instruct one); "
    "using ChatML, so answers may ramble or not stop."
)


#: No template options: the template's own defaults.
NO_TEMPLATE_OPTIONS: Mapping[str, Any] = MappingProxyType({})
#: The names the app renders a template with; a request's template options cannot replace them.
RESERVED_TEMPLATE_NAMES = frozenset(
    {
        "messages",
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "bos_token",
        "eos_token",
        "add_generation_prompt",
        "raise_exception",
        "strftime_now",
    }
)


class ChatTemplateError(QuantdeskError):
    """The model's chat template cannot render these messages."""


def check_template_options(options: Mapping[str, Any]) -> None:
    """Refuse template options that would replace a name the app renders with."""
    taken = sorted(RESERVED_TEMPLATE_NAMES.intersection(options))
    if taken:
        raise ChatTemplateError(
            f"Template options (chat_template_kwargs) cannot set {taken[0]!r}: "
            f"{taken[0]!r} is a name the app sets itself from the request."
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatTemplate:
    """A chat template and the token strings it refers to; pickles to the worker and back."""

    template: str
    bos_token: str
    eos_token: str
    from_model: bool
    #: Text that ends a reply even when the model has no such token (only for the fallback).
    stop_strings: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        return "" if self.from_model else MISSING_TEMPLATE_NOTE

    @property
    def takes_tools(self) -> bool:
        """Whether the template puts tool definitions into the prompt (a model's own
        template only: the ChatML fallback has no place for them)."""
        return self.from_model and _renders_tools(self.template, self.bos_token, self.eos_token)

    @property
    def thinks(self) -> bool:
        """Whether the template is a reasoning model's, which thinks between ``<think>`` and
        ``</think>`` before it answers."""
        return self.from_model and "<think>" in self.template

    @property
    def opens_thinking(self) -> bool:
        """Whether the prompt ends inside ``<think>`` (the template opens it for the reply)."""
        return self.opens_thinking_with(NO_TEMPLATE_OPTIONS)

    def opens_thinking_with(self, options: Mapping[str, Any]) -> bool:
        """:attr:`opens_thinking`, the template rendered with ``options`` (as
        ``enable_thinking``, which turns thinking on or off in Qwen 3's and others')."""
        if not self.thinks:
            return False
        key = json.dumps(dict(options), sort_keys=True)
        return _opens_thinking(self.template, self.bos_token, self.eos_token, key)

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] = (),
        options: Mapping[str, Any] = NO_TEMPLATE_OPTIONS,
    ) -> str:
        """The prompt for ``messages``, ending where the assistant's reply begins; ``tools``:
        the functions the model may call (OpenAI's ``tools`` list); ``options``: more names
        the template reads (llama-server's ``chat_template_kwargs``, such as
        ``enable_thinking``), none of :data:`RESERVED_TEMPLATE_NAMES`."""
        check_template_options(options)
        formatter = _formatter(self.template, self.bos_token, self.eos_token)
        extra = {"tools": [dict(tool) for tool in tools]} if tools else {}
        try:
            return formatter(messages=[dict(m) for m in messages], **options, **extra).prompt
        except (
            Exception
        ) as exc:  # jinja raises anything: TemplateError, ValueError from raise_exception …
            raise ChatTemplateError(
                f"The model's chat template could not format this conversation: {exc}. "
                "Check the message roles: some templates insist that user and assistant "
                "turns alternate."
            ) from exc


def template_for(model_template: str | None, *, bos_token: str, eos_token: str) -> ChatTemplate:
    """The model's own template when it has one, else the ChatML fallback."""
    if model_template:
        return ChatTemplate(
            template=model_template, bos_token=bos_token, eos_token=eos_token, from_model=True
        )
    return ChatTemplate(
        template=CHATML_TEMPLATE,
        bos_token=bos_token,
        eos_token=eos_token,
        from_model=False,
        stop_strings=CHATML_STOP_STRINGS,
    )


@functools.lru_cache(maxsize=8)
def _formatter(template: str, bos_token: str, eos_token: str):
    """Compile once per template: parsing a long Jinja template costs milliseconds."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    try:
        return Jinja2ChatFormatter(
            template=template, eos_token=eos_token, bos_token=bos_token, add_generation_prompt=True
        )
    except Exception as exc:  # jinja2.TemplateSyntaxError and friends
        raise ChatTemplateError(f"The model's chat template is not valid Jinja: {exc}.") from exc


#: The made-up tool whose name shows whether a template renders tool definitions.
_PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "quantdesk_probe_tool",
        "description": "A tool that only tells whether the template shows tools.",
        "parameters": {"type": "object", "properties": {}},
    },
}


@functools.lru_cache(maxsize=8)
def _renders_tools(template: str, bos_token: str, eos_token: str) -> bool:
    try:
        formatter = _formatter(template, bos_token, eos_token)
        prompt = formatter(messages=[{"role": "user", "content": "Hi"}], tools=[_PROBE_TOOL]).prompt
    except Exception:  # a template that cannot render the probe cannot take tools either
        return False
    return "quantdesk_probe_tool" in prompt


@functools.lru_cache(maxsize=32)
def _opens_thinking(template: str, bos_token: str, eos_token: str, options_json: str) -> bool:
    try:
        formatter = _formatter(template, bos_token, eos_token)
        options = json.loads(options_json)
        prompt = formatter(messages=[{"role": "user", "content": "Hi"}], **options).prompt
    except Exception:  # a template that cannot render a greeting opens nothing
        return False
    return prompt.rstrip().endswith("<think>")
