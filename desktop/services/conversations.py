"""Conversations kept in SQLite, so nothing typed is lost if the app or the worker crashes.

Every write commits at once (WAL journal): the user's message is stored before it is sent to
the model, and a reply is stored while it streams (``complete=False``) and marked complete
when it ends. Headless: the GUI and the tests use it the same way.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converter.errors import QuantdeskError
from converter.paths import data_dir

DATABASE_NAME = "conversations.sqlite3"
ROLES = ("system", "user", "assistant")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    model_path TEXT NOT NULL DEFAULT '',
    system_prompt TEXT NOT NULL DEFAULT '',
    settings_json TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    complete INTEGER NOT NULL DEFAULT 1,
    stats_json TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    UNIQUE (conversation_id, position)
);
"""


class ConversationNotFound(QuantdeskError):
    """A conversation id that is not (or no longer) in the store."""


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    position: int
    role: str
    content: str
    complete: bool = True
    stats: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: int
    title: str
    model_path: str
    updated: float


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    title: str
    model_path: str
    system_prompt: str
    settings: Mapping[str, Any]
    messages: tuple[Message, ...]

    def chat_messages(self) -> list[dict[str, str]]:
        """The OpenAI-style list the model sees: the system prompt, then every message."""
        head = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return head + [{"role": m.role, "content": m.content} for m in self.messages]


class ConversationStore:
    """One SQLite file; safe to call from any thread (calls are serialised)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / DATABASE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None:
                raise RuntimeError("The conversation store is closed.")
            with self._db:  # commits on success, rolls back on error
                yield self._db

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            if self._db is None:
                raise RuntimeError("The conversation store is closed.")
            return self._db.execute(sql, params).fetchall()

    # conversations ---------------------------------------------------------------------
    def create(
        self,
        title: str = "New conversation",
        *,
        model_path: str = "",
        system_prompt: str = "",
        settings: Mapping[str, Any] | None = None,
    ) -> int:
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, model_path, system_prompt, settings_json,"
                " created, updated) VALUES (?, ?, ?, ?, ?, ?)",
                (title, model_path, system_prompt, json.dumps(dict(settings or {})), now, now),
            )
            return int(cursor.lastrowid or 0)

    def list(self, search: str = "") -> list[ConversationSummary]:
        """Newest first; ``search`` matches titles and message text, case-insensitively."""
        sql = "SELECT c.id, c.title, c.model_path, c.updated FROM conversations c"
        params: tuple = ()
        if search.strip():
            pattern = f"%{_escape_like(search.strip())}%"
            sql += (
                " WHERE c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m"
                " WHERE m.conversation_id = c.id AND m.content LIKE ? ESCAPE '\\')"
            )
            params = (pattern, pattern)
        rows = self._read(sql + " ORDER BY c.updated DESC, c.id DESC", params)
        return [ConversationSummary(*row) for row in rows]

    def get(self, conversation_id: int) -> Conversation:
        rows = self._read(
            "SELECT id, title, model_path, system_prompt, settings_json FROM conversations"
            " WHERE id = ?",
            (conversation_id,),
        )
        if not rows:
            raise ConversationNotFound(f"Conversation {conversation_id} no longer exists.")
        cid, title, model_path, system_prompt, settings_json = rows[0]
        messages = self._read(
            "SELECT id, position, role, content, complete, stats_json FROM messages"
            " WHERE conversation_id = ? ORDER BY position",
            (conversation_id,),
        )
        return Conversation(
            id=cid,
            title=title,
            model_path=model_path,
            system_prompt=system_prompt,
            settings=json.loads(settings_json),
            messages=tuple(
                Message(mid, pos, role, content, bool(done), json.loads(stats))
                for mid, pos, role, content, done, stats in messages
            ),
        )

    def update(self, conversation_id: int, **fields: Any) -> None:
        """Change ``title``, ``model_path``, ``system_prompt`` or ``settings``."""
        columns = {"title": "title", "model_path": "model_path", "system_prompt": "system_prompt"}
        sets, params = [], []
        for name, value in fields.items():
            if name == "settings":
                sets.append("settings_json = ?")
                params.append(json.dumps(dict(value)))
            elif name in columns:
                sets.append(f"{columns[name]} = ?")
                params.append(str(value))
            else:
                raise TypeError(f"Unknown conversation field {name!r}")
        if sets:
            self._touch(conversation_id, ", ".join(sets), tuple(params))

    def rename(self, conversation_id: int, title: str) -> None:
        self.update(conversation_id, title=title.strip() or "Untitled")

    def duplicate(self, conversation_id: int) -> int:
        """A copy of the conversation (settings, system prompt, every message) under
        "<title> (copy)": try another path from the same point and keep the original."""
        original = self.get(conversation_id)
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, model_path, system_prompt, settings_json,"
                " created, updated) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    f"{original.title} (copy)",
                    original.model_path,
                    original.system_prompt,
                    json.dumps(dict(original.settings)),
                    now,
                    now,
                ),
            )
            copy_id = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO messages (conversation_id, position, role, content, complete,"
                " stats_json, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (copy_id, m.position, m.role, m.content, int(m.complete),
                     json.dumps(dict(m.stats)), now)
                    for m in original.messages
                ],
            )  # fmt: skip
        return copy_id

    def delete(self, conversation_id: int) -> None:
        with self._write() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def _touch(self, conversation_id: int, sets: str = "", params: tuple = ()) -> None:
        assignments = f"{sets}, updated = ?" if sets else "updated = ?"
        with self._write() as db:
            cursor = db.execute(
                f"UPDATE conversations SET {assignments} WHERE id = ?",
                (*params, time.time(), conversation_id),
            )
            if cursor.rowcount == 0:
                raise ConversationNotFound(f"Conversation {conversation_id} no longer exists.")

    # messages --------------------------------------------------------------------------
    def append(
        self, conversation_id: int, role: str, content: str, *, complete: bool = True
    ) -> int:
        """Add a message at the end and return its id (committed before this returns)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        self._touch(conversation_id)
        with self._write() as db:
            (last,) = db.execute(
                "SELECT COALESCE(MAX(position), -1) FROM messages WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, position, role, content, complete,"
                " created) VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, last + 1, role, content, int(complete), time.time()),
            )
            return int(cursor.lastrowid or 0)

    def insert(self, conversation_id: int, position: int, role: str, content: str) -> int:
        """Put a message at ``position`` (0 is first; the length of the conversation is
        last); the messages from there on move one place down. Returns its id."""
        if role not in ("user", "assistant"):
            raise ValueError(f"Only a user or assistant message can be inserted, not {role!r}.")
        self._touch(conversation_id)
        with self._write() as db:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
            if not 0 <= position <= count:
                raise ValueError(
                    f"A message can go at places 0 to {count} of this conversation, not {position}."
                )
            # Two steps keep positions unique: first out of the way (negative), then one down.
            db.execute(
                "UPDATE messages SET position = -(position + 2)"
                " WHERE conversation_id = ? AND position >= ?",
                (conversation_id, position),
            )
            db.execute(
                "UPDATE messages SET position = -position - 1"
                " WHERE conversation_id = ? AND position < 0",
                (conversation_id,),
            )
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, position, role, content, complete,"
                " created) VALUES (?, ?, ?, ?, 1, ?)",
                (conversation_id, position, role, content, time.time()),
            )
            return int(cursor.lastrowid or 0)

    def set_message(
        self,
        message_id: int,
        content: str,
        *,
        complete: bool = True,
        stats: Mapping[str, Any] | None = None,
    ) -> None:
        """Replace a message's text (a streaming reply saved as it grows, or an edit)."""
        with self._write() as db:
            db.execute(
                "UPDATE messages SET content = ?, complete = ?, stats_json = ? WHERE id = ?",
                (content, int(complete), json.dumps(dict(stats or {})), message_id),
            )

    def truncate(self, conversation_id: int, keep: int) -> None:
        """Drop every message from position ``keep`` on (edit-and-continue, regenerate)."""
        self._touch(conversation_id)
        with self._write() as db:
            db.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND position >= ?",
                (conversation_id, keep),
            )

    # export ----------------------------------------------------------------------------
    def export_json(self, conversation_id: int) -> str:
        c = self.get(conversation_id)
        return json.dumps(
            {
                "title": c.title,
                "model": c.model_path,
                "system_prompt": c.system_prompt,
                "settings": dict(c.settings),
                "messages": [
                    {
                        "role": m.role,
                        "content": m.content,
                        "complete": m.complete,
                        "stats": dict(m.stats),
                    }
                    for m in c.messages
                ],
            },
            indent=2,
            ensure_ascii=False,
        )

    def export_markdown(self, conversation_id: int) -> str:
        c = self.get(conversation_id)
        parts = [f"# {c.title}", ""]
        if c.model_path:
            parts += [f"Model: `{Path(c.model_path).name}`", ""]
        if c.system_prompt:
            parts += ["## System", "", c.system_prompt, ""]
        for m in c.messages:
            heading = "You" if m.role == "user" else "Assistant"
            note = "" if m.complete else " (interrupted)"
            parts += [f"## {heading}{note}", "", m.content, ""]
        return "\n".join(parts)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
