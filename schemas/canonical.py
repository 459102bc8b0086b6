"""The one text form of a schema: what gets registered, compared and hashed."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(schema: Any) -> str:
    """Compact JSON, key order kept, non-ASCII kept as is.

    Must hold: equal schemas (as JSON values with the same key order) give equal text, so the
    registry's "same schema → same id" does not depend on whitespace or escaping. Key order is
    kept (not sorted): Avro field order is significant, and derive emits keys in a fixed order.
    """
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


def canonical_text(text: str) -> str:
    """`canonical_json` of a schema given as text (raises ValueError when it is not JSON)."""
    return canonical_json(json.loads(text))
