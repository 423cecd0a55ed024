#!/usr/bin/env python3
"""Checks that a notebook in a live Jupyter server can import the project's packages with the "Go (mtlora)"
kernel: opens a session on notebooks/01-tutorial.ipynb through the server's REST API, executes the go.work
setup cell and a cell importing mtlcore over the kernel's websocket, and fails on any error. Used by
kernel/kernel_test.go; needs Debian's python3-tornado (comes with jupyter-notebook).

    python3 scripts/live_notebook_check.py http://localhost:PORT TOKEN
"""
import json, sys, uuid, urllib.request
from tornado import gen, ioloop, websocket, httpclient

BASE, TOKEN = sys.argv[1], sys.argv[2]
SETUP = '%noautoget\n!*rm -f go.work && go work init && go work use . "${GONB_DIR}/.." && cat go.work\n%goworkfix'
CELL = 'import (\n\t"fmt"\n\t"runtime"\n\t"github.com/mtlora/mtlora/mtlcore"\n)\n%%\nfmt.Println("live:", runtime.Version(), mtlcore.DefaultConfig(mtlcore.MTLLoRA, 2).Method)'

def api(method, path, body=None):
    req = urllib.request.Request(f"{BASE}{path}?token={TOKEN}", method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    body = urllib.request.urlopen(req).read()
    return json.loads(body) if body else None

@gen.coroutine
def main():
    sess = api("POST", "/api/sessions", {"path": "01-tutorial.ipynb", "type": "notebook", "name": "", "kernel": {"name": "mtlora"}})
    kid = sess["kernel"]["id"]
    ws = yield websocket.websocket_connect(f"{BASE.replace('http', 'ws')}/api/kernels/{kid}/channels?token={TOKEN}")
    for code in (SETUP, CELL):
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "", "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}}))
        # The reply comes on the shell channel and the printed output on iopub: their order is not fixed, so a
        # cell is done when both its execute_reply and its iopub "idle" status (sent after all output) arrived.
        replied = idle = False
        while not (replied and idle):
            m = json.loads((yield ws.read_message()))
            if m.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            t = m["msg_type"]
            if t == "stream":
                print(m["content"]["text"], end="")
            elif t == "error":
                print("ERROR:", m["content"].get("evalue")); sys.exit(1)
            elif t == "status" and m["content"].get("execution_state") == "idle":
                idle = True
            elif t == "execute_reply":
                if m["content"]["status"] != "ok":
                    print("ERROR reply", m["content"]); sys.exit(1)
                replied = True
    ws.close()
    api("DELETE", f"/api/sessions/{sess['id']}")

ioloop.IOLoop.current().run_sync(main, timeout=120)
