"""The "remote" sources of docs/sources.md, served on http://127.0.0.1:8765 (stdlib only).

    python3 docs/examples/serve.py          # until Ctrl-C

GET /api/associations?page=N&per_page=M  a paginated JSON API over files/associations.json
POST /graphql                            a Relay connection of files/groups.json, two per page
GET /<file>                              files/<file>, with Last-Modified (a 304 when unchanged)
"""

import json
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FILES = Path(__file__).resolve().parent / "files"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8765


class Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(FILES), **kwargs)

    def log_message(self, format, *args):
        pass  # quiet: the docs show guildgraph's output

    def _json(self, value, status=200):
        body = json.dumps(value, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path != "/api/associations":
            return super().do_GET()
        query = parse_qs(parts.query)
        page, size = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["2"])[0])
        records = json.loads((FILES / "associations.json").read_text())["data"]
        start = (page - 1) * size
        return self._json({"data": records[start : start + size], "meta": {"total": len(records)}})

    def do_POST(self):
        if urlsplit(self.path).path != "/graphql":
            return self._json({"errors": [{"message": "not found"}]}, 404)
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        after = (request.get("variables") or {}).get("after")
        groups = json.loads((FILES / "groups.json").read_text())
        start = int(after) if after else 0
        nodes = groups[start : start + 2]
        more = start + 2 < len(groups)
        page = {"pageInfo": {"hasNextPage": more, "endCursor": str(start + 2) if more else None},
                "edges": [{"node": node} for node in nodes]}
        return self._json({"data": {"groupSearch": page}})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    print(f"serving docs/examples/files on http://127.0.0.1:{PORT}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
