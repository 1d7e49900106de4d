"""The server's access log without secrets: the `token` query parameter (EventSource clients) is masked."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus


class RedactTokens(logging.Filter):
    """Keep `?token=` secrets (EventSource clients) out of the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_token(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_token(target: str) -> str:
    """A request target (path and query, as sent) with the value of the `token` parameter replaced by ***.

    The parameter name is compared as the server reads it, percent-decoded: `?%74oken=SECRET` is a valid
    token too, and a pattern on the raw text would log it. Any `?` or `&` separates pieces (uvicorn logs
    the path percent-encoded, so the first `?` starts the query): a stray `?` inside the query can only
    make more of the line hidden, never less.
    """
    pieces = []
    for piece in _SEPARATORS.split(target):
        name, eq, _ = piece.partition("=")
        pieces.append(f"{name}=***" if eq and unquote_plus(name) == "token" else piece)
    return "".join(pieces)


_SEPARATORS = re.compile(r"([?&])")  # kept in the split, so the line is rebuilt as it was
