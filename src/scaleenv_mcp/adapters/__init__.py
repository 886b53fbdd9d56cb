"""The environment in the shapes training frameworks consume: OpenEnv, NeMo Gym, verifiers, TRL.

Each adapter is a thin module over the public API: it opens an episode on a task, offers the
domain's tools, forwards calls and grades with the same verifier ``scaleenv eval`` uses, so a
task pays the same reward whichever framework runs it. The framework itself is imported only
by the adapter that needs it.
"""
