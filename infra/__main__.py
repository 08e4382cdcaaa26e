"""Pulumi entry point (`main: infra/` in Pulumi.yaml). The program lives in the trainyard_infra package."""

from trainyard_infra.stack import main

main()
