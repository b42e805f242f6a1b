"""The Function App: it only composes blueprints, one per concern."""

import azure.durable_functions as df

from triggers.health import bp as health_bp

app = df.DFApp()

for blueprint in (health_bp,):
    app.register_functions(blueprint)
