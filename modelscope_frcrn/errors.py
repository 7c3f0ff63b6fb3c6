"""Exceptions raised by modelscope_frcrn.

Every error carries a message that names the problem and, where there is one,
the fix. The CLI turns them into one line and an exit code; library code only
raises them.
"""


class FRCRNError(Exception):
    """Base class of every error this package raises on purpose."""


class AudioInputError(FRCRNError, ValueError):
    """The audio given to the model cannot be used (unreadable, empty, not finite...)."""


class AudioFileNotFoundError(AudioInputError, FileNotFoundError):
    """An input path does not exist or is not a regular file."""


class AudioDecodeError(AudioInputError):
    """The input exists but is not audio that can be decoded (corrupt or another format)."""


class EmptyAudioError(AudioInputError):
    """The input decodes to zero samples."""


class AudioTooShortError(AudioInputError):
    """The input is shorter than one STFT analysis frame (40 ms), too short to enhance."""


class AudioLayoutError(AudioInputError):
    """The input's channel layout is not one we can enhance (e.g. an array that is ``[C, T]``
    where ``[T, C]`` is expected, which would read as thousands of channels)."""


class AudioOutputError(FRCRNError, ValueError):
    """An output cannot be written as asked: its format is unknown, it would replace an
    input, or it exists and overwriting was not allowed."""


class ModelNotAvailableError(FRCRNError, FileNotFoundError):
    """A model id could be resolved neither from the local cache nor from the hub."""


class WeightsNotFoundError(FRCRNError, FileNotFoundError):
    """A model directory has a configuration but no weights to run inference with."""


class CheckpointMismatchError(FRCRNError, RuntimeError):
    """A checkpoint does not fit the model built from the configuration."""


class UsageError(FRCRNError, ValueError):
    """Options that cannot work together or on this machine (e.g. ``--device cuda`` without a
    GPU, ``--precision fp16`` on the CPU)."""


class AudioTypeError(AudioInputError, TypeError):
    """The input is of a type the reader does not accept."""


class DataPreparationError(FRCRNError, ValueError):
    """A training/test data set cannot be prepared from the given folders and settings."""


class EvaluationError(FRCRNError, ValueError):
    """An evaluation cannot run with the folders and options given."""


class FolderNotFoundError(EvaluationError, FileNotFoundError):
    """A folder given to the evaluation does not exist or is not a folder."""


class PairingError(EvaluationError):
    """Noisy, clean and enhanced files cannot be paired (none found, unmatched, ambiguous)."""


class MissingDependencyError(FRCRNError, ImportError):
    """An optional package (an extra such as ``eval``) is not installed."""


class MetricWarning(UserWarning):
    """A metric could not be computed for one file and was recorded as NaN."""
