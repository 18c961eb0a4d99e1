"""Neural types: named axes and element kinds that describe a module's ports.

Used to name export inputs/outputs and pick dynamic axes; there is no runtime checking layer.
"""

from enum import Enum
from typing import Optional, Sequence, Tuple


class AxisKind(Enum):
    Batch = 0
    Time = 1
    Dimension = 2
    Channel = 2
    Width = 3
    Height = 4
    Any = 5
    Sequence = 6
    FlowGroup = 7
    Singleton = 8

    @staticmethod
    def from_str(label: str) -> "AxisKind":
        key = label.strip().lower()
        table = {
            "b": AxisKind.Batch, "n": AxisKind.Batch, "batch": AxisKind.Batch,
            "t": AxisKind.Time, "time": AxisKind.Time,
            "d": AxisKind.Dimension, "c": AxisKind.Dimension, "channel": AxisKind.Dimension, "dimension": AxisKind.Dimension,
            "w": AxisKind.Width, "width": AxisKind.Width, "h": AxisKind.Height, "height": AxisKind.Height,
            "s": AxisKind.Singleton, "singleton": AxisKind.Singleton, "seq": AxisKind.Sequence,
            "sequence": AxisKind.Sequence, "flowgroup": AxisKind.FlowGroup, "any": AxisKind.Any,
        }
        if key in table:
            return table[key]
        if key.startswith("t_"):
            return AxisKind.Time
        raise ValueError(f"Can't create AxisKind from {label}")


class AxisType:
    """One axis: its kind, optional size, and whether it holds a list."""

    def __init__(self, kind: AxisKind, size: Optional[int] = None, is_list: bool = False):
        self.kind, self.size, self.is_list = kind, size, is_list

    def __eq__(self, other) -> bool:
        return isinstance(other, AxisType) and (self.kind, self.size, self.is_list) == (other.kind, other.size, other.is_list)

    def __repr__(self) -> str:
        return self.kind.name.lower() if self.size is None else f"{self.kind.name.lower()}:{self.size}"


class ElementType:
    """What the values of a tensor mean (logits, lengths, audio, ...)."""

    def __str__(self) -> str:
        return type(self).__name__

    def __eq__(self, other) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


class NeuralTypeComparisonResult(Enum):
    SAME = 0
    LESS = 1
    GREATER = 2
    DIM_INCOMPATIBLE = 3
    TRANSPOSE_SAME = 4
    CONTAINER_SIZE_MISMATCH = 5
    INCOMPATIBLE = 6
    SAME_TYPE_INCOMPATIBLE_PARAMS = 7
    UNCHECKED = 8


class VoidType(ElementType):
    """Matches anything."""


class NeuralType:
    """Axes plus an element type, e.g. `NeuralType(('B', 'T'), AudioSignal())`."""

    def __init__(self, axes: Optional[Sequence] = None, elements_type: Optional[ElementType] = None, optional: bool = False):
        if elements_type is None:
            elements_type = VoidType()
        if not isinstance(elements_type, ElementType):
            raise ValueError("elements_type of NeuralType must be an instance of a class derived from ElementType")
        self.elements_type = elements_type
        self.optional = optional
        self.axes: Optional[Tuple[AxisType, ...]] = None
        if axes is not None:
            self.axes = tuple(a if isinstance(a, AxisType) else AxisType(AxisKind.from_str(a)) for a in axes)

    def __str__(self) -> str:
        axes = "(" + ", ".join(repr(a) for a in self.axes) + ")" if self.axes is not None else "None"
        return f"axes: {axes}; elements_type: {type(self.elements_type).__name__}"

    __repr__ = __str__

    def compare(self, other: "NeuralType") -> NeuralTypeComparisonResult:
        if isinstance(self.elements_type, VoidType) and self.axes is None:
            return NeuralTypeComparisonResult.SAME
        if self.axes is not None and other.axes is not None and len(self.axes) != len(other.axes):
            return NeuralTypeComparisonResult.INCOMPATIBLE
        if type(self.elements_type) is type(other.elements_type):
            if self.axes == other.axes or self.axes is None or other.axes is None:
                return NeuralTypeComparisonResult.SAME
            if sorted(a.kind.value for a in self.axes) == sorted(a.kind.value for a in other.axes):
                return NeuralTypeComparisonResult.TRANSPOSE_SAME
            return NeuralTypeComparisonResult.DIM_INCOMPATIBLE
        if isinstance(other.elements_type, type(self.elements_type)):
            return NeuralTypeComparisonResult.GREATER
        if isinstance(self.elements_type, type(other.elements_type)):
            return NeuralTypeComparisonResult.LESS
        return NeuralTypeComparisonResult.INCOMPATIBLE

    def dynamic_axes(self):
        """Indices of batch/time/width/height axes: the ones export leaves dynamic."""
        kinds = (AxisKind.Batch, AxisKind.Time, AxisKind.Width, AxisKind.Height)
        return [i for i, a in enumerate(self.axes or ()) if a.kind in kinds]


def _element(name: str, base=ElementType) -> type:
    return type(name, (base,), {"__doc__": f"{name} element type."})


ChannelType = _element("ChannelType")
EmbeddedTextType = _element("EmbeddedTextType", ChannelType)
LogitsType = _element("LogitsType")
ProbsType = _element("ProbsType")
LogprobsType = _element("LogprobsType")
LabelsType = _element("LabelsType")
HypothesisType = _element("HypothesisType", LabelsType)
LengthsType = _element("LengthsType")
LossType = _element("LossType")
EncodedRepresentation = _element("EncodedRepresentation", ChannelType)
AcousticEncodedRepresentation = _element("AcousticEncodedRepresentation", EncodedRepresentation)
SpectrogramType = _element("SpectrogramType", ChannelType)
MelSpectrogramType = _element("MelSpectrogramType", SpectrogramType)
MFCCSpectrogramType = _element("MFCCSpectrogramType", SpectrogramType)
PredictionsType = _element("PredictionsType", LabelsType)
RegressionValuesType = _element("RegressionValuesType", PredictionsType)
CategoricalValuesType = _element("CategoricalValuesType", PredictionsType)
MaskType = _element("MaskType")
Index = _element("Index")
Target = _element("Target")
ClassificationTarget = _element("ClassificationTarget", Target)
ImageValue = _element("ImageValue")
NormalizedImageValue = _element("NormalizedImageValue", ImageValue)
ImageFeatureValue = _element("ImageFeatureValue", ImageValue)
StringType = _element("StringType")
StringLabel = _element("StringLabel", StringType)
BoolType = _element("BoolType")
IntType = _element("IntType")
FloatType = _element("FloatType")
TokenIndex = _element("TokenIndex", IntType)
Length = _element("Length", IntType)
ProbabilityDistributionSamplesType = _element("ProbabilityDistributionSamplesType")
NormalDistributionSamplesType = _element("NormalDistributionSamplesType", ProbabilityDistributionSamplesType)
SequenceToSequenceAlignmentType = _element("SequenceToSequenceAlignmentType")
NormalDistributionMeanType = _element("NormalDistributionMeanType")
NormalDistributionLogVarianceType = _element("NormalDistributionLogVarianceType")
TokenDurationType = _element("TokenDurationType")
TokenLogDurationType = _element("TokenLogDurationType")
LogDeterminantType = _element("LogDeterminantType")
VideoSignal = _element("VideoSignal")


class AudioSignal(ElementType):
    """Audio samples at a sampling rate `freq` (None when unknown)."""

    def __init__(self, freq: Optional[int] = None):
        self.freq = freq

    def __eq__(self, other) -> bool:
        return isinstance(other, AudioSignal) and (self.freq is None or other.freq is None or self.freq == other.freq)

    __hash__ = ElementType.__hash__
