"""The Function App: it only composes blueprints, one per concern."""

import azure.durable_functions as df

from activities.jobs import bp as job_activities
from activities.protection import bp as protection_activities
from activities.replication import bp as replication_activities
from orchestrators.protection import bp as protection_orchestrators
from orchestrators.replication import bp as replication_orchestrators
from triggers.agent_events import bp as agent_events
from triggers.api_jobs import bp as jobs_api
from triggers.api_protection import bp as protection_api
from triggers.console import bp as console
from triggers.health import bp as health
from triggers.openapi import bp as openapi

app = df.DFApp()

for blueprint in (
    health,
    openapi,
    protection_api,
    jobs_api,
    console,
    agent_events,
    protection_orchestrators,
    protection_activities,
    replication_orchestrators,
    replication_activities,
    job_activities,
):
    app.register_functions(blueprint)
