"""What goes into a command besides its arguments, and what comes out of it.

``Call`` is what the edge knows about the caller: the request id that tags the events a command
causes, and the Idempotency-Key that makes the command safe to repeat. ``CommandOutcome`` is the
answer: the sequence as the command left it, the command's id, and the state of the undo and
redo stacks. An outcome is also what an idempotent replay returns, so it can be stored and read
back (``to_record`` / ``from_record``) and renders the same each time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.events import Event
from app.domain.models import SequenceData


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's key in its scope (``scope`` names the operation: the same key on another
    operation is another key), and a fingerprint of the request it came with."""

    scope: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Call:
    request_id: str | None = None
    idempotency: IdempotencyKey | None = None


NO_CALL = Call()


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    sequence: SequenceData | None  # None once deleted
    command_id: str
    description: str
    can_undo: bool
    can_redo: bool
    undo_description: str | None
    redo_description: str | None
    timestamp: str  # when the command committed
    created: bool = False  # the command made something new (a sequence, a beat)
    events: tuple[Event, ...] = ()  # the events it committed; empty for a replay
    replayed: bool = False  # the stored outcome of an earlier call with the same Idempotency-Key
    warnings: tuple[dict[str, Any], ...] | None = None  # an import's: what it corrected in its file

    def to_record(self) -> dict[str, Any]:
        return {"sequence": None if self.sequence is None else self.sequence.to_dict(),
                "command_id": self.command_id, "description": self.description, "can_undo": self.can_undo,
                "can_redo": self.can_redo, "undo_description": self.undo_description,
                "redo_description": self.redo_description, "timestamp": self.timestamp, "created": self.created,
                "warnings": None if self.warnings is None else list(self.warnings)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "CommandOutcome":
        sequence = record["sequence"]
        return cls(**{**record, "sequence": None if sequence is None else SequenceData.from_dict(sequence),
                      "warnings": None if record.get("warnings") is None else tuple(record["warnings"]),
                      "replayed": True})
