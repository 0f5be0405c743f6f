"""Console output of the CLI that stays whole when piped: tables are not narrowed to 80 columns off a terminal."""
from __future__ import annotations

from rich.console import Console, ConsoleDimensions

__all__ = ["PipeConsole", "PIPE_WIDTH"]

#: Width given to output that is not a terminal (pipes, files): wide enough that no table cell is cut.
PIPE_WIDTH = 10_000


class PipeConsole(Console):
    """A rich Console that, when not writing to a terminal, never narrows tables to 80 columns (ids stay whole)."""

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size, or PIPE_WIDTH columns when the output is not a terminal."""
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        if self.is_terminal or self._width is not None:
            return size  # type: ignore[no-any-return]
        return ConsoleDimensions(PIPE_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]
