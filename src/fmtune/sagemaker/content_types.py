"""`sagemaker.content_types`: the request content types a model"s endpoint takes (JumpStart's retrieve_*)."""

from fmtune.sdk.serialization import content_type_options, retrievers

retrieve_options, retrieve_default = retrievers(content_type_options)

__all__ = ["retrieve_default", "retrieve_options"]
