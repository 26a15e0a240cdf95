"""Tools for a model whose chat template has no place for them: described in the system
message and the conversation made plain, rendered by a real template that insists user and
assistant turns alternate (Gemma 2's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.engine.server.prompted_tools import prompted_messages
from desktop.engine.worker.chat_format import template_for
from tests.conftest import CHAT_TEMPLATE_FIXTURES
from tests.support.tool_requests import WEATHER_TOOL

CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}},
}


def test_a_tool_conversation_renders_through_a_template_without_tools() -> None:
    gemma = (CHAT_TEMPLATE_FIXTURES / "google-gemma-2-2b-it.jinja").read_text()
    template = template_for(gemma, bos_token="<bos>", eos_token="<eos>")
    assert not template.takes_tools
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 C"},
        {"role": "user", "content": "And in Bergen?"},
    ]
    plain = prompted_messages(messages, [WEATHER_TOOL])
    # Gemma 2's template refuses a system role: the functions open the first user turn.
    assert [turn["role"] for turn in plain] == ["user", "assistant", "user"]
    first = plain[0]["content"]
    assert json.dumps(WEATHER_TOOL["function"]["name"]) in first
    assert first.endswith("Weather in Oslo?")
    call_text = plain[1]["content"]
    assert call_text.startswith("<tool_call>") and call_text.endswith("</tool_call>")
    assert json.loads(call_text.removeprefix("<tool_call>").removesuffix("</tool_call>")) == {
        "name": "get_weather",
        "arguments": {"city": "Oslo", "unit": "celsius"},
    }
    assert plain[2]["content"] == "<tool_response>\nSunny, 21 C\n</tool_response>\n\nAnd in Bergen?"
    prompt = template.render(plain)  # Gemma's template raises unless the turns alternate
    assert '"parameters"' in prompt and "<tool_response>" in prompt
    assert prompt.endswith("<start_of_turn>model\n")


TEMPLATES_WITHOUT_TOOLS = [
    path
    for path in sorted(CHAT_TEMPLATE_FIXTURES.glob("*.jinja"))
    if not template_for(path.read_text(), bos_token="<s>", eos_token="</s>").takes_tools
]


@pytest.mark.parametrize("path", TEMPLATES_WITHOUT_TOOLS, ids=lambda path: path.stem)
def test_every_template_without_tools_renders_the_described_conversation(path: Path) -> None:
    template = template_for(path.read_text(), bos_token="<s>", eos_token="</s>")
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
    ]
    prompt = template.render(prompted_messages(messages, [WEATHER_TOOL]))
    assert '"name": "get_weather"' in prompt and "<tool_response>\nSunny" in prompt


def test_the_functions_go_into_a_system_message_when_there_is_one() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    plain = prompted_messages(messages, [WEATHER_TOOL])
    assert [turn["role"] for turn in plain] == ["system", "user"]
    assert "<tool_call>" in plain[0]["content"] and plain[0]["content"].endswith("Be brief.")
    assert plain[1]["content"] == "Hi"
