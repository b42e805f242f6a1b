"""Wire contracts: what crosses a boundary (agent events and commands, HTTP bodies).

They are camelCase JSON on the wire, snake_case in Python, and stable: extend, never break.
"""
