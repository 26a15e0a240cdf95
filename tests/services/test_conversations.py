"""The SQLite conversation store: nothing typed is lost, search/rename/delete/export work."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from desktop.services.conversations import (
    ConversationNotFound,
    ConversationStore,
    Folder,
    FolderError,
)
from tests.conftest import REPO_ROOT


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    s = ConversationStore(tmp_path / "c.sqlite3")
    yield s
    s.close()


def test_messages_keep_order_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    first = ConversationStore(path)
    cid = first.create("Greetings", model_path="/m/tiny-Q8_0.gguf", system_prompt="Be brief.")
    first.append(cid, "user", "hello")
    reply = first.append(cid, "assistant", "hi th", complete=False)
    first.set_message(reply, "hi there", complete=True, stats={"tokens": 3})
    first.close()

    again = ConversationStore(path)
    conversation = again.get(cid)
    again.close()
    assert [(m.role, m.content, m.complete) for m in conversation.messages] == [
        ("user", "hello", True),
        ("assistant", "hi there", True),
    ]
    assert conversation.messages[1].stats == {"tokens": 3}
    assert conversation.chat_messages()[0] == {"role": "system", "content": "Be brief."}


def test_message_is_committed_when_the_process_dies_right_after(tmp_path: Path) -> None:
    """A hard exit (no close, no atexit) right after append keeps the message."""
    path = tmp_path / "c.sqlite3"
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from desktop.services.conversations import ConversationStore
        s = ConversationStore(Path({str(path)!r}))
        cid = s.create("crash")
        s.append(cid, "user", "typed before the crash")
        s.append(cid, "assistant", "partial rep", complete=False)
        os._exit(9)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, timeout=60)
    assert result.returncode == 9
    store = ConversationStore(path)
    (summary,) = store.list()
    messages = store.get(summary.id).messages
    store.close()
    assert [m.content for m in messages] == ["typed before the crash", "partial rep"]
    assert messages[1].complete is False


def test_search_rename_delete(store: ConversationStore) -> None:
    a = store.create("Cooking")
    store.append(a, "user", "How long do I boil an egg?")
    b = store.create("Travel")
    store.append(b, "user", "Trains from Lyon to 100% Turin")
    assert [c.id for c in store.list("egg")] == [a]
    assert [c.id for c in store.list("travel")] == [b]
    assert [c.id for c in store.list("100%")] == [b]
    assert store.list("zebra") == []
    store.rename(a, "  Eggs  ")
    assert store.get(a).title == "Eggs"
    store.delete(a)
    with pytest.raises(ConversationNotFound):
        store.get(a)
    assert [c.id for c in store.list()] == [b]


def test_truncate_supports_edit_and_regenerate(store: ConversationStore) -> None:
    cid = store.create()
    for role, text in [("user", "1"), ("assistant", "2"), ("user", "3"), ("assistant", "4")]:
        store.append(cid, role, text)
    store.truncate(cid, 2)
    assert [m.content for m in store.get(cid).messages] == ["1", "2"]
    store.append(cid, "user", "3b")
    assert [m.position for m in store.get(cid).messages] == [0, 1, 2]


def test_duplicate_copies_everything_and_the_copy_changes_alone(store: ConversationStore) -> None:
    cid = store.create("Trip", model_path="/m/a.gguf", system_prompt="Be brief.",
                       settings={"temperature": 0.2})  # fmt: skip
    store.append(cid, "user", "hello")
    reply = store.append(cid, "assistant", "hi th", complete=False)
    store.set_message(reply, "hi th", complete=False, stats={"tokens": 2})
    copy_id = store.duplicate(cid)
    original, copy = store.get(cid), store.get(copy_id)
    assert copy_id != cid and copy.title == "Trip (copy)"
    assert (copy.model_path, copy.system_prompt, dict(copy.settings)) == (
        "/m/a.gguf", "Be brief.", {"temperature": 0.2},
    )  # fmt: skip
    keep = [(m.position, m.role, m.content, m.complete, dict(m.stats)) for m in original.messages]
    assert [
        (m.position, m.role, m.content, m.complete, dict(m.stats)) for m in copy.messages
    ] == keep
    store.truncate(copy_id, 1)
    assert len(store.get(cid).messages) == 2 and len(store.get(copy_id).messages) == 1
    with pytest.raises(ConversationNotFound):
        store.duplicate(9999)


def test_exports(store: ConversationStore) -> None:
    cid = store.create("Export me", system_prompt="sys", settings={"temperature": 0.2})
    store.append(cid, "user", "question")
    store.append(cid, "assistant", "```python\nprint(1)\n```", complete=False)
    data = json.loads(store.export_json(cid))
    assert data["settings"] == {"temperature": 0.2}
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    markdown = store.export_markdown(cid)
    assert markdown.startswith("# Export me")
    assert "## Assistant (interrupted)" in markdown
    assert "```python\nprint(1)\n```" in markdown


def test_bad_input_is_refused(store: ConversationStore) -> None:
    cid = store.create()
    with pytest.raises(ValueError, match="role"):
        store.append(cid, "robot", "x")
    with pytest.raises(TypeError):
        store.update(cid, colour="red")
    with pytest.raises(ConversationNotFound):
        store.append(cid + 99, "user", "x")


def test_insert_puts_a_message_anywhere_and_the_model_sees_the_new_order(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    first = ConversationStore(path)
    cid = first.create(system_prompt="Be brief.")
    for role, text in [("user", "a"), ("assistant", "b"), ("user", "c")]:
        first.append(cid, role, text)
    first.insert(cid, 1, "assistant", "inserted reply")
    first.insert(cid, 0, "user", "first of all")
    first.insert(cid, 5, "assistant", "at the end")
    first.close()
    again = ConversationStore(path)  # kept across a restart
    conversation = again.get(cid)
    again.close()
    assert [m.position for m in conversation.messages] == [0, 1, 2, 3, 4, 5]
    assert conversation.chat_messages() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first of all"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "inserted reply"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": "at the end"},
    ]


def test_insert_refuses_a_bad_place_or_role(store: ConversationStore) -> None:
    cid = store.create()
    store.append(cid, "user", "a")
    with pytest.raises(ValueError, match="places 0 to 1"):
        store.insert(cid, 2, "user", "x")
    with pytest.raises(ValueError, match="user or assistant"):
        store.insert(cid, 0, "system", "x")
    assert [m.content for m in store.get(cid).messages] == ["a"]


def test_folders_hold_conversations_and_deleting_one_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    first = ConversationStore(path)
    trips, work = first.create_folder(" Trips "), first.create_folder("work")
    alps, rome, loose = first.create("Alps"), first.create("Rome"), first.create("Loose")
    first.move_to_folder(alps, trips)
    first.move_to_folder(rome, trips)
    first.rename_folder(work, "Work  notes")
    first.set_folder_collapsed(trips, True)
    copy = first.duplicate(alps)  # a copy stays beside its original
    first.close()

    again = ConversationStore(path)  # folders, their contents and collapse survive a restart
    assert again.folders() == [Folder(trips, "Trips", True), Folder(work, "Work notes", False)]
    by_id = {s.id: s.folder_id for s in again.list()}
    assert by_id == {alps: trips, rome: trips, loose: None, copy: trips}
    again.move_to_folder(rome, None)
    assert again.delete_folder(trips) == 2  # Alps and its copy move out, nothing is deleted
    assert {s.id: s.folder_id for s in again.list()} == dict.fromkeys(by_id)
    assert [f.name for f in again.folders()] == ["Work notes"]
    again.close()


def test_folder_mistakes_get_clear_errors(store: ConversationStore) -> None:
    cid = store.create()
    with pytest.raises(FolderError, match="needs a name"):
        store.create_folder("   ")
    with pytest.raises(FolderError, match="no longer exists"):
        store.move_to_folder(cid, 42)
    with pytest.raises(FolderError, match="no longer exists"):
        store.delete_folder(42)
    folder = store.create_folder("A")
    with pytest.raises(ConversationNotFound):
        store.move_to_folder(cid + 99, folder)


def test_a_store_written_before_folders_gets_them(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the tables as they were before folders
        db.execute(
            "CREATE TABLE conversations (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT"
            " NULL, model_path TEXT NOT NULL DEFAULT '', system_prompt TEXT NOT NULL DEFAULT"
            " '', settings_json TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, updated"
            " REAL NOT NULL)"
        )
        db.execute("INSERT INTO conversations (title, created, updated) VALUES ('Old', 1, 1)")
    db.close()
    store = ConversationStore(path)
    (old,) = store.list()
    assert (old.title, old.folder_id) == ("Old", None)
    store.move_to_folder(old.id, store.create_folder("Archive"))
    assert store.list()[0].folder_id is not None
    store.close()
