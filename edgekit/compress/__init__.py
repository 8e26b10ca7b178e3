"""Compression methods: a config per method and one verb, `compress`."""
from .base import CompressionContext, compress, compress_chain, describe, register, registered_methods
from .quantize import Int8DynamicConfig, Int8StaticConfig
from .prune_sparse import GradualPruneConfig, MagnitudePruneConfig, NMSparsityConfig
from .prune_structured import StructuredPruneConfig

__all__ = ["CompressionContext", "compress", "compress_chain", "describe", "register", "registered_methods",
           "Int8StaticConfig", "Int8DynamicConfig",
           "StructuredPruneConfig", "MagnitudePruneConfig", "NMSparsityConfig", "GradualPruneConfig"]
