"""Implementations behind the original PypeLine/Sermos import surface (sermos-compat §1).

The original module paths (`pypeline.flask`, `pypeline.sermos_yaml`, `pypeline.utils.task_utils`, ...) are
thin re-exports of these modules; every old name warns with a DeprecationWarning naming its replacement.
"""
