"""Offline checks of the deployment files (docker compose, Istio): no Docker, no Kubernetes."""
