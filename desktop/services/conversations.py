"""Conversations kept in SQLite, so nothing typed is lost if the app or the worker crashes.

Every write commits at once (WAL journal): the user's message is stored before it is sent to
the model, and a reply is stored while it streams (``complete=False``) and marked complete
when it ends. Headless: the GUI and the tests use it the same way.
"""

from __future__ import annotations

import builtins
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
CREATE TABLE IF NOT EXISTS folders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    collapsed INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
"""
#: Added after the first release: a store written before folders gets the column on opening.
_FOLDER_COLUMN = (
    "ALTER TABLE conversations ADD COLUMN folder_id INTEGER"
    " REFERENCES folders(id) ON DELETE SET NULL"
)


class ConversationNotFound(QuantdeskError):
    """A conversation id that is not (or no longer) in the store."""


class FolderError(QuantdeskError):
    """A folder that is not (or no longer) there, or a name it cannot have."""


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
    folder_id: int | None = None


@dataclass(frozen=True, slots=True)
class Folder:
    id: int
    name: str
    collapsed: bool


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
        # Commits are made on the GUI thread (a sent message, a renamed conversation). With the
        # default FULL, each one waits for the disk to flush (tens of ms on a slow disk, six per
        # sent message); with WAL, NORMAL flushes at checkpoints only and still never corrupts
        # the file: a power cut can lose the last moments, not the database.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(conversations)")}
        if "folder_id" not in columns:
            with self._db:
                self._db.execute(_FOLDER_COLUMN)

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
        sql = "SELECT c.id, c.title, c.model_path, c.updated, c.folder_id FROM conversations c"
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
            (folder_id,) = db.execute(
                "SELECT folder_id FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            cursor = db.execute(
                "INSERT INTO conversations (title, model_path, system_prompt, settings_json,"
                " created, updated, folder_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    f"{original.title} (copy)",
                    original.model_path,
                    original.system_prompt,
                    json.dumps(dict(original.settings)),
                    now,
                    now,
                    folder_id,
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

    # folders ---------------------------------------------------------------------------
    def folders(self) -> builtins.list[Folder]:
        """Every folder, by name."""
        rows = self._read(
            "SELECT id, name, collapsed FROM folders ORDER BY name COLLATE NOCASE, id"
        )
        return [Folder(fid, name, bool(collapsed)) for fid, name, collapsed in rows]

    def create_folder(self, name: str) -> int:
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO folders (name, created) VALUES (?, ?)",
                (_folder_name(name), time.time()),
            )
            return int(cursor.lastrowid or 0)

    def rename_folder(self, folder_id: int, name: str) -> None:
        self._change_folder(folder_id, "name = ?", (_folder_name(name),))

    def set_folder_collapsed(self, folder_id: int, collapsed: bool) -> None:
        """Remember whether the list shows the folder closed."""
        self._change_folder(folder_id, "collapsed = ?", (int(collapsed),))

    def delete_folder(self, folder_id: int) -> int:
        """Delete the folder, never its conversations: they move out of it, to the top of
        the list. Returns how many moved."""
        with self._write() as db:
            moved = db.execute(
                "UPDATE conversations SET folder_id = NULL WHERE folder_id = ?", (folder_id,)
            ).rowcount
            if db.execute("DELETE FROM folders WHERE id = ?", (folder_id,)).rowcount == 0:
                raise FolderError(f"Folder {folder_id} no longer exists.")
            return int(moved)

    def move_to_folder(self, conversation_id: int, folder_id: int | None) -> None:
        """Put the conversation in ``folder_id``, or out of any folder with None."""
        if folder_id is not None and not self._read(
            "SELECT 1 FROM folders WHERE id = ?", (folder_id,)
        ):
            raise FolderError(f"Folder {folder_id} no longer exists.")
        with self._write() as db:  # not _touch: moving is no reason to go up the list
            cursor = db.execute(
                "UPDATE conversations SET folder_id = ? WHERE id = ?",
                (folder_id, conversation_id),
            )
            if cursor.rowcount == 0:
                raise ConversationNotFound(f"Conversation {conversation_id} no longer exists.")

    def _change_folder(self, folder_id: int, sets: str, params: tuple) -> None:
        with self._write() as db:
            cursor = db.execute(f"UPDATE folders SET {sets} WHERE id = ?", (*params, folder_id))
            if cursor.rowcount == 0:
                raise FolderError(f"Folder {folder_id} no longer exists.")

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


def _folder_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise FolderError("A folder needs a name.")
    return cleaned


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
