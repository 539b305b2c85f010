"""Grafana dashboards as code: one module per dashboard, generated JSON committed under ``dashboards/generated/``.

Every ClickHouse panel's SQL is a view of :mod:`pipeline.storage.sql.catalog` rendered with the Grafana
plugin's macros (:class:`pipeline.storage.sql.binding.MacroBinding`).
"""
