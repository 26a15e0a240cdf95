"""Tool calls without a model: which syntax each real chat template teaches, the templates
rendering tools, calls and results, reading calls out of replies (whole and streamed), and the
request fields' checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from desktop.engine.server.api_errors import ApiError
from desktop.engine.server.parsing import parse_chat, parse_completion
from desktop.engine.server.tool_calls import (
    HERMES,
    LLAMA3,
    MISTRAL,
    ToolCallReader,
    ToolSyntax,
    split_reply,
    syntax_of,
)
from desktop.engine.worker.chat_format import template_for
from tests.conftest import CHAT_TEMPLATE_FIXTURES
from tests.support.tool_requests import CALL_AND_RESULT, WEATHER_TOOL

#: The functions the replies below may call.
NAMES = ("get_weather", "now")


def _template(name: str) -> Any:
    return template_for(
        (CHAT_TEMPLATE_FIXTURES / name).read_text(), bos_token="<s>", eos_token="</s>"
    )


@pytest.mark.parametrize(
    ("name", "takes_tools", "syntax"),
    [
        ("Qwen-Qwen2.5-7B-Instruct.jinja", True, HERMES),
        ("Qwen-Qwen3-0.6B.jinja", True, HERMES),
        ("meta-llama-Llama-3.1-8B-Instruct.jinja", True, LLAMA3),
        ("meta-llama-Llama-3.2-3B-Instruct.jinja", True, LLAMA3),
        ("mistralai-Mistral-Nemo-Instruct-2407.jinja", True, MISTRAL),
        ("google-gemma-2-2b-it.jinja", False, None),
        ("microsoft-Phi-3.5-mini-instruct.jinja", False, None),
    ],
)
def test_each_template_says_whether_and_how_it_calls_tools(
    name: str, takes_tools: bool, syntax: ToolSyntax | None
) -> None:
    template = _template(name)
    assert template.takes_tools is takes_tools
    if syntax is not None:
        assert syntax_of(template.template) is syntax


@pytest.mark.parametrize(
    "name",
    [
        "Qwen-Qwen2.5-7B-Instruct.jinja",
        "meta-llama-Llama-3.1-8B-Instruct.jinja",
        "mistralai-Mistral-Nemo-Instruct-2407.jinja",
    ],
)
def test_templates_render_the_tools_a_call_and_its_result(name: str) -> None:
    """The request's messages as the parser hands them on: arguments as objects, ids kept."""
    body = {
        "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "Weather in Oslo?"}, *CALL_AND_RESULT],
    }
    request = parse_chat(body, default_max_tokens=16)
    prompt = _template(name).render(request.messages, request.tool_use.tools)
    assert "get_weather" in prompt and "The weather in a city now." in prompt
    assert "Oslo" in prompt and "Sunny, 21 degrees" in prompt


@pytest.mark.parametrize(
    ("syntax", "reply", "content", "calls"),
    [
        (
            HERMES,
            'Let me look. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}'
            '\n</tool_call>\n<tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>',
            "Let me look. ",
            [("get_weather", {"city": "Oslo"}), ("now", {})],
        ),
        (  # a reply that ends at the end of its call, without the closing tag
            HERMES,
            '<tool_call>\n{"name": "now", "arguments": "{}"}',
            "",
            [("now", {})],
        ),
        (
            MISTRAL,
            '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}, '
            '{"name": "now", "arguments": {}}]',
            "",
            [("get_weather", {"city": "Oslo"}), ("now", {})],
        ),
        (  # [TOOL_CALLS] is a control token, which the reply's text does not show
            MISTRAL,
            ' [{"name": "now", "arguments": {}}]',
            "",
            [("now", {})],
        ),
        (
            LLAMA3,
            '{"name": "get_weather", "parameters": {"city": "Oslo"}}',
            "",
            [("get_weather", {"city": "Oslo"})],
        ),
        (LLAMA3, "Oslo is sunny today.", "Oslo is sunny today.", []),
        # What claims to be a call but is not one stays text, as llama.cpp's server keeps it.
        (HERMES, "<tool_call>\n{not json</tool_call>", "<tool_call>\n{not json</tool_call>", []),
        (LLAMA3, '{"answer": 42}', '{"answer": 42}', []),
        (  # a function the request did not offer
            LLAMA3,
            '{"name": "rm_rf", "parameters": {}}',
            '{"name": "rm_rf", "parameters": {}}',
            [],
        ),
        (HERMES, "I need no tool. <tool_", "I need no tool. <tool_", []),
    ],
)
def test_calls_are_read_out_of_replies_whole_and_streamed(
    syntax: ToolSyntax, reply: str, content: str, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    text, made = split_reply(reply, syntax, NAMES)
    assert text == content
    assert [(call.name, json.loads(call.arguments)) for call in made] == calls
    assert len({call.id for call in made}) == len(made)

    reader = ToolCallReader(syntax, NAMES)  # one character at a time, as a stream may cut it
    shown = "".join(reader.push(character) for character in reply)
    rest, streamed = reader.finish()
    assert shown + rest == content
    assert [(call.name, json.loads(call.arguments)) for call in streamed] == calls
    if calls:  # no piece of a call was ever shown as content
        assert syntax.opening not in shown and "{" not in shown


def test_mistral_call_ids_are_nine_letters_and_digits() -> None:
    """Mistral's templates refuse any other id when the call comes back in the history."""
    (call,) = split_reply('[{"name": "now", "arguments": {}}]', MISTRAL, NAMES)[1]
    assert len(call.id) == 9 and call.id.isalnum()


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"tools": {"get_weather": {}}}, "tools", "must be a list of functions"),
        ({"tools": [{"type": "retrieval"}]}, "tools", "only functions can be called"),
        ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools", "1 to 64"),
        ({"tools": [WEATHER_TOOL, WEATHER_TOOL]}, "tools", "'get_weather' twice"),
        ({"tools": [WEATHER_TOOL], "tool_choice": "always"}, "tool_choice", "must be one of"),
        ({"tool_choice": "required"}, "tool_choice", "lists no function"),
        (
            {
                "tools": [WEATHER_TOOL],
                "tool_choice": {"type": "function", "function": {"name": "x"}},
            },
            "tool_choice",
            "'x', which 'tools' does not list",
        ),
        ({"functions": [WEATHER_TOOL["function"]]}, "functions", "send 'tools'"),
        (
            {"tools": [WEATHER_TOOL], "response_format": {"type": "json_object"}},
            "response_format",
            "Give either 'tools' or 'response_format'",
        ),
        ({"tools": [WEATHER_TOOL], "logprobs": True}, "logprobs", "together with 'tools'"),
        (
            {"messages": [{"role": "function", "name": "now", "content": "12:00"}]},
            "messages",
            "older form of tool messages",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"function": {"name": "now", "arguments": "{oops"}}],
                    }
                ]
            },
            "messages",
            "arguments is not valid JSON",
        ),
    ],
)
def test_tool_fields_are_checked_before_the_model_runs(
    fields: dict[str, Any], param: str, words: str
) -> None:
    body = {"messages": [{"role": "user", "content": "Hi"}], **fields}
    with pytest.raises(ApiError) as refused:
        parse_chat(body, default_max_tokens=16)
    assert refused.value.status == 400 and refused.value.param == param
    assert words in refused.value.message


def test_tool_choice_none_hides_the_tools_and_completions_refuse_them() -> None:
    hidden = parse_chat(
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [WEATHER_TOOL],
            "tool_choice": "none",
        },
        default_max_tokens=16,
    )
    assert hidden.tool_use.tools and not hidden.tool_use.active
    with pytest.raises(ApiError, match="chat completions"):
        parse_completion({"prompt": "Hi", "tools": [WEATHER_TOOL]}, default_max_tokens=16)
