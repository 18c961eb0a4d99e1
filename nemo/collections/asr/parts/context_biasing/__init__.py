"""Context biasing: boosting trees that raise the scores of key phrases during beam search."""

from nemo.collections.asr.parts.context_biasing.boosting_graph_batched import (
    BoostingTreeModelConfig,
    GPUBoostingTreeModel,
)

__all__ = ["BoostingTreeModelConfig", "GPUBoostingTreeModel"]
