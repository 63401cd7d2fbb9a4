"""Domain rule violations.

Every error names the offending field (a dotted/indexed path such as ``beats[2].start_position``)
and a short machine rule code, so the API edge can turn it into a problem+json ``errors`` entry
without parsing prose.
"""

from __future__ import annotations

from typing import Any, Self


class DomainError(Exception):
    """A value breaks a Kinetic Alphabet rule."""

    code = "domain_rule_violation"

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule
        self.message = message

    def under(self, prefix: str) -> Self:
        """The same error with its field re-rooted below ``prefix``.

        Lets a nested validator report ``turns`` while the caller reports
        ``beat.blue_motion.turns``. A message that starts with the old field path is
        rewritten to start with the new one, so the prose keeps naming the right field.
        """
        field = f"{prefix}.{self.field}" if self.field else prefix
        message = self.message
        if self.field and message.startswith(self.field):
            message = field + message[len(self.field):]
        return type(self)(field, self.rule, message)

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field, "rule": self.rule, "message": self.message}

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(field={self.field!r}, rule={self.rule!r}, message={self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickles only ``args``; keep all three so errors survive process boundaries.
        return (type(self), (self.field, self.rule, self.message))


class InvalidMotion(DomainError):
    """A single hand's motion is not consistent with the motion rules (§3, §4)."""

    code = "invalid_motion"


class Discontinuity(DomainError):
    """A beat does not start where the previous one ended (§6.4)."""

    code = "discontinuity"


class UnknownLetter(DomainError):
    """A letter that is not one of the 47 of §5."""

    code = "unknown_letter"


class NoLetterFits(DomainError):
    """No letter describes this pair of motions, or the letter cannot start here."""

    code = "no_letter_fits"


class InvalidPosition(DomainError):
    """An unknown position name, or a location pair that is not a position (§2)."""

    code = "invalid_position"


class InvalidValue(DomainError):
    """A value outside its allowed set or range (names, lengths, enum strings...)."""

    code = "invalid_value"
