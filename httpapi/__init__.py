"""HTTP presentation of the runbook API: tenant keys, request bodies, paging, problem+json.

Route handlers in `triggers/` stay the story of the request; what every handler shares about
HTTP (and only that) is here."""
