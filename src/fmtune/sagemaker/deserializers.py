"""`sagemaker.deserializers`, and JumpStart's per-model `retrieve_options` / `retrieve_default`."""

from fmtune.sdk.serialization import (
    BytesDeserializer,
    JSONDeserializer,
    StringDeserializer,
    deserializer_options,
    retrievers,
)

retrieve_options, retrieve_default = retrievers(deserializer_options)

__all__ = ["BytesDeserializer", "JSONDeserializer", "StringDeserializer", "retrieve_default", "retrieve_options"]
