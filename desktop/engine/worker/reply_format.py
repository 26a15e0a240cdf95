"""The shape a reply must take: free text, a GBNF grammar, or JSON (any object or a schema).

A constrained reply gets llama.cpp's grammar sampler as a link of its native sampler chain:
at every step it masks the tokens that cannot continue the grammar, and once the grammar is
complete only end-of-generation is left. A JSON schema is turned into GBNF by llama-cpp-python's
own converter (``llama_cpp.llama_grammar``, the one its server uses), and "any JSON object"
is that module's JSON grammar. Both happen in the worker child, where llama.cpp is loaded; a
grammar llama.cpp cannot parse, or a schema the converter cannot turn into one, is refused
with :class:`InvalidReplyFormat` when the request is queued, before any token is generated.
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from converter.errors import QuantdeskError

#: Longest part of llama.cpp's parse message quoted back (it repeats the rest of the grammar).
_QUOTE_CHARS = 80


class InvalidReplyFormat(QuantdeskError):
    """A grammar llama.cpp cannot parse, or a JSON schema that cannot become a grammar."""


class FormatKind(enum.Enum):
    TEXT = "text"
    GRAMMAR = "grammar"  # GBNF text
    JSON_OBJECT = "json_object"  # any JSON object
    JSON_SCHEMA = "json_schema"  # JSON matching a schema (given as JSON text)
    #: JSON matching a schema between fixed opening and closing text (a forced tool call);
    #: the source is ``{"opening": …, "closing": …, "schema": …}`` as JSON text.
    WRAPPED_JSON = "wrapped_json"


@dataclass(frozen=True, slots=True)
class ReplyFormat:
    """``source`` is the GBNF grammar or the JSON schema (as JSON text); empty otherwise."""

    kind: FormatKind = FormatKind.TEXT
    source: str = ""

    @property
    def constrained(self) -> bool:
        return self.kind is not FormatKind.TEXT

    def gbnf(self) -> str:
        """The grammar the reply must match (call only when :attr:`constrained`)."""
        from llama_cpp import llama_grammar

        if self.kind is FormatKind.GRAMMAR:
            return self.source
        if self.kind is FormatKind.JSON_OBJECT:
            return llama_grammar.JSON_GBNF
        if self.kind is FormatKind.WRAPPED_JSON:
            spec = json.loads(self.source)
            inner = _schema_gbnf(llama_grammar, json.dumps(spec["schema"]))
            # The schema's grammar starts at its "root" rule; here it is one part of the root.
            renamed = re.sub(r"^root ::=", "wrapped-json ::=", inner, count=1, flags=re.M)
            opening, closing = _gbnf_literal(spec["opening"]), _gbnf_literal(spec["closing"])
            return f"root ::= {opening} wrapped-json {closing}\n{renamed}"
        return _schema_gbnf(llama_grammar, self.source)


def _schema_gbnf(llama_grammar: Any, schema: str) -> str:
    try:
        return str(llama_grammar.json_schema_to_gbnf(schema))
    except RecursionError:
        raise InvalidReplyFormat("The JSON schema refers to itself too deeply.") from None
    except Exception as exc:  # the converter asserts, or fails on what it does not expect
        raise InvalidReplyFormat(
            f"The JSON schema cannot be turned into a grammar: {_short(_reason(exc))}."
        ) from None


def _gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal (``""`` matches nothing, so it is left out)."""
    if not text:
        return ""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


#: No constraint: the reply is free text.
FREE_TEXT = ReplyFormat()


def json_schema_format(schema: object) -> ReplyFormat:
    return ReplyFormat(FormatKind.JSON_SCHEMA, json.dumps(schema))


def grammar_sampler(vocab: Any, reply_format: ReplyFormat) -> Any:
    """llama.cpp's grammar sampler for ``reply_format`` (a ``llama_sampler`` pointer).

    llama.cpp says why it cannot use a grammar on the process's stderr (parse errors) or
    through its log (a missing ``root``, left recursion) and returns NULL; those messages are
    caught here and become the error's reason.
    """
    import llama_cpp

    grammar = reply_format.gbnf()
    with _captured_stderr() as captured, _captured_log(llama_cpp) as logged:
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    if not sampler:
        what = "grammar" if reply_format.kind is FormatKind.GRAMMAR else "schema's grammar"
        reason = _parse_reason(captured() + "\n" + "".join(logged))
        raise InvalidReplyFormat(
            f"The {what} is not valid GBNF" + (f": {reason}." if reason else ".")
        )
    return sampler


def _parse_reason(log: str) -> str:
    """The first line of llama.cpp's complaint, without its function-name prefix."""
    for line in log.splitlines():
        line = line.strip()
        if not line:
            continue
        for marker in ("error parsing grammar: ", "invalid grammar: "):
            if marker in line:
                return _short(line.split(marker, 1)[1])
        if "failed to parse grammar" in line:
            continue
        return _short(line)
    return ""


def _short(text: str) -> str:
    text = " ".join(text.split()).rstrip(".").removesuffix(" at")
    return text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS] + "…"


def _reason(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, KeyError | TypeError | AttributeError) or not text:
        return "it uses a form the converter does not support"
    return text


@contextlib.contextmanager
def _captured_log(llama_cpp: Any) -> Iterator[list[str]]:
    """llama.cpp's log messages while the block runs (the app's log routing is put back
    afterwards)."""
    from desktop.engine.llama_log import route_llama_log

    lines: list[str] = []

    def keep(_level: int, text: bytes, _user_data: Any) -> None:
        lines.append(text.decode("utf-8", errors="replace"))

    callback = llama_cpp.llama_log_callback(keep)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    try:
        yield lines
    finally:
        route_llama_log(replacing_any=True)


@contextlib.contextmanager
def _captured_stderr() -> Iterator[Any]:
    """Route file descriptor 2 into a temporary file while the block runs; yields a function
    that reads what was written. The worker child runs one call at a time, so nothing else
    writes there meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        text = ""
        try:
            yield lambda: text
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", errors="replace")
