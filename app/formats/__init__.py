"""TKA's own files: the sequence file the desktop apps save (tka-domain.md §6.1), with marshmallow."""

from .desktop import dictionary_metadata, dump_sequence
from .loading import InvalidFile, LoadedFile, load_sequence_file, read_png

__all__ = ["InvalidFile", "LoadedFile", "dictionary_metadata", "dump_sequence", "load_sequence_file", "read_png"]
