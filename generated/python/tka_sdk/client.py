"""Hand-written (sdk/overlay/python): one object holding every generated API, and helpers for the
problem body and ETags."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from tka_sdk.api import AlphabetApi, BeatsApi, CommandsApi, HealthApi, PicturesApi, SequencesApi, StatusApi
from tka_sdk.api_client import ApiClient
from tka_sdk.configuration import Configuration
from tka_sdk.exceptions import ApiException
from tka_sdk.models.problem import Problem
from tka_sdk.rest import RetryPolicy

__all__ = ["TKAClient", "problem_of", "etag_of", "RetryPolicy"]


class TKAClient:
    """``TKAClient("http://127.0.0.1:8000")``: ``.sequences``, ``.beats``, ``.commands``,
    ``.pictures``, ..."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, token: Optional[str] = None,
                 retry_policy: Optional[RetryPolicy] = None) -> None:
        configuration = Configuration(host=base_url.rstrip("/"), access_token=token)
        if retry_policy is not None:
            configuration.retry_policy = retry_policy  # type: ignore[attr-defined]
        self.api_client = ApiClient(configuration)
        self.status = StatusApi(self.api_client)
        self.health = HealthApi(self.api_client)
        self.sequences = SequencesApi(self.api_client)
        self.beats = BeatsApi(self.api_client)
        self.alphabet = AlphabetApi(self.api_client)
        self.commands = CommandsApi(self.api_client)
        self.pictures = PicturesApi(self.api_client)

    def close(self) -> None:
        self.api_client.rest_client.pool_manager.clear()

    def __enter__(self) -> "TKAClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def problem_of(error: ApiException) -> Optional[Problem]:
    """The RFC 9457 problem body of an error answer (``error_code``, ``detail``, ``errors``...).
    The generated code fills ``error.data`` for the statuses the spec lists; this also parses the
    body of any other status."""
    if isinstance(error.data, Problem):
        return error.data
    if error.body:
        try:
            return Problem.from_json(error.body)
        except Exception:
            return None
    return None


def etag_of(headers: Optional[Mapping[str, str]]) -> Optional[str]:
    """The ``ETag`` of a ``*_with_http_info`` response, to send back as ``if_match``."""
    if not headers:
        return None
    for name, value in headers.items():
        if name.lower() == "etag":
            return value
    return None
