"""Catalog validation problems: one `CatalogIssue` per problem, all in one `CatalogError`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sharebus.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class CatalogIssue:
    """One problem: where (file, line, entry, field), what is wrong, and what is allowed."""

    file: str
    entry: str
    field: str
    problem: str
    allowed: str
    line: int | None = None

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        path = " › ".join(p for p in (self.entry, self.field) if p)
        return f"{where}: {path}: {self.problem}; allowed: {self.allowed}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CatalogError(ConfigError):
    """A catalog folder failed validation; `issues` lists every problem found."""

    def __init__(self, directory: str, issues: tuple[CatalogIssue, ...]) -> None:
        self.directory = directory
        self.issues = issues
        count = len(issues)
        super().__init__(
            f"catalog {directory}",
            f"{count} problem{'s' if count != 1 else ''} found",
            expected="a catalog whose files all validate",
            actual=f"{count} invalid entr{'ies' if count != 1 else 'y'}",
            fix="correct each entry listed below, then run `sharebus catalog validate`",
            details="\n".join(issue.render() for issue in issues),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(super().to_dict())
        data["issues"] = [issue.to_dict() for issue in self.issues]
        return data
