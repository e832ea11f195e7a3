"""`sagemaker.serializers`, and JumpStart's per-model `retrieve_options` / `retrieve_default`."""

from fmtune.sdk.serialization import CSVSerializer, IdentitySerializer, JSONSerializer, retrievers, serializer_options

retrieve_options, retrieve_default = retrievers(serializer_options)

__all__ = ["CSVSerializer", "IdentitySerializer", "JSONSerializer", "retrieve_default", "retrieve_options"]
