"""Operator tools: small command-line programs run against a deployed control plane (or the
local one) with the same SDKs and credential chain as the app."""
