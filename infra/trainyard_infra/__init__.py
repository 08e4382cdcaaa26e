"""Trainyard's Pulumi program: storage, registry, node images and SSH node pools on Docker hosts.

Nothing here creates resources at import; ``stack.main()`` (called by ``infra/__main__.py``) does.
"""
