"""The Function App: it only composes blueprints, one per concern."""

import azure.durable_functions as df

from activities.asr_failover import bp as asr_failover_activities
from activities.asr_replication import bp as asr_activities
from activities.autofailover import bp as autofailover_activities
from activities.commands import bp as command_activities
from activities.failover import bp as failover_activities
from activities.health import bp as health_activities
from activities.jobs import bp as job_activities
from activities.orchestrations import bp as orchestration_activities
from activities.plans import bp as plan_activities
from activities.protection import bp as protection_activities
from activities.recovery_points import bp as recovery_point_activities
from activities.replica import bp as replica_activities
from orchestrators.asr_failback import bp as asr_failback_orchestrators
from orchestrators.asr_failover import bp as asr_failover_orchestrators
from orchestrators.asr_replication import bp as asr_orchestrators
from orchestrators.autofailover import bp as autofailover_orchestrators
from orchestrators.failover import bp as failover_orchestrators
from orchestrators.plans import bp as plan_orchestrators
from orchestrators.protection import bp as protection_orchestrators
from orchestrators.replication import bp as replication_orchestrators
from triggers.agent_events import bp as agent_events
from triggers.alerts import bp as alerts
from triggers.api_autofailover_rules import bp as autofailover_rules_api
from triggers.api_failover import bp as failover_api
from triggers.api_jobs import bp as jobs_api
from triggers.api_jobs_approval import bp as jobs_approval_api
from triggers.api_plans import bp as plans_api
from triggers.api_protection import bp as protection_api
from triggers.api_replicated_items import bp as replicated_items_api
from triggers.api_sites import bp as sites_api
from triggers.console import bp as console
from triggers.console_api import bp as console_api
from triggers.drill_schedule import bp as drill_schedule
from triggers.health import bp as health
from triggers.openapi import bp as openapi
from triggers.watchdog import bp as watchdog

app = df.DFApp()

for blueprint in (
    health,
    openapi,
    protection_api,
    replicated_items_api,
    failover_api,
    sites_api,
    jobs_api,
    jobs_approval_api,
    autofailover_rules_api,
    plans_api,
    drill_schedule,
    console,
    console_api,
    agent_events,
    alerts,
    protection_orchestrators,
    protection_activities,
    orchestration_activities,
    replication_orchestrators,
    replica_activities,
    command_activities,
    recovery_point_activities,
    health_activities,
    job_activities,
    failover_orchestrators,
    failover_activities,
    autofailover_orchestrators,
    autofailover_activities,
    plan_orchestrators,
    plan_activities,
    watchdog,
    asr_orchestrators,
    asr_activities,
    asr_failover_orchestrators,
    asr_failover_activities,
    asr_failback_orchestrators,
):
    app.register_functions(blueprint)
