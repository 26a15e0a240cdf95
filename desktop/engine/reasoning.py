"""A reasoning model's thinking, told apart from its answer as it streams.

Reasoning models (Qwen 3, DeepSeek R1 and its distills, QwQ …) write their thinking between
``<think>`` and ``</think>`` before the answer; some chat templates open the ``<think>``
themselves at the end of the prompt, so the reply starts inside it. ``llama-server`` and
LM Studio give the thinking apart, as ``reasoning_content`` beside ``content``, and so does
the local API's chat route (``reasoning_format: "none"`` keeps it in the content); the app's
chat shows it folded above the answer (:func:`split_reply`, over the reply so far).

:class:`ReasoningSplitter` takes the reply's text piece by piece and returns what is surely
thinking and surely answer: text that may still turn out to be ``<think>`` at the start, or
``</think>`` inside the thinking, is held back until the next piece decides. The thinking
loses the blank space around it, the answer the blank space it starts with. A reply that does
not begin with ``<think>`` is all answer; one that never closes it is all thinking (as
``llama-server`` gives it, when the token budget ran out mid-thought).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from desktop.engine.partial_mark import partial_mark_length

OPENING = "<think>"
CLOSING = "</think>"


def thinking_options(thinking: bool | None) -> dict[str, Any]:
    """The chat template's options for a thinking switch: ``enable_thinking``, which Qwen 3's
    template and others read (None: the template's own default)."""
    return {} if thinking is None else {"enable_thinking": thinking}


@dataclass(frozen=True, slots=True)
class ReplyParts:
    """A reply's text told apart: what the model thought, and its answer."""

    thinking: str
    answer: str
    #: The thinking has not been closed (yet): a reply still streaming, or one cut short.
    still_thinking: bool


def split_reply(text: str, *, opened: bool | None = None, complete: bool = True) -> ReplyParts:
    """``text``, a whole reply so far, as thinking and answer.

    ``complete``: False for a reply still streaming, whose last characters may be the start of
    ``</think>`` (held back until more text decides, as while streaming to a client).
    ``opened``: whether the prompt ended with ``<think>``. None: inferred from the text
    itself (a ``</think>`` with no ``<think>`` before it), for a reply stored without a note of
    the template it was written under.
    """
    if opened is None:
        closing = text.find(CLOSING)
        opened = closing >= 0 and OPENING not in text[:closing]
    splitter = ReasoningSplitter(opened=opened)
    thought, answer = splitter.push(text)
    still = splitter.thinking
    if complete:
        more_thought, more_answer = splitter.finish()
        thought, answer = thought + more_thought, answer + more_answer
    return ReplyParts(thought, answer, still)


class ReasoningSplitter:
    """:meth:`push` each piece of a reply, then :meth:`finish`; both return
    ``(thinking, answer)`` text to pass on."""

    def __init__(self, *, opened: bool = False) -> None:
        """``opened``: the prompt ends with ``<think>``, so the reply starts thinking."""
        self._state = "thinking" if opened else "start"
        self._held = ""
        self._begun = False  # some thinking has been given out

    @property
    def thinking(self) -> bool:
        """Whether the text so far is inside the thinking."""
        return self._state == "thinking"

    def push(self, text: str) -> tuple[str, str]:
        self._held += text
        thought = ""
        if self._state == "start":
            begun = self._held.lstrip()
            if begun.startswith(OPENING):
                self._state, self._held = "thinking", begun[len(OPENING) :]
            elif OPENING.startswith(begun):
                return "", ""  # blank so far, or a part of "<think>": the next piece decides
            else:
                self._state = "answer"
        if self._state == "thinking":
            if not self._begun:  # the thinking starts at its first non-blank character
                self._held = self._held.lstrip()
                if not self._held:
                    return "", ""
                self._begun = True
            at = self._held.find(CLOSING)
            if at < 0:  # hold back blank space at the end, and what may start "</think>"
                keep = partial_mark_length(self._held, CLOSING)
                upto = len(self._held[: len(self._held) - keep].rstrip())
                thought, self._held = self._held[:upto], self._held[upto:]
                return thought, ""
            thought, self._held = self._held[:at].rstrip(), self._held[at + len(CLOSING) :]
            self._state = "after"
        if self._state == "after":  # the answer starts at its first non-blank character
            self._held = self._held.lstrip()
            if not self._held:
                return thought, ""
            self._state = "answer"
        answer, self._held = self._held, ""
        return thought, answer

    def finish(self) -> tuple[str, str]:
        held, self._held = self._held, ""
        if self._state == "thinking":
            return (held.rstrip() if self._begun else ""), ""
        if self._state in ("start", "answer"):
            return "", held
        return "", ""
