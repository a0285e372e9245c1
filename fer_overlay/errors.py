"""Exceptions with messages meant for the teacher: what went wrong and what to do."""


class FerOverlayError(Exception):
    """Base class; the CLI prints these without a traceback."""


class ModelError(FerOverlayError):
    """A model file is missing, corrupt, or not what its wrapper expects."""


class InputError(FerOverlayError):
    """An image, video or crop the pipeline cannot use."""


class SourceError(FerOverlayError):
    """A frame source (monitor, window, file) cannot be opened or has gone away."""


class SinkError(FerOverlayError):
    """A frame sink (virtual camera, preview, file) cannot be opened or written."""


class ConfigError(FerOverlayError):
    """A setting is unknown or invalid; the message names the key."""


class StoreError(FerOverlayError):
    """The session database cannot be opened, written or queried."""


class UsageError(FerOverlayError):
    """Command-line arguments that do not fit (argparse's complaint, as one line)."""
