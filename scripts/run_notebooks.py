#!/usr/bin/env python3
"""Executes notebooks headless with the "Go (mtlora)" kernel and renders them to HTML; exits non-zero when a
cell fails (a compile error, a panic, an error) — never with --allow-errors. Used by .ci/run and the kernel
package's tests; needs Debian's python3-nbclient and jupyter-nbconvert (or the same from PyPI):

    go run ./cmd/mtlora notebook -install-only -raw-errors
    MTLORA_NOTEBOOK_SIZE=small /usr/bin/python3 scripts/run_notebooks.py OUT_DIR notebooks/*.ipynb
"""
import os
import sys

import nbclient
import nbformat
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    failed = []
    for path in sys.argv[2:]:
        name = os.path.splitext(os.path.basename(path))[0]
        nb = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(nb, timeout=1800, kernel_name="mtlora",
                                         resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
        try:
            client.execute()
            print(f"{path}: ok", flush=True)
        except CellExecutionError as e:
            print(f"{path}: FAILED\n{str(e)[-3000:]}", flush=True)
            failed.append(path)
        except Exception as e:  # noqa: BLE001 — kernel death, timeout
            print(f"{path}: FAILED ({type(e).__name__}: {e})", flush=True)
            failed.append(path)
        nbformat.write(nb, os.path.join(out, name + ".ipynb"))
        body, _ = HTMLExporter().from_notebook_node(nb)
        with open(os.path.join(out, name + ".html"), "w", encoding="utf-8") as f:
            f.write(body)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
