"""HTTP on the standard library: JSON requests, streamed multipart uploads, error mapping."""
import io
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid

from .errors import BY_STATUS, ToposcopeError

CHUNK = 1 << 20


class Part:
    """One multipart part: a text field (`value`) or a file (`path` or `data`, with a file name)."""

    def __init__(self, name, value=None, path=None, data=None, filename=None, content_type="application/octet-stream"):
        self.name = name
        self.value = value
        self.path = path
        self.data = data
        self.filename = filename or (os.path.basename(path) if path else None)
        self.content_type = content_type

    def _head(self, boundary):
        disp = f'form-data; name="{self.name}"'
        if self.value is None:
            disp += f'; filename="{self.filename or self.name}"'
            return f"--{boundary}\r\nContent-Disposition: {disp}\r\nContent-Type: {self.content_type}\r\n\r\n".encode()
        return f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode()

    def _size(self):
        if self.value is not None:
            return len(self.value.encode())
        if self.path is not None:
            return os.path.getsize(self.path)
        return len(self.data)

    def _chunks(self):
        if self.value is not None:
            yield self.value.encode()
        elif self.path is not None:
            with open(self.path, "rb") as f:
                while True:
                    b = f.read(CHUNK)
                    if not b:
                        break
                    yield b
        else:
            yield bytes(self.data)


class _Body(io.RawIOBase):
    """A multipart body read lazily, so large model files are never held in memory whole."""

    def __init__(self, parts, boundary):
        self._gen = self._all(parts, boundary)
        self._buf = b""

    @staticmethod
    def _all(parts, boundary):
        for p in parts:
            yield p._head(boundary)
            yield from p._chunks()
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    def readable(self):
        return True

    def read(self, n=-1):
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._gen)
            except StopIteration:
                break
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


def multipart(parts):
    """Returns (body file object, content type, content length) for a list of `Part`s."""
    boundary = "toposcope-" + uuid.uuid4().hex
    length = sum(len(p._head(boundary)) + p._size() + 2 for p in parts) + len(f"--{boundary}--\r\n")
    return _Body(parts, boundary), f"multipart/form-data; boundary={boundary}", length


def raise_for(status, raw):
    """Raises the exception class for an error status, with the service's message and field."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    cls = BY_STATUS.get(status, ToposcopeError)
    message = doc.get("message") or raw.decode("utf-8", "replace")[:500] or f"HTTP {status}"
    raise cls(status, doc.get("code", f"HTTP_{status}"), message, doc.get("field"))


class Http:
    def __init__(self, url, api_key=None, timeout=600):
        self.base = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def url(self, path, query=None):
        q = {k: v for k, v in (query or {}).items() if v is not None}
        return self.base + path + ("?" + urllib.parse.urlencode(q) if q else "")

    def request(self, method, path, body=None, query=None, headers=None, length=None):
        """Sends a request; returns (status, headers, bytes). Error statuses raise ToposcopeError."""
        h = dict(headers or {})
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        if length is not None:
            h["Content-Length"] = str(length)
        req = urllib.request.Request(self.url(path, query), data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            raise_for(e.code, e.read())
        except urllib.error.URLError as e:
            raise ConnectionError(f"cannot reach toposcope at {self.base}: {e.reason}") from None

    def json(self, method, path, payload=None, query=None):
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        status, _, raw = self.request(method, path, body=body, query=query, headers=headers)
        return json.loads(raw) if raw else None

    def upload(self, path, parts):
        body, ctype, length = multipart(parts)
        _, _, raw = self.request("POST", path, body=body, headers={"Content-Type": ctype}, length=length)
        return json.loads(raw)

    def bytes(self, path, query=None):
        return self.request("GET", path, query=query)[2]
