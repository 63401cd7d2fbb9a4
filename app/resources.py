"""Files that ship inside the package (package data in pyproject.toml): the API's specs, the static
assets, the fonts.

They are found through the package (``importlib.resources``), so they are wherever the package is,
whatever the working directory and however tka was installed: from a wheel into site-packages, or
an editable checkout. Never by walking up from a source file to a checkout's root, which exists in
a checkout only. The checkout's top-level ``openapi.yaml`` and ``asyncapi.yaml`` are symlinks to
the copies here (one copy of each), for the tools that read them by those paths.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def path(*parts: str) -> Path:
    """``app/<parts>`` as a file-system path, for the libraries that take one (Connexion, Flask's
    ``send_from_directory``, fontTools). pip installs a wheel as files, so this is one; a zipped
    package (a zipapp, say) would not be, and is refused here at import rather than on a request."""
    found = files("app").joinpath(*parts)
    if not isinstance(found, Path):
        raise RuntimeError(f"tka must be installed as files, not zipped: cannot serve {found}")
    return found


OPENAPI = path("spec", "openapi.yaml")  # the HTTP API: the server routes and validates by it
ASYNCAPI = path("spec", "asyncapi.yaml")  # the WebSocket event protocol (/ws)
STATIC = path("api", "static")  # /api/static (ReDoc) and /viewer
FONTS = path("pictures", "fonts")  # the PNG's text outlines (app/pictures/glyphs.py)
