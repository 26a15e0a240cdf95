"""Tool-calling request parts shared by the tests: a function with a JSON-schema
``parameters``, and the messages that carry a call of it and its result."""

from __future__ import annotations

from typing import Any

#: One function; ``maxLength`` keeps a random-weight model's forced call short.
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 6},
                "unit": {"enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}

#: The assistant's call of WEATHER_TOOL and the tool's answer (the id is 9 letters and
#: digits, as Mistral's templates insist).
CALL_AND_RESULT: list[dict[str, Any]] = [
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "abc123def",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "abc123def", "content": "Sunny, 21 degrees"},
]
