"""`sagemaker.image_uris`: the container path fmtune does not take (fmtune.sdk.refused says what to use)."""

from fmtune.sdk.refused import retrieve as _refused

retrieve = _refused("image_uris")

__all__ = ["retrieve"]
