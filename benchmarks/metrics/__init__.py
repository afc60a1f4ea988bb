"""One module per metric; each exposes ``NAME`` and ``run(ctx) -> list[Result]``."""
