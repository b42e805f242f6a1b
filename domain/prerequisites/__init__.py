"""Prerequisite checks of protection: versioned profiles (data) and the rule catalogue."""

from domain.prerequisites.profiles import (
    ASR_2014,
    ASR_2026,
    DEFAULT_PROFILE,
    PROFILES,
    Profile,
    UnknownProfile,
    get_profile,
    profile_for_tenant,
)
from domain.prerequisites.rules import (
    CATALOGUE,
    RULES,
    Rule,
    RuleFailure,
    evaluate,
    health_for,
    target_name,
    target_size,
)

__all__ = [
    "ASR_2014",
    "ASR_2026",
    "CATALOGUE",
    "DEFAULT_PROFILE",
    "PROFILES",
    "RULES",
    "Profile",
    "Rule",
    "RuleFailure",
    "UnknownProfile",
    "evaluate",
    "get_profile",
    "health_for",
    "profile_for_tenant",
    "target_name",
    "target_size",
]
