"""Compression methods: a config per method and one verb, `compress`."""
from .base import CompressionContext, compress, compress_chain, describe, register, registered_methods
from .quantize import Int8DynamicConfig, Int8StaticConfig
from .prune_sparse import GradualPruneConfig, MagnitudePruneConfig, NMSparsityConfig
from .prune_structured import StructuredPruneConfig
from .distill import DistillConfig
from .gptq import GptqInt4Config
from .int4 import Int4WeightOnlyConfig
from .int8_token import Int8DynamicTokenConfig
from .qat import QatInt8Config

__all__ = ["CompressionContext", "compress", "compress_chain", "describe", "register", "registered_methods",
           "Int8StaticConfig", "Int8DynamicConfig",
           "StructuredPruneConfig", "MagnitudePruneConfig", "NMSparsityConfig", "GradualPruneConfig",
           "DistillConfig", "QatInt8Config", "Int4WeightOnlyConfig", "GptqInt4Config", "Int8DynamicTokenConfig"]
