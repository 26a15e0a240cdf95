"""The worker child's decode loop: several replies at once, one ``llama_decode`` per step.

The context holds ``slots`` sequences (llama.cpp's ``n_seq_max``, each with its own part of
the KV cache). Every :meth:`DecodeLoop.step` builds one batch holding the next token of each
reply that is generating plus prompt tokens of replies that have just arrived (up to the
batch size), decodes it, and draws each reply's next token with its own native sampler
chain: the same scheme as llama.cpp's server. A reply that ends (end-of-generation token,
stop string, token budget, full context, cancel) frees its slot at once; a request that
arrives while every slot is busy waits in arrival order.

A slot remembers the tokens its KV cache holds, and a new request goes to the free slot
sharing the longest prefix with its prompt, so a chat's next turn re-evaluates only the new
messages. Repeating a prompt exactly re-evaluates its last batch-sized chunk as a fresh
prompt would, so the same greedy request gives the same text twice. A model with
sliding-window layers (Gemma 3, gpt-oss) keeps only the last window and a batch of cells in
them, as llama.cpp's server loads it. Before each prompt's last chunk the slot copies those
cells (:mod:`.window_checkpoint`); a prompt that branches off further back than the window
still reaches starts from that copy when it shares the tokens before it (a repeated prompt
always does), else from the start. How many prompt tokens came from the cache is part of the
reply's figures.

A reply may be bound to a grammar (its sampler chain holds llama.cpp's grammar sampler) and
may ask for log-probabilities, which travel with the text they spell: a token's figures go
out with the piece that completes its text, so held-back text (a possible stop string) holds
them back too.

Drawing a token with a sampler chain (top-k, top-p, a seeded draw) costs a pass over the whole
vocabulary inside llama.cpp: 0.5-1.3 ms per reply per step for 128k-262k tokens, which one
thread pays once per reply while the GPU waits (llama.cpp's server draws its slots one after
another too). Those draws release the GIL, so the loop makes them on several threads at once;
each reply's chain has its own state and random generator, so the tokens do not depend on the
order the threads run in. Asked to (``draw_on_device``), the loop lets llama.cpp draw plain
greedy replies in the decode's own graph instead (:mod:`.device_draws`).

On a GPU ``llama_decode`` only queues the work and returns; the wait comes when the logits are
read. So a step there starts while the batch queued at the end of the last one is still being
decoded: it spells out the tokens drawn last (detokenizing, stop strings, sending), ends
cancelled replies, and only then waits for the logits, draws, and queues the next batch at
once. Between the logits' arrival and the next ``llama_decode`` the loop does only what the
next batch needs (the draw, the end-of-generation check, filling the batch); the child's
reading of new requests also falls in the decode's time. On an H200 with a Llama-3-8B Q4_K_M
a token takes 3.7 ms, and the loop's own work between two decodes is some tens of µs of it.
A reply whose text then reaches a stop string has had one token too many decoded; its slot's
cache keeps that token (the next request's shared prefix decides what is reused) and no token
is drawn from it. On the CPU the decode itself runs in the call, so there the batch is drawn
from at once, tokens are spelled out before the next decode, and a reply that stops never
costs a decode.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from converter.errors import QuantdeskError
from desktop.engine.worker.device_draws import DeviceDraws
from desktop.engine.worker.embedding import EmbeddingModelOnly, is_embedding_model
from desktop.engine.worker.generation import (
    PromptAbort,
    TextStream,
    TokenPieces,
    media_placeholder_tokens,
    rate,
    tokenize_prompt,
)
from desktop.engine.worker.logits_rows import LogitsRows
from desktop.engine.worker.protocol import Failed, Finished, GenerateRequest, PromptTooLong
from desktop.engine.worker.reply_format import grammar_sampler
from desktop.engine.worker.results import ReplyTimings, StopReason, TokenLogprobs
from desktop.engine.worker.sampler_chain import SamplerChain
from desktop.engine.worker.token_logprobs import LogprobReader
from desktop.engine.worker.token_text import require_known
from desktop.engine.worker.window_checkpoint import WindowCheckpoint

#: Sends a piece of a reply's text, with the log-probabilities of the tokens it completes.
SendPiece = Callable[[str, tuple[TokenLogprobs, ...]], None]


@dataclass(slots=True, eq=False)
class _Reply:
    """One request being answered in a slot."""

    request: GenerateRequest
    prompt: list[int]
    sampler: SamplerChain
    text: TextStream
    send_piece: SendPiece
    flush: Callable[[], None]
    budget: int
    limit_reason: StopReason
    started: float
    reused: int = 0
    prompt_done: int = 0  # prompt tokens in the KV cache
    next_token: int | None = None  # sampled, not yet decoded
    sampled: int = 0
    generated: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    cancelled: bool = False
    drawn_on_device: bool = False  # greedy, drawn by llama.cpp in the decode's own graph
    parts: list[str] = field(default_factory=list)
    logprobs: list[TokenLogprobs] | None = None  # one per reply token, when asked for
    logprobs_sent: int = 0

    def release_logprobs(self, up_to: int) -> tuple[TokenLogprobs, ...]:
        """The figures of tokens ``logprobs_sent`` … ``up_to`` - 1, not sent before."""
        if self.logprobs is None or up_to <= self.logprobs_sent:
            return ()
        released = tuple(self.logprobs[self.logprobs_sent : up_to])
        self.logprobs_sent = up_to
        return released


class _Drawn(NamedTuple):
    """A drawn token whose text is not yet spelled out; ``last``: the reply's budget ends."""

    slot: _Slot
    reply: _Reply
    token: int
    last: bool


@dataclass(slots=True, eq=False)
class _Slot:
    seq_id: int
    cached: list[int] = field(default_factory=list)  # tokens whose keys and values are stored
    reply: _Reply | None = None
    checkpoint: WindowCheckpoint | None = None  # with sliding-window layers only


#: A batch row whose logits a reply draws its next token from.
_Row = tuple[int, _Slot, _Reply]


class DecodeLoop:
    """Answers :class:`GenerateRequest` s on one loaded ``Llama``; the child drives it.

    ``open_stream(request_id)`` returns the function a reply's text goes through (the child's
    20 ms batching) and one to flush it; ``send`` carries Finished and Failed events.
    """

    def __init__(
        self,
        llama: Any,
        *,
        slots: int,
        send: Callable[[object], None],
        open_stream: Callable[[int], tuple[SendPiece, Callable[[], None]]],
        cancelled: Callable[[], bool],
        draw_threads: int | None = None,
        overlap: bool | None = None,
        draw_on_device: bool = False,
    ) -> None:
        """``draw_threads``: how many threads draw tokens at once (None: one per CPU, at
        most one per slot). ``overlap``: spell out drawn tokens while the next decode runs
        (None: when the model's layers are on a GPU, where decoding is asynchronous).
        ``draw_on_device``: plain greedy replies draw in the decode's graph
        (:mod:`.device_draws`, which says why it is off unless asked)."""
        import llama_cpp

        self._c = llama_cpp
        self._llama = llama
        self._ctx = llama.ctx
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._media_tokens = media_placeholder_tokens(self._vocab)
        self._embedding_only = is_embedding_model(llama.metadata)
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        self._n_batch = int(llama_cpp.llama_n_batch(self._ctx))
        # the attention window of sliding-window layers (1: every layer sees every token)
        self._n_swa = max(1, int(llama_cpp.llama_model_n_swa(llama.model)))
        self.slot_ctx_tokens = int(llama_cpp.llama_n_ctx_seq(self._ctx))
        self._batch = llama_cpp.llama_batch_init(self._n_batch, 0, 1)
        # The batch's arrays, fetched once: each field read of the structure builds an object.
        self._batch_token = self._batch.token
        self._batch_pos = self._batch.pos
        self._batch_n_seq_id = self._batch.n_seq_id
        self._batch_seq_id = self._batch.seq_id
        self._batch_logits = self._batch.logits
        # sliding-window layers that keep only their window (as the worker loads them)
        windowed = self._n_swa > 1 and not getattr(llama.context_params, "swa_full", True)
        self._slots = [
            _Slot(
                seq_id,
                checkpoint=WindowCheckpoint(llama_cpp, self._ctx, seq_id) if windowed else None,
            )
            for seq_id in range(slots)
        ]
        self._waiting: collections.deque[_Reply] = collections.deque()
        self._send = send
        self._open_stream = open_stream
        self._cancelled = cancelled
        self._abort = PromptAbort(llama, cancelled)
        self._logits = LogitsRows(self._ctx, self._n_vocab)
        self._pieces = TokenPieces(self._vocab)  # shared by the replies: each remembers pieces
        self._logprobs = LogprobReader(self._logits, self._pieces)
        self._ends: dict[int, bool] = {}  # token → ends generation (asked of llama.cpp once)
        if overlap is None:
            overlap = bool(
                llama_cpp.llama_supports_gpu_offload() and llama.model_params.n_gpu_layers != 0
            )
        self._overlap = overlap
        self._device_draws = DeviceDraws(self._ctx, enabled=draw_on_device)
        self._drawn: list[_Drawn] = []  # tokens drawn, their text not yet spelled out
        self._in_flight: list[_Row] = []  # rows of the batch queued on a GPU, not yet drawn
        self._cancel_pending = False  # a reply was marked cancelled since the last step
        self._draw_threads = min(slots, draw_threads or os.cpu_count() or 1)
        self._draw_pool = (
            ThreadPoolExecutor(self._draw_threads, thread_name_prefix="draw")
            if self._draw_threads > 1
            else None
        )

    # --- requests -----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return (
            bool(self._waiting)
            or bool(self._drawn)
            or bool(self._in_flight)
            or any(slot.reply is not None for slot in self._slots)
        )

    def submit(self, request: GenerateRequest) -> None:
        """Queue a request; a prompt that can never fit a slot, or a grammar llama.cpp cannot
        parse, is refused before any work."""
        if self._embedding_only:
            name = self._llama.metadata.get("general.name") or "This model"
            raise EmbeddingModelOnly(
                f"{name} is an embedding model: it turns text into vectors (the local API's "
                "/v1/embeddings) and cannot write replies. Load a chat or base model for that."
            )
        started = time.perf_counter()
        prompt = tokenize_prompt(self._llama, self._vocab, request)
        if len(prompt) + max(request.reply_room, 1) > self.slot_ctx_tokens:
            raise PromptTooLong(_too_long(len(prompt), request.reply_room, self.slot_ctx_tokens))
        sampling = request.sampling
        budget = min(sampling.max_tokens, self.slot_ctx_tokens - len(prompt))
        require_known((token for token, _ in sampling.logit_bias), self._n_vocab, " in logit_bias")
        grammar = None
        if request.reply_format.constrained:
            grammar = grammar_sampler(self._vocab, request.reply_format)
        sampler = SamplerChain(sampling, n_vocab=self._n_vocab, grammar=grammar)
        send_piece, flush = self._open_stream(request.request_id)
        self._waiting.append(
            _Reply(
                request=request,
                prompt=prompt,
                sampler=sampler,
                text=TextStream(self._pieces, request.stop_strings, self._media_tokens),
                send_piece=send_piece,
                flush=flush,
                budget=budget,
                limit_reason=(
                    StopReason.MAX_TOKENS
                    if budget == sampling.max_tokens
                    else StopReason.CONTEXT_FULL
                ),
                started=started,
                logprobs=None if request.logprobs is None else [],
            )
        )

    def cancel(self, request_id: int) -> None:
        """End one reply at the next step, keeping its text so far (unknown ids are ignored)."""
        for reply in self._replies():
            if reply.request.request_id == request_id:
                reply.cancelled = self._cancel_pending = True

    def _replies(self) -> list[_Reply]:
        return [*self._waiting, *(slot.reply for slot in self._slots if slot.reply is not None)]

    # --- one step -------------------------------------------------------------------------------

    def step(self) -> None:
        """Spell out the tokens drawn last, draw the next ones, decode the next batch.

        On a GPU the step starts while the batch queued by the last step is being decoded,
        and ends with the next batch queued (see the module's notes)."""
        if self._cancelled():
            for reply in self._replies():
                reply.cancelled = self._cancel_pending = True
        self._spell_drawn()  # a cancelled reply keeps the text of every token it drew
        if self._cancel_pending:
            self._collect_in_flight()  # ... and of the one being decoded for it, as on the CPU
            self._spell_drawn()
            self._end_cancelled()
        self._collect_in_flight()
        self._admit()
        rows = self._launch()
        if self._overlap:
            self._in_flight = rows
        elif rows:
            self._collect(rows)

    def _launch(self) -> list[_Row]:
        """Fill the next batch and decode it (on a GPU: queue it); the rows to draw from."""
        rows, lengths_before, has_prompt = self._fill_batch()
        if not lengths_before:
            return []
        if has_prompt:
            self._abort.arm()
        try:
            status = self._c.llama_decode(self._ctx, self._batch)
        finally:
            if has_prompt:
                self._abort.disarm()
        if status != 0:
            self._decode_failed(status, lengths_before)
            return []
        return rows

    def _collect_in_flight(self) -> None:
        rows, self._in_flight = self._in_flight, []
        self._collect(rows)

    def _collect(self, rows: list[_Row]) -> None:
        """Draw each row's token (waiting for the decode) and take it into its reply."""
        # A reply that ended since the batch was filled (a stop string, cancel) draws nothing.
        rows = [item for item in rows if item[1].reply is item[2]]
        if not rows:
            return
        tokens = self._draw(rows)
        now = time.perf_counter()
        for (row, slot, reply), token in zip(rows, tokens, strict=True):
            if reply.logprobs is not None:
                top = reply.request.logprobs or 0
                reply.logprobs.append(self._logprobs.read(row, token, top))
            self._take(slot, reply, token, now)

    def _end_cancelled(self) -> None:
        self._cancel_pending = False
        for reply in [r for r in self._waiting if r.cancelled]:
            self._waiting.remove(reply)
            self._finish(None, reply, StopReason.CANCELLED)
        for slot in self._slots:
            if slot.reply is not None and slot.reply.cancelled:
                self._finish(slot, slot.reply, StopReason.CANCELLED)

    def _draw(self, rows: list[_Row]) -> list[int]:
        """Each reply's next token from its batch row; native chains on several threads."""
        if len(rows) == 1:  # one reply: nothing to share out
            row, _slot, reply = rows[0]
            return [self._draw_one(row, reply)]
        tokens = [0] * len(rows)
        native = [i for i, (_row, _slot, reply) in enumerate(rows) if reply.sampler.native]
        if self._draw_pool is None or len(native) < 2:
            native = []
        else:
            # Waits for the decode and settles the rows' order once, before threads read them.
            self._logits.row(rows[native[0]][0])

            def draw_share(share: list[int]) -> None:
                for i in share:
                    tokens[i] = rows[i][2].sampler.sample(self._logits, rows[i][0])

            shares = [native[k :: self._draw_threads] for k in range(self._draw_threads)]
            # list() waits for every share and re-raises a thread's exception here.
            list(self._draw_pool.map(draw_share, [share for share in shares if share]))
        drawn = set(native)
        for i, (row, _slot, reply) in enumerate(rows):
            if i not in drawn:
                tokens[i] = self._draw_one(row, reply)
        return tokens

    def _draw_one(self, row: int, reply: _Reply) -> int:
        if reply.drawn_on_device:
            return self._device_draws.token(row)
        return reply.sampler.sample(self._logits, row)

    def _admit(self) -> None:
        """Give waiting requests the free slots, preferring the one that shares most prompt."""
        while self._waiting:
            free = [slot for slot in self._slots if slot.reply is None]
            if not free:
                return
            reply = self._waiting.popleft()
            slot = max(free, key=lambda s: _shared_prefix(s.cached, reply.prompt))
            keep = min(_shared_prefix(slot.cached, reply.prompt), len(reply.prompt) - 1)
            copied = slot.checkpoint.position if slot.checkpoint is not None else None
            same_prompt = keep == len(reply.prompt) - 1  # again: redo its last chunk
            if same_prompt and copied is not None and copied <= keep:
                keep = self._from_checkpoint(slot, copied)  # over the cells as laid out then
            else:
                if same_prompt:
                    keep = (len(reply.prompt) - 1) // self._n_batch * self._n_batch
                if not self._keeps_prefix(slot.seq_id, keep):
                    keep = self._from_checkpoint(slot, keep)
            if slot.checkpoint is not None and copied is not None and copied > keep:
                slot.checkpoint.drop()  # the tokens before it are no longer all the slot's
            del slot.cached[keep:]
            reply.reused = reply.prompt_done = keep
            reply.drawn_on_device = self._device_draws.use(
                slot.seq_id, wanted=reply.sampler.plain_greedy and reply.logprobs is None
            )
            slot.reply = reply

    def _keeps_prefix(self, seq_id: int, keep: int) -> bool:
        """Drop a slot's cells from position ``keep`` on; whether its first ``keep`` tokens
        can then be built on. Not when the cache cannot drop a part (recurrent layers), nor
        when sliding-window layers no longer hold the window that the token at ``keep``
        attends to: they keep only the last window and a batch of cells (llama.cpp's server
        makes the same test)."""
        if not self._c.llama_memory_seq_rm(self._memory, seq_id, keep, -1):
            return False
        if keep == 0:
            return True
        oldest = self._c.llama_memory_seq_pos_min(self._memory, seq_id)
        return 0 <= oldest <= max(0, keep - self._n_swa)

    def _from_checkpoint(self, slot: _Slot, keep: int) -> int:
        """Where a prompt that shares ``keep`` tokens starts when the sliding-window layers no
        longer hold their window there: at the slot's checkpoint, its cells put back, when it
        lies within the shared part; else at 0, the slot emptied."""
        checkpoint = slot.checkpoint
        position = checkpoint.position if checkpoint is not None else None
        if (
            checkpoint is not None
            and position is not None
            and 0 < position <= keep
            and checkpoint.restore()
            and self._keeps_prefix(slot.seq_id, position)
        ):
            return position
        self._c.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)
        return 0

    def _fill_batch(self) -> tuple[list[_Row], dict[int, int], bool]:
        """Next tokens first (they keep replies flowing), then prompt chunks in the room left.

        Returns the rows whose logits are sampled, each slot's cache length before the step,
        and whether prompt tokens are in the batch.
        """
        batch = self._batch
        rows: list[_Row] = []
        lengths_before: dict[int, int] = {}
        n = 0
        for slot in self._slots:
            reply = slot.reply
            if reply is None or reply.next_token is None:
                continue
            if n == self._n_batch:  # more slots than batch rows: the rest go next step
                break
            lengths_before[slot.seq_id] = len(slot.cached)
            self._put(n, reply.next_token, slot, logits=True)
            rows.append((n, slot, reply))
            reply.next_token = None
            n += 1
        has_prompt = False
        for slot in self._slots:
            reply = slot.reply
            if reply is None or reply.prompt_done == len(reply.prompt) or n == self._n_batch:
                continue
            lengths_before.setdefault(slot.seq_id, len(slot.cached))
            end = min(len(reply.prompt), reply.prompt_done + self._n_batch - n)
            if slot.checkpoint is not None and end == len(reply.prompt) and reply.prompt_done:
                slot.checkpoint.save_and_settle(reply.prompt_done)  # before the last chunk
            for index in range(reply.prompt_done, end):
                last = index == len(reply.prompt) - 1
                self._put(n, reply.prompt[index], slot, logits=last)
                if last:
                    rows.append((n, slot, reply))
                n += 1
            reply.prompt_done = end
            has_prompt = True
        batch.n_tokens = n
        return rows, lengths_before, has_prompt

    def _put(self, row: int, token: int, slot: _Slot, *, logits: bool) -> None:
        self._batch_token[row] = token
        self._batch_pos[row] = len(slot.cached)
        self._batch_n_seq_id[row] = 1
        self._batch_seq_id[row][0] = slot.seq_id
        self._batch_logits[row] = logits
        slot.cached.append(token)

    def _take(self, slot: _Slot, reply: _Reply, token: int, now: float) -> None:
        """A drawn token: the reply ends at an end-of-generation token; otherwise the token is
        decoded next (unless the budget is spent) and its text is spelled out later."""
        if reply.sampled == 0:
            reply.first_at = now
        reply.last_at = now
        reply.sampled += 1
        if self._ends_generation(token):
            if reply.logprobs is not None:
                reply.logprobs.pop()  # the end is no part of the reply
            self._finish(slot, reply, StopReason.EOS)
            return
        reply.generated += 1
        last = reply.generated >= reply.budget
        if not last:
            reply.next_token = token
        self._drawn.append(_Drawn(slot, reply, token, last))

    def _ends_generation(self, token: int) -> bool:
        ends = self._ends.get(token)
        if ends is None:
            ends = self._ends[token] = bool(self._c.llama_vocab_is_eog(self._vocab, token))
        return ends

    def _spell_drawn(self) -> None:
        """Turn drawn tokens into text and send it; a stop string or the budget ends a reply."""
        drawn, self._drawn = self._drawn, []
        for item in drawn:
            reply = item.reply
            if item.slot.reply is not reply:  # ended meanwhile (cancel, failure)
                continue
            piece = reply.text.push(item.token)
            released = (
                () if reply.logprobs is None else reply.release_logprobs(reply.text.shown_tokens)
            )
            if piece or released:
                reply.parts.append(piece)
                reply.send_piece(piece, released)
            if reply.text.stopped:
                reply.next_token = None
                self._finish(item.slot, reply, StopReason.EOS)
            elif item.last:
                self._finish(item.slot, reply, reply.limit_reason)

    def _decode_failed(self, status: int, lengths_before: dict[int, int]) -> None:
        """Put the cache back as it was, and end the replies in the batch (cancelled or failed)."""
        for slot in self._slots:
            if slot.seq_id not in lengths_before:
                continue
            keep = lengths_before[slot.seq_id]
            self._c.llama_memory_seq_rm(self._memory, slot.seq_id, keep, -1)
            del slot.cached[keep:]
            reply = slot.reply
            if reply is None:  # ended by a stop string while the batch was decoded
                continue
            if status == 2 and self._cancelled():  # the abort callback stopped a prompt
                self._finish(slot, reply, StopReason.CANCELLED)
                continue
            reply.flush()
            message = (
                "llama.cpp found no room in the KV cache for this reply."
                if status == 1
                else f"llama.cpp could not decode the batch (error {status})."
            )
            self._send(Failed(QuantdeskError.__name__, message, reply.request.request_id))
            self._release(slot, reply)

    def _finish(self, slot: _Slot | None, reply: _Reply, reason: StopReason) -> None:
        rest = reply.text.flush()
        released = reply.release_logprobs(reply.text.reply_tokens)
        if rest or released:
            reply.parts.append(rest)
            reply.send_piece(rest, released)
        reply.flush()
        finished = time.perf_counter()
        if reply.sampled == 0:
            reply.first_at = reply.last_at = finished
        prompt_seconds = reply.first_at - reply.started
        timings = ReplyTimings(
            text="".join(reply.parts),
            stop_reason=reason,
            prompt_tokens=len(reply.prompt),
            generated_tokens=reply.text.reply_tokens,
            time_to_first_token_seconds=prompt_seconds,
            prompt_tokens_per_second=rate(len(reply.prompt) - reply.reused, prompt_seconds),
            generation_tokens_per_second=rate(reply.sampled - 1, reply.last_at - reply.first_at),
            total_seconds=finished - reply.started,
            cached_prompt_tokens=reply.reused,
        )
        self._send(Finished(reply.request.request_id, timings))
        self._release(slot, reply)

    def _release(self, slot: _Slot | None, reply: _Reply) -> None:
        reply.sampler.close()
        if slot is not None:
            slot.reply = None

    def fail_all(
        self, exc: BaseException, describe: Callable[[BaseException, int], Failed]
    ) -> None:
        """An unexpected error in a step: every reply gets it, and the slots start empty."""
        for reply in self._replies():
            reply.flush()
            self._send(describe(exc, reply.request.request_id))
            reply.sampler.close()
        self._waiting.clear()
        self._drawn.clear()
        self._in_flight = []
        self._c.llama_synchronize(self._ctx)  # a batch queued on a GPU may still be running
        for slot in self._slots:
            slot.reply = None
            slot.cached.clear()
            if slot.checkpoint is not None:
                slot.checkpoint.drop()
        self._c.llama_memory_clear(self._memory, True)

    def close(self) -> None:
        """Free the native parts (the replies must have ended)."""
        for reply in self._replies():
            reply.sampler.close()
        if self._draw_pool is not None:
            pool, self._draw_pool = self._draw_pool, None
            pool.shutdown()
        self._in_flight = []
        self._c.llama_synchronize(self._ctx)
        self._device_draws.close()
        if self._batch is not None:
            batch, self._batch = self._batch, None
            self._c.llama_batch_free(batch)


def _shared_prefix(cached: list[int], prompt: list[int]) -> int:
    shared = 0
    for old, new in zip(cached, prompt, strict=False):
        if old != new:
            break
        shared += 1
    return shared


def _too_long(prompt_tokens: int, reply_room: int, ctx_tokens: int) -> str:
    fix = "Start a new chat or load the model with a larger context."
    if prompt_tokens >= ctx_tokens:
        return (
            f"The conversation is {prompt_tokens} tokens long, more than the model's "
            f"{ctx_tokens}-token context. {fix}"
        )
    return (
        f"The conversation is {prompt_tokens} tokens long and leaves less than {reply_room} "
        f"of the model's {ctx_tokens}-token context for the reply. {fix}"
    )
