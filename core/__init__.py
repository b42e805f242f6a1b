"""Plumbing shared by triggers and activities: settings, SDK clients, auth, problem+json."""
