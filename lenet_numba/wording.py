"""Counts in messages: "1 epoch", "2 epochs", "0 epochs"."""


def count(n, noun, plural=None):
    """``n`` and ``noun`` agreeing in number: ``count(1, "epoch")`` is "1 epoch";
    ``plural`` for a noun that does not just take an s ("1 pass", "2 passes")."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
