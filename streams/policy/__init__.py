"""The sharing policy: a validated catalog compiled into an immutable `Policy` whose `route`
decides, per change event, what each subscriber receives and why."""

from streams.policy.compiled import Policy, PolicyError, compile_policy
from streams.policy.reasons import Reason
from streams.policy.results import Delivery, RouteResult, Withheld

__all__ = [
    "Delivery",
    "Policy",
    "PolicyError",
    "Reason",
    "RouteResult",
    "Withheld",
    "compile_policy",
]
