"""The dashboards' JSON, their deployment to an imitation of Grafana, macros and previews."""
