"""TKA's own files: the sequence file the desktop apps save (tka-domain.md §6.1), with marshmallow."""

from .desktop import dictionary_metadata, dump_sequence

__all__ = ["dictionary_metadata", "dump_sequence"]
