"""`multipart/form-data` bodies (OpenAI's image edits and audio uploads) → fields and files.

Pure and strict enough for SDK uploads: every part needs a `Content-Disposition: form-data`
with a name; a part with a filename is a file. A malformed body is the client's 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from addon.errors import ClientError

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)
_PARAM = re.compile(r';\s*([\w*-]+)="((?:[^"\\]|\\.)*)"|;\s*([\w*-]+)=([^;\s]+)')


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Form:
    fields: dict[str, str]
    files: dict[str, list[Upload]]

    def file(self, *names: str) -> Upload | None:
        for name in names:
            if self.files.get(name):
                return self.files[name][0]
        return None


def parse(body: bytes, content_type: str) -> Form:
    m = _BOUNDARY.search(content_type or "")
    if not content_type.lower().startswith("multipart/form-data") or not m:
        raise ClientError("expected a multipart/form-data body (with a boundary)", param=None)
    delimiter = b"--" + m.group(1).encode()
    pieces = body.split(delimiter)
    if len(pieces) < 3 or not pieces[-1].startswith(b"--"):
        raise ClientError("malformed multipart body: the closing boundary is missing")
    form = Form({}, {})
    for piece in pieces[1:-1]:
        piece = piece.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, sep, data = piece.partition(b"\r\n\r\n")
        if not sep:
            raise ClientError("malformed multipart body: a part has no header block")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        params = {(g[0] or g[2]).lower(): (g[1] if g[0] else g[3]) for g in _PARAM.findall(disposition)}
        if not disposition.lower().startswith("form-data") or "name" not in params:
            raise ClientError("malformed multipart body: a part has no form-data name")
        if "filename" in params:
            upload = Upload(params["filename"], headers.get("content-type", "application/octet-stream"), data)
            form.files.setdefault(params["name"], []).append(upload)
        else:
            form.fields[params["name"]] = data.decode("utf-8", "replace")
    return form
