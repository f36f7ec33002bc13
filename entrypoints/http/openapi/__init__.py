"""The API documents, built from the code that serves the API: OpenAPI (document.py, from the Op
each route carries and one module of tags and wording per context) and AsyncAPI (asyncapi.py)."""

from __future__ import annotations

import os
from pathlib import Path

# schemas/ sits at the repository root; an installed (non-editable) copy points here instead.
SOURCE_SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
SCHEMAS = Path(os.environ.get("EDGE_SCHEMAS_DIR") or SOURCE_SCHEMAS)
