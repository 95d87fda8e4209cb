"""Errors that the CLI turns into a one-line cause and a non-zero exit code."""


class GensuiteError(Exception):
    """Base class: the message is the whole, one-line cause shown to the user."""


class SuiteFileError(GensuiteError):
    """A suite file is malformed: the message names the file and the key."""


class RegistryError(GensuiteError, KeyError):
    """An unknown or duplicate plug-in / dataset name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingDataError(GensuiteError, FileNotFoundError):
    """A dataset is absent: what is missing, where it was looked for, how to get it."""

    def __init__(self, message: str, *, dataset: str = "") -> None:
        super().__init__(message)
        self.dataset = dataset  # the registered name of what is absent, where known


class DatasetOptionError(GensuiteError, ValueError):
    """A dataset builder's option has a value it does not take (``source = "usps"``): the CLI
    prints the one line, like any other gensuite error."""


class CaseNotRunnable(GensuiteError):
    """One case cannot run here (pretrained weights, or a dataset only it needs, are absent):
    its record says "not run" with the one-line reason "<short>: <detail>", and the other cases
    go on. The report's verdict cell shows the short part ("not run (no pretrained weights)")."""

    def __init__(self, short: str, detail: str) -> None:
        super().__init__(f"{short}: {detail}")
        self.short = short


class DivergedError(GensuiteError):
    """Training produced a non-finite loss; carries the step at which it happened."""

    def __init__(self, step: int, metrics: dict) -> None:
        bad = ", ".join(f"{k}={v}" for k, v in metrics.items())
        super().__init__(f"training diverged at step {step}: non-finite {bad}")
        self.step = step
