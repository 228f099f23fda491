"""``lenet-numba serve``: a page to draw digits for a network, watch its maps, and train it live.

Needs the optional ``web`` extra (Starlette + uvicorn); the rest of the package never
imports them. ``launch.build_app`` assembles the app, ``launch.serve`` runs it.
"""
