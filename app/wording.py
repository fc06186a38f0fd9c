"""Words shared by the command line and the window."""


def counted(n: int, noun: str) -> str:
    """'1 track', '3 tracks': a count with its noun (nouns that take an -s)."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
