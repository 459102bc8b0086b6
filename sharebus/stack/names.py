"""Names shared by the local stack and docker-compose.yml: Connect's internal topics and the secrets mount."""

from __future__ import annotations

CONNECT_CONFIG_TOPIC = "sharebus-connect-configs"
CONNECT_OFFSET_TOPIC = "sharebus-connect-offsets"
CONNECT_STATUS_TOPIC = "sharebus-connect-statuses"
CONTAINER_SECRETS_DIR = "/run/sharebus/secrets"
