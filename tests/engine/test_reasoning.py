"""Thinking told apart from the answer, whatever pieces the text arrives in."""

from __future__ import annotations

import pytest

from desktop.engine.reasoning import ReasoningSplitter
from desktop.engine.worker.chat_format import ChatTemplateError, template_for
from tests.conftest import CHAT_TEMPLATE_FIXTURES
from tests.support.thinking_template import OPENING_THINKING_TEMPLATE


def _split(pieces: list[str], *, opened: bool = False) -> tuple[str, str, list[str]]:
    splitter = ReasoningSplitter(opened=opened)
    thought, answer, order = "", "", []
    for piece in [*pieces, None]:
        got = splitter.finish() if piece is None else splitter.push(piece)
        thought, answer = thought + got[0], answer + got[1]
        order += ["thinking"] * bool(got[0]) + ["answer"] * bool(got[1])
    return thought, answer, order


REPLY = "<think>\nFirst, 2 + 2.\nSo 4.\n</think>\n\nIt is 4."


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, len(REPLY)])
def test_any_split_gives_the_same_thinking_and_answer(size: int) -> None:
    pieces = [REPLY[at : at + size] for at in range(0, len(REPLY), size)]
    thought, answer, order = _split(pieces)
    assert (thought, answer) == ("First, 2 + 2.\nSo 4.", "It is 4.")
    assert order == sorted(order, key=lambda part: part == "answer")  # thinking comes first


def test_a_prompt_that_opens_the_thinking() -> None:
    assert _split(["Let me see", ".</th", "ink>\n\nDone."], opened=True)[:2] == (
        "Let me see.",
        "Done.",
    )


def test_text_without_thinking_is_all_answer() -> None:
    assert _split(["  <thin", "g>", " x"])[:2] == ("", "  <thing> x")
    assert _split(["Hello ", "<think>no</think>"])[:2] == ("", "Hello <think>no</think>")


def test_thinking_cut_off_by_the_budget_stays_thinking() -> None:
    assert _split(["<think>Hmm, ", "maybe </thi"])[:2] == ("Hmm, maybe </thi", "")


@pytest.mark.parametrize(
    ("template_text", "thinks", "opens"),
    [
        pytest.param(OPENING_THINKING_TEMPLATE, True, True, id="opening"),
        *(
            pytest.param((CHAT_TEMPLATE_FIXTURES / f"{name}.jinja").read_text(), *flags, id=name)
            for name, flags in (
                ("Qwen-Qwen3-0.6B", (True, False)),  # the model writes <think> itself
                # closes the thinking in the prompt unless enable_thinking is set
                ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", (True, False)),
                ("Qwen-Qwen2.5-7B-Instruct", (False, False)),
            )
        ),
    ],
)
def test_which_templates_think_and_which_open_the_thinking(
    template_text: str, thinks: bool, opens: bool
) -> None:
    template = template_for(template_text, bos_token="<s>", eos_token="</s>")
    assert (template.thinks, template.opens_thinking) == (thinks, opens)


def test_template_options_reach_the_template() -> None:
    qwen = template_for(
        (CHAT_TEMPLATE_FIXTURES / "Qwen-Qwen3-0.6B.jinja").read_text(),
        bos_token="<s>",
        eos_token="<|im_end|>",
    )
    greeting = [{"role": "user", "content": "Hi"}]
    assert qwen.render(greeting, options={"enable_thinking": False}).endswith(
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    assert qwen.render(greeting).endswith("<|im_start|>assistant\n")
    r1 = template_for(
        (CHAT_TEMPLATE_FIXTURES / "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja").read_text(),
        bos_token="<s>",
        eos_token="</s>",
    )
    assert not r1.opens_thinking and r1.opens_thinking_with({"enable_thinking": True})
    with pytest.raises(ChatTemplateError, match="'messages' is a name the app sets"):
        qwen.render(greeting, options={"messages": []})
