"""``quantdesk chat``: a terminal chat with a GGUF model, on the same worker the app uses.

Replies stream to stdout; load progress, notes and one stats line per reply go to stderr
(dimmed on a terminal), so piping stdout keeps only the conversation. Ctrl-C while the model
answers cancels that reply and keeps what it said; Ctrl-C at the prompt, or end of input,
quits. Works with piped stdin: each line is one user message. A base model (no chat
template) continues the text instead, as in the app's chat (``--text-completion`` decides).
``/clear``, ``/bye`` and ``/help`` and messages of several lines between triple quotes work as
at Ollama's prompt (:mod:`desktop.commands.chat_input`).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator

from converter.errors import QuantdeskError, WorkerCrashed
from desktop.commands.chat_input import (
    ChatAction,
    UnknownChatCommand,
    chat_command_in,
    help_text,
    read_message,
)
from desktop.commands.load_options import add_load_arguments, describe_load, load_settings
from desktop.commands.model_argument import MODEL_HELP, find_model
from desktop.commands.terminal_progress import TerminalProgress
from desktop.engine.reasoning import thinking_options
from desktop.engine.worker import (
    InferenceWorker,
    ReplyStats,
    SamplingSettings,
)
from desktop.engine.worker.protocol import PromptTooLong
from desktop.services.reply_figures import reply_figures
from desktop.services.text_completion import completion_prompt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help=f"the model to chat with: {MODEL_HELP}")
    add_load_arguments(parser)
    parser.add_argument(
        "--temp", type=float, default=0.7, metavar="T", help="temperature (0 greedy)"
    )
    parser.add_argument("--seed", type=int, metavar="N", help="sampling seed (default: random)")
    parser.add_argument("--system", metavar="TEXT", help="system message")
    parser.add_argument(
        "--max-tokens", type=int, default=512, metavar="N", help="longest reply in tokens"
    )
    parser.add_argument(
        "--thinking",
        action=argparse.BooleanOptionalAction,
        help="a reasoning model thinks before it answers (--no-thinking: answers at once), "
        "where its chat template reads enable_thinking (Qwen 3 and others); default: as the "
        "template does",
    )
    parser.add_argument(
        "--text-completion",
        action=argparse.BooleanOptionalAction,
        help="the model continues your text instead of answering it (default: on for a model "
        "without a chat template, which is a base model, as in the app)",
    )


def run(args: argparse.Namespace) -> int:
    args.model = find_model(args.model)
    load = load_settings(args)
    sampling = SamplingSettings(temperature=args.temp, seed=args.seed, max_tokens=args.max_tokens)
    err = TerminalProgress(sys.stderr, dim=True)
    with InferenceWorker() as worker:
        try:
            info = worker.load(args.model, load, on_progress=err.show)
        except BaseException:
            err.close()  # the error goes on a line of its own
            raise
        if info.embedding_only:
            raise QuantdeskError(
                f"{info.model.name} is an embedding model: it turns text into vectors "
                "(quantdesk serve answers /v1/embeddings with it) and cannot chat."
            )
        as_text = args.text_completion
        if as_text is None:
            as_text = not info.chat_template.from_model
        for line in describe_load(info):
            if not (as_text and line == info.chat_template.note):  # ChatML is not used then
                err.line(line)
        if as_text:
            why = (
                " (it has no chat template: a base model)"
                if not info.chat_template.from_model
                else ""
            )
            err.line(
                f"Text completion{why}: the model continues your text instead of answering it. "
                "Write the start of a sentence, a list or a story."
            )
        messages: list[dict[str, str]] = []
        if args.system:
            if as_text:
                err.line("The system message is not used in text completion.")
            messages.append({"role": "system", "content": args.system})
        if sys.stdin.isatty():
            err.line("Type /help for commands; /bye or Ctrl-D ends the chat.")
        while (text := read_message(sys.stdin, sys.stdout)) is not None:
            if not text.strip():
                continue
            try:
                command = chat_command_in(text)
            except UnknownChatCommand as exc:
                err.line(str(exc))
                continue
            if command is not None:
                if command.action is ChatAction.QUIT:
                    break
                if command.action is ChatAction.CLEAR:
                    messages = messages[:1] if args.system else []
                    err.line("The conversation starts afresh.")
                else:
                    err.line(help_text())
                continue
            messages.append({"role": "user", "content": text})
            try:
                stats = _answer(worker, messages, sampling, as_text=as_text, thinking=args.thinking)
            except PromptTooLong as exc:
                messages.pop()
                err.line(str(exc))
                continue
            except WorkerCrashed as exc:  # the program lives on: reload and let the user go on
                messages.pop()
                sys.stdout.write("\n")
                err.line(f"{exc} Reloading…")
                worker.load(args.model, load)
                continue
            messages.append({"role": "assistant", "content": stats.text})
            err.line(describe_reply(stats))
    return 0


def _answer(
    worker: InferenceWorker,
    messages: list[dict[str, str]],
    sampling: SamplingSettings,
    *,
    as_text: bool,
    thinking: bool | None = None,
) -> ReplyStats:
    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    with _ctrl_c_cancels(worker):
        if as_text:
            stats = worker.complete(completion_prompt(messages), sampling, on_token=show)
        else:
            options = thinking_options(thinking)
            stats = worker.chat(messages, sampling, on_token=show, template_options=options)
    sys.stdout.write(" [cancelled]\n" if stats.cancelled else "\n")
    sys.stdout.flush()
    return stats


@contextlib.contextmanager
def _ctrl_c_cancels(worker: InferenceWorker) -> Iterator[None]:
    """While a reply streams, Ctrl-C cancels it instead of interrupting the program."""
    try:
        previous = signal.signal(signal.SIGINT, lambda _signum, _frame: worker.cancel())
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def describe_reply(stats: ReplyStats) -> str:
    """One line: speed, first-token latency, prompt size, memory, and why the reply ended."""
    parts = reply_figures(stats, prompt=True, memory=True)
    parts.append(f"stop: {stats.stop_reason.value}")
    return " · ".join(parts)
