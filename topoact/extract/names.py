"""Names the extraction accepts (torch-free, so command lines can list them cheaply)."""

IMAGE_SAMPLINGS: tuple[str, ...] = ("random_position", "gap", "max_norm", "all_positions")
TEXT_SAMPLINGS: tuple[str, ...] = ("random_token", "cls", "mean_tokens", "all_tokens")
SAMPLINGS: tuple[str, ...] = IMAGE_SAMPLINGS + TEXT_SAMPLINGS
NONFINITE_POLICIES: tuple[str, ...] = ("raise", "drop")
