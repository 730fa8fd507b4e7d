"""The exception tree. Every failure the service can meet is one of these, so it
can be classified (and shown with a next step) instead of turned into a string.

    OutboundError                      base of everything we raise on purpose
    ├── ConfigError                    a workspace file or setting is wrong (names file, key)
    ├── InputError                     bad input data (names file, row/line, field)
    ├── ProviderError                  an outside system failed; has .error_class
    │   ├── NotFound                   the thing looked up does not exist       -> "not_found"
    │   ├── Transient                  retry later (timeouts, 429, 5xx)         -> "transient"
    │   │   └── OutcomeUnknown         the request left; the provider may have acted (retry only by key)
    │   ├── InvalidInput               the provider rejected what we sent       -> "bad_input"
    │   ├── PermanentFailure           bounced address, invalid profile         -> "permanent"
    │   ├── ProviderConfigError        bad key / auth: pause the channel        -> "configuration"
    │   └── QuotaExceeded              provider-side quota or insufficient funds -> "quota"
    ├── PolicyDenied                   the guard said no                        -> "policy"
    ├── BudgetExceeded                 a spend cap would be crossed             -> "policy"
    ├── StepLimitExceeded              the per-run step cap was hit             -> "policy"
    ├── ReviewError                    a review decision cannot be applied (stale, already decided, not allowed)
    │   └── EditRejected               an edited draft breaks content rules: back to the reviewer
    ├── UnknownReference               an id on the command line names nothing (run, prospect, review) -> "not_found"
    └── ChainBroken                    the decision log failed verification

Each class carries ``error_class`` (one of ERROR_CLASSES) and ``next_step``: a short
sentence telling an operator what to do about it.
"""

from __future__ import annotations

ERROR_CLASSES = (
    "not_found",
    "transient",
    "bad_input",
    "permanent",
    "configuration",
    "quota",
    "policy",
    "internal",
)


class OutboundError(Exception):
    error_class: str = "internal"
    next_step: str = "Look at the log record for this run and report it if it repeats."

    def __init__(self, message: str, *, next_step: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if next_step is not None:
            self.next_step = next_step

    def to_dict(self) -> dict[str, str]:
        return {
            "type": type(self).__name__,
            "error_class": self.error_class,
            "message": self.message,
            "next_step": self.next_step,
        }


class ConfigError(OutboundError):
    error_class = "bad_input"
    next_step = "Fix the named key in the named file and run again."

    def __init__(
        self, message: str, *, file: str | None = None, key: str | None = None, next_step: str | None = None
    ) -> None:
        where = ":".join(p for p in (file, key) if p)
        super().__init__(f"{where}: {message}" if where else message, next_step=next_step)
        self.file = file
        self.key = key


class InputError(OutboundError):
    error_class = "bad_input"
    next_step = "Fix the named row or field in the input file and import it again."

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        next_step: str | None = None,
    ) -> None:
        parts = [p for p in (file, f"line {line}" if line else None, field) if p]
        super().__init__(f"{', '.join(parts)}: {message}" if parts else message, next_step=next_step)
        self.file = file
        self.line = line
        self.field = field


class ProviderError(OutboundError):
    error_class = "internal"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        next_step: str | None = None,
    ) -> None:
        super().__init__(f"{provider}: {message}" if provider else message, next_step=next_step)
        self.provider = provider
        self.status = status
        self.retry_after = retry_after


class NotFound(ProviderError):
    error_class = "not_found"
    next_step = "Nothing to retry: try another source or channel, or fix the record."


class Transient(ProviderError):
    error_class = "transient"
    next_step = "Retried automatically with backoff; if it persists, check the provider's status."


class OutcomeUnknown(Transient):
    """The request reached the provider but no answer came back (timeout, reset or 5xx
    after sending, SMTP drop after DATA): the provider may have acted. Repeating it is
    safe only on a provider that deduplicates by our key."""

    next_step = (
        "The provider may have acted: the outbox row is 'unknown' until `run.py outbox reconcile` "
        "confirms it or an operator resolves it; it is never re-sent blindly."
    )


class InvalidInput(ProviderError):
    error_class = "bad_input"
    next_step = "The provider rejected the request data: fix the prospect record or template."


class PermanentFailure(ProviderError):
    error_class = "permanent"
    next_step = "The address or profile is unusable: the prospect was updated; use another channel."


class ProviderConfigError(ProviderError):
    error_class = "configuration"
    next_step = "Check the provider's API key and settings; the channel is paused until fixed."


class QuotaExceeded(ProviderError):
    error_class = "quota"
    next_step = "Provider quota or funds exhausted: top up or wait for the quota to reset."


class PolicyDenied(OutboundError):
    error_class = "policy"
    next_step = "See the verdicts in the decision log; change the policy only if the rule is wrong."


class BudgetExceeded(PolicyDenied):
    next_step = "Raise the budget in workspace.toml [policy.budget] or wait for the next period."


class StepLimitExceeded(PolicyDenied):
    next_step = "The agent looped too long for one prospect; replay the prospect to see why."


class ReviewError(OutboundError):
    error_class = "bad_input"
    next_step = "Run `run.py queue list` to see what is still pending."


class EditRejected(ReviewError):
    """An edited draft would break content rules; the review stays pending with the problems."""

    next_step = (
        "Fix the listed problems in the edited text and submit the edit again; the review is still pending."
    )

    def __init__(self, review_id: str, problems: list[str]) -> None:
        super().__init__(
            f"the edit of review {review_id} was not applied; it breaks content rules: " + "; ".join(problems)
        )
        self.review_id = review_id
        self.problems = list(problems)


class UnknownReference(OutboundError):
    """An id given on the command line or in a request does not exist in the workspace."""

    error_class = "not_found"
    next_step = "Check the id: `run.py prospects list` shows prospects, `run.py daily` prints run ids."


class ChainBroken(OutboundError):
    error_class = "internal"
    next_step = "The decision log was altered; restore it from backup and investigate."
