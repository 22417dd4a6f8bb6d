"""Dagster definitions of the platform's five layers."""

import warnings

# Every partitioned asset knowingly uses a single-run backfill policy (a beta parameter in Dagster
# 1.13): the warning would print once per asset on every definitions load, in every command.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` of function `asset` is currently in beta")
