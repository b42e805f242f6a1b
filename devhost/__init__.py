"""devhost: runs the unchanged function_app.py locally, the way Azure Functions would."""
