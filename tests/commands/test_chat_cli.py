"""``quantdesk chat`` end to end: piped input, streamed replies, stats lines, Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from tests.conftest import CHAT_TEMPLATE_FIXTURES, REPO_ROOT
from tests.support import worker_helpers
from tests.support.gemma_model import gemma_270m_fixture  # noqa: F401 - found by name
from tests.support.gguf_factory import write_tiny_bert_gguf, write_tiny_gguf

tiny_model = worker_helpers.tiny_model

STATS_LINE = re.compile(r"^(\d+) tokens · .* prompt (\d+) tok .* stop: (\w+)$", re.MULTILINE)


def chat_command(model: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "desktop.cli", "chat", str(model), "--threads", "1", *options]


def run_chat(model: Path, stdin: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        chat_command(model, *options),
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )


def test_piped_messages_get_streamed_replies_and_a_stats_line_each(tiny_model: Path) -> None:
    result = run_chat(
        tiny_model, "Hello there\n\nHow are you?\n", "--temp", "0", "--max-tokens", "12"
    )
    assert result.returncode == 0, result.stderr
    assert "tiny random test model: llama, F16" in result.stderr
    assert "no chat template" in result.stderr  # the fallback is announced
    stats = STATS_LINE.findall(result.stderr)
    assert [(tokens, stop) for tokens, _prompt, stop in stats] == [("12", "max_tokens")] * 2
    first_prompt, second_prompt = (int(prompt) for _tokens, prompt, _stop in stats)
    assert second_prompt > first_prompt  # the second turn carries the conversation so far
    replies = result.stdout.splitlines()
    assert len(replies) >= 2 and all(replies)
    assert "\x1b[" not in result.stderr  # no terminal colours on a pipe


def test_flash_attention_is_on_unless_switched_off_and_mapping_is_a_choice(
    tiny_model: Path,
) -> None:
    default = run_chat(tiny_model, "Hi\n", "--temp", "0", "--max-tokens", "2")
    switches = ("--flash-attention", "off", "--mmap", "on")
    switched = run_chat(tiny_model, "Hi\n", "--temp", "0", "--max-tokens", "2", *switches)
    assert default.returncode == switched.returncode == 0, switched.stderr
    assert "flash attention on" in default.stderr
    assert "flash attention off" in switched.stderr
    assert "weights mapped from the file" in switched.stderr


def test_system_message_is_part_of_the_prompt(tiny_model: Path) -> None:
    chat = ("--temp", "0", "--max-tokens", "2", "--no-text-completion")
    plain = run_chat(tiny_model, "Hi\n", *chat)
    with_system = run_chat(tiny_model, "Hi\n", *chat, "--system", "Be brief.")
    assert plain.returncode == with_system.returncode == 0
    ((_t, plain_prompt, _s),) = STATS_LINE.findall(plain.stderr)
    ((_t, system_prompt, _s),) = STATS_LINE.findall(with_system.stderr)
    assert int(system_prompt) > int(plain_prompt)
    # a base model continuing text has no place for it, and says so
    as_text = run_chat(tiny_model, "Hi\n", "--max-tokens", "2", "--system", "Be brief.")
    assert "The system message is not used in text completion." in as_text.stderr


def _chat_in_a_long_reply(tiny_model: Path) -> subprocess.Popen[bytes]:
    """A chat process whose first reply has started streaming and will go on for a while."""
    process = subprocess.Popen(
        chat_command(tiny_model, "--temp", "0", "--max-tokens", "4000"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"Tell me a very long story\n")
    process.stdin.flush()
    assert process.stdout.read(1)
    return process


def test_ctrl_c_cancels_the_reply_and_the_chat_goes_on(tiny_model: Path) -> None:
    process = _chat_in_a_long_reply(tiny_model)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(b"And another one\n", timeout=120)
    text = err.decode()
    assert process.returncode == 0, text
    assert b"[cancelled]" in out
    stops = [stop for _tokens, _prompt, stop in STATS_LINE.findall(text)]
    assert stops[0] == "cancelled" and len(stops) == 2


def test_a_crashed_worker_is_reloaded_and_the_chat_goes_on(tiny_model: Path) -> None:
    process = _chat_in_a_long_reply(tiny_model)
    (worker,) = [
        child
        for child in psutil.Process(process.pid).children()
        if "spawn_main" in " ".join(child.cmdline())
    ]
    worker.kill()
    out, err = process.communicate(b"Still there?\n", timeout=120)
    text = err.decode()
    assert process.returncode == 0, text
    assert "SIGKILL" in text and "Reloading" in text
    assert [stop for _t, _p, stop in STATS_LINE.findall(text)] == ["max_tokens"]
    assert out.count(b"\n") == 2  # the cut-off reply, then the full one


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    result = run_chat(tmp_path / "nowhere.gguf", "Hi\n")
    assert result.returncode == 1
    assert "nowhere.gguf does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_end_of_input_right_away_exits_cleanly(tiny_model: Path) -> None:
    result = run_chat(tiny_model, "")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_a_base_model_continues_the_text_unless_told_to_chat(tiny_model: Path) -> None:
    """As in the app's chat: a model without a chat template (the tiny one has none) writes on
    from the user's text; ``--no-text-completion`` wraps it in ChatML instead."""
    args = ("--temp", "0", "--max-tokens", "4")
    as_text = run_chat(tiny_model, "Hello there\n", *args)
    as_chat = run_chat(tiny_model, "Hello there\n", *args, "--no-text-completion")
    assert as_text.returncode == as_chat.returncode == 0, as_text.stderr + as_chat.stderr
    assert "Text completion (it has no chat template" in as_text.stderr
    assert "using ChatML" not in as_text.stderr
    assert "using ChatML" in as_chat.stderr and "Text completion" not in as_chat.stderr
    ((_tokens, text_prompt, _stop),) = STATS_LINE.findall(as_text.stderr)
    ((_tokens, chat_prompt, _stop),) = STATS_LINE.findall(as_chat.stderr)
    assert int(text_prompt) < int(chat_prompt)  # the ChatML turn markers cost tokens


def test_llama_cpp_warnings_stay_out_of_the_terminal(gemma_270m: Path) -> None:
    """llama.cpp warns "using full-size SWA cache" for every Gemma 3 model; llama-cpp-python
    0.3.36 printed it despite verbose=False (it reads the log levels by an older numbering)."""
    result = run_chat(gemma_270m, "The sky is\n", "--temp", "0", "--max-tokens", "2")
    assert result.returncode == 0, result.stderr
    assert not [line for line in result.stderr.splitlines() if line.startswith("llama_")]


def test_chat_commands_and_messages_of_several_lines(tiny_model: Path) -> None:
    """/help, /clear and /bye as at Ollama's prompt; a typo of a command is not sent."""
    typed = 'Hi\n/help\n/hepl\n"""one\ntwo\nthree"""\n/clear\nHi\n/bye\nNever sent\n'
    result = run_chat(tiny_model, typed, "--temp", "0", "--max-tokens", "2")
    assert result.returncode == 0, result.stderr
    prompts = [int(prompt) for _tokens, prompt, _stop in STATS_LINE.findall(result.stderr)]
    assert len(prompts) == 3  # Hi, the three lines, Hi again; nothing after /bye
    first, quoted, after_clear = prompts
    assert quoted > first  # the conversation so far, and the three lines as one message
    assert after_clear == first  # /clear forgot the conversation
    assert "/bye, /exit, /quit" in result.stderr and "Unknown command /hepl" in result.stderr


def test_an_embedding_model_is_refused_in_words(tmp_path: Path) -> None:
    model = write_tiny_bert_gguf(tmp_path / "tiny-bert.gguf")
    result = run_chat(model, "the cat\n")
    assert result.returncode == 1 and not result.stdout
    assert "tiny bert is an embedding model" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_thinking_closes_the_thinking_in_the_prompt(tmp_path: Path) -> None:
    """Qwen 3's template with ``enable_thinking`` false writes an empty, closed thinking block
    where the reply begins: the prompt grows by its tokens."""
    template = (CHAT_TEMPLATE_FIXTURES / "Qwen-Qwen3-0.6B.jinja").read_text()
    model = write_tiny_gguf(tmp_path / "tiny-qwen3-template.gguf", chat_template=template)
    chat = ("--temp", "0", "--max-tokens", "2")
    default = run_chat(model, "Hi\n", *chat)
    off = run_chat(model, "Hi\n", *chat, "--no-thinking")
    assert default.returncode == off.returncode == 0, off.stderr
    ((_t, default_prompt, _s),) = STATS_LINE.findall(default.stderr)
    ((_t, off_prompt, _s),) = STATS_LINE.findall(off.stderr)
    assert int(off_prompt) > int(default_prompt)
